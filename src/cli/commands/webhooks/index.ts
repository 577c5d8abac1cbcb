import type { Command } from 'commander';
import { WEBHOOK_EVENT_TYPES } from '../../../shared/webhooks.js';
import { act, collect, idArgument, leaf, str, withOrg, withWide } from '../common.js';

export function webhooksCommand(program: Command): void {
  const webhooks = program.command('webhooks').description("an app's webhook endpoints and their delivery log");

  withOrg(leaf(webhooks, 'add', "add an endpoint that gets the app's events, signed as Pusher signs them", { ownUrl: true }))
    .option('--app <id>', 'the app whose events it gets')
    .option('--url <url>', 'the http or https URL to POST to')
    .option('--event <type>', `an event type (repeatable; none: all): ${WEBHOOK_EVENT_TYPES.join(', ')}`, collect, [])
    .action(act(() => import('./add.js'), (_, f) => ({ org: f.org as string, app: str(f.app), url: str(f.url), events: f.event as string[] })));

  withWide(withOrg(leaf(webhooks, 'list', "an app's webhooks with the health of their endpoints")))
    .option('--app <id>', 'the app')
    .action(act(() => import('./list.js'), (_, f) => ({ org: f.org as string, app: str(f.app) })));

  leaf(webhooks, 'remove', 'remove a webhook; its pending deliveries are dropped')
    .addArgument(idArgument('webhooks', '<webhook-id>', 'the webhook id (wh_...)'))
    .option('-y, --yes', 'do not ask for confirmation')
    .action(act(() => import('./remove.js'), ([id], f) => ({ id: id as string, yes: f.yes === true })));

  withWide(leaf(webhooks, 'deliveries', "a webhook's newest deliveries, each attempt with its status code, duration and error"))
    .addArgument(idArgument('webhooks', '<webhook-id>', 'the webhook id (wh_...)'))
    .option('--limit <n>', 'how many deliveries (1-1000)', '20')
    .action(act(() => import('./deliveries.js'), ([id], f) => ({ id: id as string, limit: f.limit as string })));
}
