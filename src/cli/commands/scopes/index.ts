import type { Command } from 'commander';
import { act, leaf, withWide } from '../common.js';

export function scopesCommand(program: Command): void {
  withWide(leaf(program, 'scopes', 'list the scopes an API token can be given', { offline: true })).action(act(() => import('./scopes.js'), () => ({})));
}
