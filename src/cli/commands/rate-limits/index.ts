import type { Command } from 'commander';
import { act, leaf, withWide } from '../common.js';

export function rateLimitsCommand(program: Command): void {
  withWide(leaf(program, 'rate-limits', 'list the built-in rate-limit profiles', { offline: true })).action(act(() => import('./rate-limits.js'), () => ({})));
}
