import type { Command } from 'commander';
import { act, idArgument, leaf, str, withOrg, withWide } from '../common.js';

const STATUSES = 'pending, delivered, failed or rejected';

export function eventsCommand(program: Command): void {
  const events = program.command('events').description('event history: what apps sent, to which agent, and what came of it');

  withWide(withOrg(leaf(events, 'list', 'events, newest first')))
    .option('--app <id>', 'only events of this app')
    .option('--agent <id>', 'only events for this agent')
    .option('--thread <thread>', 'only events of this thread')
    .option('--status <status>', `only events with this status (${STATUSES})`)
    .option('--since <duration>', 'only events this recent (90s, 15m, 1h, 30d)')
    .option('--limit <n>', 'at most this many events (1-1000)', '50')
    .option('--before <event-id>', 'only events older than this one: the next page after a full one (its last id)')
    .action(
      act(() => import('./list.js'), (_, f) => ({
        before: str(f.before),
        org: f.org as string,
        app: str(f.app),
        agent: str(f.agent),
        thread: str(f.thread),
        status: str(f.status),
        since: str(f.since),
        limit: f.limit as string,
      })),
    );

  leaf(events, 'show', 'one event with its payload, reply and timeline')
    .addArgument(idArgument('events', '<event-id>', 'the event id (evt_...)'))
    .action(act(() => import('./show.js'), ([id]) => ({ id: id as string })));

  withOrg(leaf(events, 'tail', 'follow events live: a row per change, channel publishes included (one JSON object a line with --json)'))
    .option('--app <id>', 'only events of this app')
    .option('--agent <id>', 'only events for this agent')
    .option('--thread <thread>', 'only events of this thread')
    .option('--status <status>', `only changes that leave the event with this status (${STATUSES})`)
    .option('--no-reconnect', 'when relayd goes away, exit (6) instead of waiting for it to come back')
    .action(
      act(() => import('./tail.js'), (_, f) => ({
        org: f.org as string,
        app: str(f.app),
        agent: str(f.agent),
        thread: str(f.thread),
        status: str(f.status),
        reconnect: f.reconnect !== false,
      })),
    );
}
