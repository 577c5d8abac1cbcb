import type { Command } from 'commander';
import { act, leaf, str, withOrg, withWide } from '../common.js';

export function channelsCommand(program: Command): void {
  const channels = program.command('channels').description("an app's occupied Pusher channels");

  withWide(withOrg(leaf(channels, 'list', 'occupied channels with their subscription and user counts')))
    .requiredOption('--app <id>', 'the app whose channels to list')
    .option('--prefix <prefix>', 'only channels whose names start with this (presence-, private-, ...)')
    .action(act(() => import('./list.js'), (_, f) => ({ org: f.org as string, app: str(f.app) as string, prefix: str(f.prefix) })));
}
