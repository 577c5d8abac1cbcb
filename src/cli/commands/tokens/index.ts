import type { Command } from 'commander';
import { act, collect, idArgument, leaf, str, withOrg, withQuiet, withWide } from '../common.js';

export function tokensCommand(program: Command): void {
  const tokens = program.command('tokens').description('scoped API tokens for the HTTP API');

  withQuiet(withOrg(leaf(tokens, 'create', 'create an API token for an app; prints the secret once')))
    .option('--app <id>', 'the app the token belongs to')
    .option('--name <name>', 'what the token is for (one token per integration)')
    .option('--description <text>', 'more about it')
    .option('--scope <scope>', 'a scope or category wildcard (events:*); repeat or separate with commas; none: full access', collect, [])
    .option('--rate-limit <limit>', 'a profile (relay rate-limits) or a custom limit such as 100/min,burst=50')
    .option('--expires <when>', 'a duration (30d) or a date (2027-01-31); default: never')
    .action(
      act(() => import('./create.js'), (_, f) => ({
        org: f.org as string,
        app: str(f.app),
        name: str(f.name),
        description: str(f.description),
        scopes: f.scope as string[],
        rateLimit: str(f.rateLimit),
        expires: str(f.expires),
        quiet: f.quiet === true,
      })),
    );

  withWide(withOrg(leaf(tokens, 'list', "list an app's tokens")))
    .option('--app <id>', 'the app')
    .action(act(() => import('./list.js'), (_, f) => ({ org: f.org as string, app: str(f.app) })));

  leaf(tokens, 'show', 'show a token (by id, never by secret)')
    .addArgument(idArgument('tokens', '<token-id>', 'the token id (tok_...)'))
    .action(act(() => import('./show.js'), ([id]) => ({ id: id as string })));

  leaf(tokens, 'revoke', 'revoke a token at once, with no grace period')
    .addArgument(idArgument('tokens', '<token-id>', 'the token id (tok_...)'))
    .option('-y, --yes', 'do not ask for confirmation')
    .action(act(() => import('./revoke.js'), ([id], f) => ({ id: id as string, yes: f.yes === true })));

  withQuiet(leaf(tokens, 'rotate', 'same settings, new secret; the old secret is revoked at once'))
    .addArgument(idArgument('tokens', '<token-id>', 'the token id (tok_...)'))
    .action(act(() => import('./rotate.js'), ([id], f) => ({ id: id as string, quiet: f.quiet === true })));
}
