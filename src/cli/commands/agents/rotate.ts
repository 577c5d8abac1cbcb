import { parseDuration } from '../../../shared/duration.js';
import { GRACE_MS } from '../../../shared/limits.js';
import type { Context } from '../../context.js';
import { line, note, print, success, time } from '../../output.js';
import { checkId } from '../checks.js';

export interface Options {
  org: string;
  id: string;
  grace: string | undefined;
  quiet: boolean;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  checkId(opts.id, 'agent id');
  const graceMs = parseDuration(opts.grace ?? '1h', '--grace', GRACE_MS);
  const result = await (await ctx.client()).rotateAgent(opts.org, opts.id, graceMs);
  await print(
    ctx,
    {
      json: result,
      quiet: result.secret,
      human: async () => {
        await success(ctx, `Rotated the token of agent ${opts.id}`);
        line(ctx, result.secret);
        note(ctx, `The new token works now; the old one works until ${time(ctx, result.previousValidUntil, 'date')}, then its connections are closed (4001).`);
      },
    },
    { quiet: opts.quiet },
  );
}
