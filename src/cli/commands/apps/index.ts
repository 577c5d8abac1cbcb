import { Option, type Command } from 'commander';
import { CHANNEL_LIMIT_KEYS } from '../../../shared/protocol/pusher.js';
import { RATE_LIMIT_PROFILES } from '../../../shared/rate-limits.js';
import { act, collect, idArgument, leaf, str, withOrg, withQuiet, withWide } from '../common.js';

const KEY_HELP = 'the channel key to use, e.g. your Pusher or soketi app key, so clients need no change (1-100 printable ASCII, no spaces or : / ? # %)';
const SECRET_HELP =
  "the channel secret to use (8-200 printable ASCII, no spaces): --secret - reads it from stdin, --secret alone asks for it (hidden); never the secret itself, which shell history and ps would keep";

/** `--secret` alone is true; `--secret -` (or a value, which the verb refuses) a string. */
const secretFlag = (value: unknown): string | true | undefined => (value === true ? true : str(value));

export function appsCommand(program: Command): void {
  const apps = program.command('apps').description('register and manage apps (services that send events)');

  withQuiet(withOrg(leaf(apps, 'register', 'register an app; prints its app token once')))
    .option('--id <id>', 'the app id, fixed for good: 1-40 lowercase letters, digits and hyphens (a Pusher app id such as 40000 works)')
    .option('--name <name>', 'display name')
    .option('--description <text>', 'what the app is')
    .option('--key <key>', KEY_HELP)
    .option('--secret [-]', SECRET_HELP)
    .action(
      act(() => import('./register.js'), (_, f) => ({ org: f.org as string, id: str(f.id), name: str(f.name), description: str(f.description), key: str(f.key), secret: secretFlag(f.secret), quiet: f.quiet === true })),
    );

  withWide(withOrg(leaf(apps, 'list', 'list apps with their status and connections'))).action(act(() => import('./list.js'), (_, f) => ({ org: f.org as string })));

  withWide(withOrg(leaf(apps, 'show', 'show an app, its connection status and recent events')))
    .addArgument(idArgument('apps', '<id>', 'app id'))
    .action(act(() => import('./show.js'), ([id], f) => ({ org: f.org as string, id: id as string })));

  withOrg(leaf(apps, 'update', 'change an app'))
    .addArgument(idArgument('apps', '<id>', 'app id'))
    .option('--name <name>', 'new display name')
    .option('--description <text>', 'new description')
    .option('--rate-limit <profile>', `the app's rate limit, which its signed Pusher requests and its tokens without a limit of their own share (${Object.keys(RATE_LIMIT_PROFILES).join(', ')})`)
    .addOption(new Option('--client-events <on|off>', 'let channel subscribers send client- events to each other').choices(['on', 'off']))
    .addOption(new Option('--subscription-count <on|off>', 'send subscription counts to the subscribers of non-presence channels, and the subscription_count webhook').choices(['on', 'off']))
    .option('--limit <key=value>', `set a channel limit (repeatable; value "default" resets it): ${CHANNEL_LIMIT_KEYS.join(', ')}`, collect, [])
    .option('--key <key>', `${KEY_HELP}; subscribers connected with the old key are closed (4001)`)
    .option('--secret [-]', `${SECRET_HELP}; in force at once`)
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
        key: str(f.key),
        secret: secretFlag(f.secret),
      })),
    );

  withOrg(leaf(apps, 'deactivate', "cut an app off: refuse its token and close its connections (4003)"))
    .addArgument(idArgument('apps', '<id>', 'app id'))
    .option('-y, --yes', 'do not ask for confirmation')
    .action(act(() => import('./deactivate.js'), ([id], f) => ({ org: f.org as string, id: id as string, yes: f.yes === true })));

  withOrg(leaf(apps, 'delete', 'delete a deactivated app: its tokens, webhooks and allowlist; its history is kept unless --purge'))
    .addArgument(idArgument('apps', '<id>', 'app id'))
    .option('--purge', "delete the app's event history too (and free its id)")
    .option('-y, --yes', 'do not ask for confirmation')
    .action(act(() => import('./delete.js'), ([id], f) => ({ org: f.org as string, id: id as string, purge: f.purge === true, yes: f.yes === true })));

  withOrg(leaf(apps, 'activate', 'let a deactivated app connect again'))
    .addArgument(idArgument('apps', '<id>', 'app id'))
    .action(act(() => import('./activate.js'), ([id], f) => ({ org: f.org as string, id: id as string })));

  withQuiet(withOrg(leaf(apps, 'rotate', 'issue a new app token; the old one works until the grace period ends')))
    .addArgument(idArgument('apps', '<id>', 'app id'))
    .option('--grace <duration>', 'how long the old token keeps working (90s, 15m, 1h, 30d; default 1h)')
    .option('--channel-secret', 'replace the channel secret (Pusher SDKs, webhook signatures) instead, at once')
    .action(
      act(() => import('./rotate.js'), ([id], f) => ({ org: f.org as string, id: id as string, grace: str(f.grace), channelSecret: f.channelSecret === true, quiet: f.quiet === true })),
    );

  withOrg(leaf(apps, 'credentials', "show the app's Pusher-style key and secret, for channel SDKs"))
    .addArgument(idArgument('apps', '<id>', 'app id'))
    .option('--env', 'print them as shell exports (PUSHER_APP_ID, PUSHER_KEY, PUSHER_SECRET), for eval "$(relay apps credentials ID --env)"')
    .action(act(() => import('./credentials.js'), ([id], f) => ({ org: f.org as string, id: id as string, env: f.env === true })));

  withOrg(leaf(apps, 'allow', "add agents to the app's allowlist (an empty list allows every agent of the organization)"))
    .addArgument(idArgument('apps', '<id>', 'app id'))
    .addArgument(idArgument('agents', '<agent...>', 'agent ids'))
    .action(act(() => import('./allow.js'), ([id, agents], f) => ({ org: f.org as string, id: id as string, agents: agents as unknown as string[], allow: true })));

  withOrg(leaf(apps, 'disallow', "remove agents from the app's allowlist"))
    .addArgument(idArgument('apps', '<id>', 'app id'))
    .addArgument(idArgument('agents', '<agent...>', 'agent ids'))
    .action(act(() => import('./allow.js'), ([id, agents], f) => ({ org: f.org as string, id: id as string, agents: agents as unknown as string[], allow: false })));
}
