import { parseExpiry } from '../../../shared/duration.js';
import { parseRateLimit } from '../../../shared/rate-limits.js';
import { validateScopes } from '../../../shared/scopes.js';
import type { Context } from '../../context.js';
import { line, note, print, success } from '../../output.js';
import { checkId, required } from '../checks.js';

export interface Options {
  org: string;
  app: string | undefined;
  name: string | undefined;
  description: string | undefined;
  scopes: string[];
  rateLimit: string | undefined;
  expires: string | undefined;
  quiet: boolean;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  // Refuse bad values here, before anything reaches the daemon; it checks them again.
  const scopes = validateScopes(opts.scopes);
  if (opts.rateLimit !== undefined) parseRateLimit(opts.rateLimit);
  if (opts.expires !== undefined) parseExpiry(opts.expires, Date.now());
  const app = checkId(await required(ctx, opts.app, '--app', 'App ID'), 'app id');
  const name = await required(ctx, opts.name, '--name', 'Token name');
  const result = await (await ctx.client()).createToken(opts.org, app, {
    name,
    scopes,
    ...(opts.description === undefined ? {} : { description: opts.description }),
    ...(opts.rateLimit === undefined ? {} : { rateLimit: opts.rateLimit }),
    ...(opts.expires === undefined ? {} : { expires: opts.expires }),
  });
  await print(
    ctx,
    {
      json: result,
      quiet: result.secret,
      created: { id: result.token.id, secret: result.secret },
      human: async () => {
        await success(ctx, `Created token ${result.token.id} (${result.token.name}) for ${app}`);
        line(ctx, result.secret);
        note(ctx, 'This secret is shown once: store it now. Refer to the token by its id from now on.');
      },
    },
    { quiet: opts.quiet },
  );
}
