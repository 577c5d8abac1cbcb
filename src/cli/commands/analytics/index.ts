import type { Command } from 'commander';
import { act, collect, leaf, str, withOrg, withWide } from '../common.js';

export function analyticsCommand(program: Command): void {
  withWide(withOrg(leaf(program, 'analytics', "usage over time: an app's (or the organization's) messages, connections, agent events, webhooks and limits")))
    .option('--app <id>', 'one app (default: every app of the organization, added up)')
    .option('--since <time>', 'from: a duration back from now (90s, 15m, 24h, 30d), an ISO 8601 time or epoch milliseconds', '24h')
    .option('--until <time>', 'to, in the same forms as --since (default: now)')
    .option('--by <bucket>', 'the bucket of the series: minute, hour or day (default: chosen from the range)')
    .option('--metric <name>', 'a metric to show and chart (repeatable or comma-separated; none: every metric in the table, the main ones charted)', collect, [])
    .action(
      act(() => import('./analytics.js'), (_, f) => ({
        org: f.org as string,
        app: str(f.app),
        since: f.since as string,
        until: str(f.until),
        by: str(f.by),
        metrics: f.metric as string[],
      })),
    );
}
