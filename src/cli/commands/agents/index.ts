import type { Command } from 'commander';
import { act, idArgument, leaf, str, withOrg, withQuiet, withWide } from '../common.js';

export function agentsCommand(program: Command): void {
  const agents = program.command('agents').description('register and manage agents (services that receive events and reply)');

  withQuiet(withOrg(leaf(agents, 'register', 'register an agent; prints its agent token once')))
    .option('--id <id>', 'the agent id: a slug, fixed for good')
    .option('--name <name>', 'display name')
    .option('--timeout <duration>', 'how long the agent may take to reply before the event fails (1s to 24h)', '2m')
    .action(act(() => import('./register.js'), (_, f) => ({ org: f.org as string, id: str(f.id), name: str(f.name), timeout: f.timeout as string, quiet: f.quiet === true })));

  withWide(withOrg(leaf(agents, 'list', 'list agents with their status and connections'))).action(act(() => import('./list.js'), (_, f) => ({ org: f.org as string })));

  withOrg(leaf(agents, 'show', 'show an agent and its connection status'))
    .addArgument(idArgument('agents', '<id>', 'agent id'))
    .action(act(() => import('./show.js'), ([id], f) => ({ org: f.org as string, id: id as string })));

  withOrg(leaf(agents, 'update', "change an agent's name, reply timeout or schema"))
    .addArgument(idArgument('agents', '<id>', 'agent id'))
    .option('--name <name>', 'display name')
    .option('--timeout <duration>', 'how long the agent may take to reply before the event fails (1s to 24h)')
    .option('--schema <app/name>', "the schema every payload sent to it must match (an app's schema, APP/NAME); none unbinds")
    .action(act(() => import('./update.js'), ([id], f) => ({ org: f.org as string, id: id as string, name: str(f.name), timeout: str(f.timeout), schema: str(f.schema) })));

  withQuiet(withOrg(leaf(agents, 'rotate', 'issue a new agent token; the old one works until the grace period ends')))
    .addArgument(idArgument('agents', '<id>', 'agent id'))
    .option('--grace <duration>', 'how long the old token keeps working (90s, 15m, 1h, 30d; default 1h)')
    .action(act(() => import('./rotate.js'), ([id], f) => ({ org: f.org as string, id: id as string, grace: str(f.grace), quiet: f.quiet === true })));

  withOrg(leaf(agents, 'deactivate', 'cut an agent off: refuse its token and close its connections (4003)'))
    .addArgument(idArgument('agents', '<id>', 'agent id'))
    .option('-y, --yes', 'do not ask for confirmation')
    .action(act(() => import('./deactivate.js'), ([id], f) => ({ org: f.org as string, id: id as string, yes: f.yes === true })));

  withOrg(leaf(agents, 'delete', 'delete a deactivated agent: its tokens, and its place on allowlists; its events are kept unless --purge'))
    .addArgument(idArgument('agents', '<id>', 'agent id'))
    .option('--purge', 'delete the events sent to it too')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(act(() => import('./delete.js'), ([id], f) => ({ org: f.org as string, id: id as string, purge: f.purge === true, yes: f.yes === true })));

  withOrg(leaf(agents, 'activate', 'let a deactivated agent connect again'))
    .addArgument(idArgument('agents', '<id>', 'agent id'))
    .action(act(() => import('./activate.js'), ([id], f) => ({ org: f.org as string, id: id as string })));
}
