import { parseDuration } from '../../../shared/duration.js';
import { GRACE_MS } from '../../../shared/limits.js';
import { RelayError } from '../../../shared/errors.js';
import type { Context } from '../../context.js';
import { line, note, print, success, time } from '../../output.js';
import { checkId } from '../checks.js';

export interface Options {
  org: string;
  id: string;
  grace: string | undefined;
  channelSecret: boolean;
  quiet: boolean;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  checkId(opts.id, 'app id');
  if (opts.channelSecret) {
    if (opts.grace !== undefined) throw new RelayError('invalid_request', '--grace applies to the app token; a channel secret is replaced at once');
    await rotateChannelSecret(opts, ctx);
    return;
  }
  const graceMs = parseDuration(opts.grace ?? '1h', '--grace', GRACE_MS);
  const result = await (await ctx.client()).rotateApp(opts.org, opts.id, graceMs);
  await print(
    ctx,
    {
      json: result,
      quiet: result.secret,
      human: async () => {
        await success(ctx, `Rotated the token of ${opts.id}`);
        line(ctx, result.secret);
        note(ctx, `The new token works now; the old one works until ${time(ctx, result.previousValidUntil, 'date')}, then its connections are closed (4001).`);
      },
    },
    { quiet: opts.quiet },
  );
}

async function rotateChannelSecret(opts: Options, ctx: Context): Promise<void> {
  const result = await (await ctx.client()).rotateChannelSecret(opts.org, opts.id);
  await print(
    ctx,
    {
      json: result,
      quiet: result.secret,
      human: async () => {
        await success(ctx, `Replaced the channel secret of ${opts.id} (the key stays ${result.key})`);
        line(ctx, result.secret);
        note(ctx, 'Signatures made with the old secret no longer verify: update your servers now.');
      },
    },
    { quiet: opts.quiet },
  );
}
