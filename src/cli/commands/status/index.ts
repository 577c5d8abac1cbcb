import type { Command } from 'commander';
import { act, leaf, withWide } from '../common.js';

export function statusCommand(program: Command): void {
  withWide(leaf(program, 'status', "daemon health and every app's connection status"))
    .option('-w, --watch', 'keep watching: redraw on a terminal, one JSON object a line otherwise')
    .option('--interval <duration>', 'how often --watch refreshes', '2s')
    .option('--no-reconnect', 'with --watch: when relayd goes away, exit (6) instead of waiting for it to come back')
    .action(act(() => import('./status.js'), (_, f) => ({ watch: f.watch === true, interval: f.interval as string, reconnect: f.reconnect !== false })));
}
