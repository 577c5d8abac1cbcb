import type { Command } from 'commander';
import { act, idArgument, leaf, str, withOrg, withWide } from '../common.js';

export function connectionsCommand(program: Command): void {
  const connections = program.command('connections').description('open WebSockets of apps, agents and channel subscribers');

  withWide(withOrg(leaf(connections, 'list', 'open connections: apps, agents and channel subscribers')))
    .option('--app <id>', "only this app's connections")
    .action(act(() => import('./list.js'), (_, f) => ({ org: f.org as string, app: str(f.app) })));

  leaf(connections, 'close', 'close a connection (code 4009); the client may reconnect')
    .addArgument(idArgument('connections', '<connection-id>', 'the connection id (conn_...)'))
    .option('-y, --yes', 'do not ask for confirmation')
    .action(act(() => import('./close.js'), ([id], f) => ({ id: id as string, yes: f.yes === true })));
}
