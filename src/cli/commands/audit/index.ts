import type { Command } from 'commander';
import { act, leaf, withWide } from '../common.js';

export function auditCommand(program: Command): void {
  withWide(leaf(program, 'audit', 'who changed which app, token or agent, and when'))
    .option('--since <duration>', 'only changes this recent (90s, 15m, 1h, 30d)')
    .option('--limit <n>', 'at most this many entries (1-1000)', '50')
    .action(act(() => import('./audit.js'), (_, f) => ({ since: f.since as string | undefined, limit: f.limit as string })));
}
