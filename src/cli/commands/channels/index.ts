import type { Command } from 'commander';
import { Argument } from 'commander';
import { act, leaf, str, withOrg, withWide } from '../common.js';

export function channelsCommand(program: Command): void {
  const channels = program.command('channels').description("an app's occupied Pusher channels");

  withWide(withOrg(leaf(channels, 'list', 'occupied channels with their subscription and user counts')))
    .requiredOption('--app <id>', 'the app whose channels to list')
    .option('--prefix <prefix>', 'only channels whose names start with this (presence-, private-, ...)')
    .action(act(() => import('./list.js'), (_, f) => ({ org: f.org as string, app: str(f.app) as string, prefix: str(f.prefix) })));

  rulesCommand(channels);
}

/** The flags a rule's settings take, on `add` and `update`; `default` (`none`) resets one to inherit. */
function withSettings(cmd: Command): Command {
  return cmd
    .option('--schema <name>', 'the schema the events of these channels must match (none: no schema)')
    .option('--schema-event <name>', 'the one event name the schema applies to (none: every event)')
    .option('--client-events <on|off>', "let subscribers send client- events on these channels (default: the app's setting)")
    .option('--history <on|off>', 'record these channels\' events in history (off: delivered, not recorded; default: on)')
    .option('--retention <duration>', "how long these channels' events stay in history, 30d (default: relayd's --history-retention)")
    .option('--max-members <n>', "distinct users in one presence channel (default: the app's limit)");
}

const settings = (f: Record<string, unknown>) => ({
  schema: str(f.schema),
  schemaEvent: str(f.schemaEvent),
  clientEvents: str(f.clientEvents),
  history: str(f.history),
  retention: str(f.retention),
  maxMembers: str(f.maxMembers),
});

function rulesCommand(channels: Command): void {
  const rules = channels.command('rules').description('settings for the channels a pattern matches (an exact name, or a prefix ending in *)');

  withSettings(withOrg(leaf(rules, 'add', 'add a rule for the channels a pattern matches')))
    .option('--app <id>', 'the app')
    .option('--pattern <pattern>', "an exact channel name, or a prefix ending in * ('orders-*'; '*': every channel)")
    .action(act(() => import('./rules/add.js'), (_, f) => ({ org: f.org as string, app: str(f.app), pattern: str(f.pattern), ...settings(f) })));

  withWide(withOrg(leaf(rules, 'list', "an app's channel rules")))
    .option('--app <id>', 'the app')
    .action(act(() => import('./rules/list.js'), (_, f) => ({ org: f.org as string, app: str(f.app) })));

  leaf(rules, 'show', 'one channel rule')
    .addArgument(new Argument('<rule-id>', 'the rule id (chr_...)'))
    .action(act(() => import('./rules/show.js'), ([id]) => ({ id: id as string })));

  withSettings(leaf(rules, 'update', "change a rule's pattern or settings (default or none: inherit again)"))
    .addArgument(new Argument('<rule-id>', 'the rule id (chr_...)'))
    .option('--pattern <pattern>', 'a new pattern')
    .action(act(() => import('./rules/update.js'), ([id], f) => ({ id: id as string, pattern: str(f.pattern), ...settings(f) })));

  leaf(rules, 'remove', "remove a rule; its channels go back to the app's settings")
    .addArgument(new Argument('<rule-id>', 'the rule id (chr_...)'))
    .option('-y, --yes', 'do not ask for confirmation')
    .action(act(() => import('./rules/remove.js'), ([id], f) => ({ id: id as string, yes: f.yes === true })));

  withWide(withOrg(leaf(rules, 'test', 'which rule applies to a channel, why, and the settings the channel gets')))
    .addArgument(new Argument('<channel>', 'the channel name'))
    .option('--app <id>', 'the app')
    .action(act(() => import('./rules/test.js'), ([channel], f) => ({ org: f.org as string, app: str(f.app), channel: channel as string })));
}
