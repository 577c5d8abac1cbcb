import { Option, type Command } from 'commander';
import { CHANNEL_LIMIT_KEYS } from '../../../shared/protocol/pusher.js';
import { RATE_LIMIT_PROFILES } from '../../../shared/rate-limits.js';
import { act, collect, leaf, str, withOrg, withQuiet, withWide } from '../common.js';

export function appsCommand(program: Command): void {
  const apps = program.command('apps').description('register and manage apps (services that send events)');

  withQuiet(withOrg(leaf(apps, 'register', 'register an app; prints its app token once')))
    .option('--id <id>', 'the app id: a slug, fixed for good')
    .option('--name <name>', 'display name')
    .option('--description <text>', 'what the app is')
    .action(act(() => import('./register.js'), (_, f) => ({ org: f.org as string, id: str(f.id), name: str(f.name), description: str(f.description), quiet: f.quiet === true })));

  withWide(withOrg(leaf(apps, 'list', 'list apps with their status and connections'))).action(act(() => import('./list.js'), (_, f) => ({ org: f.org as string })));

  withWide(withOrg(leaf(apps, 'show', 'show an app, its connection status and recent events')))
    .argument('<id>', 'app id')
    .action(act(() => import('./show.js'), ([id], f) => ({ org: f.org as string, id: id as string })));

  withOrg(leaf(apps, 'update', 'change an app'))
    .argument('<id>', 'app id')
    .option('--name <name>', 'new display name')
    .option('--description <text>', 'new description')
    .option('--rate-limit <profile>', `the app's rate limit, which its signed Pusher requests and its tokens without a limit of their own share (${Object.keys(RATE_LIMIT_PROFILES).join(', ')})`)
    .addOption(new Option('--client-events <on|off>', 'let channel subscribers send client- events to each other').choices(['on', 'off']))
    .addOption(new Option('--subscription-count <on|off>', 'send subscription counts to the subscribers of non-presence channels, and the subscription_count webhook').choices(['on', 'off']))
    .option('--limit <key=value>', `set a channel limit (repeatable; value "default" resets it): ${CHANNEL_LIMIT_KEYS.join(', ')}`, collect, [])
    .action(
      act(() => import('./update.js'), ([id], f) => ({
        org: f.org as string,
        id: id as string,
        name: str(f.name),
        description: str(f.description),
        rateLimit: str(f.rateLimit),
        clientEvents: str(f.clientEvents),
        subscriptionCount: str(f.subscriptionCount),
        limits: f.limit as string[],
      })),
    );

  withOrg(leaf(apps, 'deactivate', "cut an app off: refuse its token and close its connections (4003)"))
    .argument('<id>', 'app id')
    .option('-y, --yes', 'do not ask for confirmation')
    .action(act(() => import('./deactivate.js'), ([id], f) => ({ org: f.org as string, id: id as string, yes: f.yes === true })));

  withOrg(leaf(apps, 'activate', 'let a deactivated app connect again'))
    .argument('<id>', 'app id')
    .action(act(() => import('./activate.js'), ([id], f) => ({ org: f.org as string, id: id as string })));

  withQuiet(withOrg(leaf(apps, 'rotate', 'issue a new app token; the old one works until the grace period ends')))
    .argument('<id>', 'app id')
    .option('--grace <duration>', 'how long the old token keeps working (90s, 15m, 1h, 30d; default 1h)')
    .option('--channel-secret', 'replace the channel secret (Pusher SDKs, webhook signatures) instead, at once')
    .action(
      act(() => import('./rotate.js'), ([id], f) => ({ org: f.org as string, id: id as string, grace: str(f.grace), channelSecret: f.channelSecret === true, quiet: f.quiet === true })),
    );

  withOrg(leaf(apps, 'credentials', "show the app's Pusher-style key and secret, for channel SDKs"))
    .argument('<id>', 'app id')
    .action(act(() => import('./credentials.js'), ([id], f) => ({ org: f.org as string, id: id as string })));

  withOrg(leaf(apps, 'allow', "add agents to the app's allowlist (an empty list allows every agent of the organization)"))
    .argument('<id>', 'app id')
    .argument('<agent...>', 'agent ids')
    .action(act(() => import('./allow.js'), ([id, agents], f) => ({ org: f.org as string, id: id as string, agents: agents as unknown as string[], allow: true })));

  withOrg(leaf(apps, 'disallow', "remove agents from the app's allowlist"))
    .argument('<id>', 'app id')
    .argument('<agent...>', 'agent ids')
    .action(act(() => import('./allow.js'), ([id, agents], f) => ({ org: f.org as string, id: id as string, agents: agents as unknown as string[], allow: false })));
}
