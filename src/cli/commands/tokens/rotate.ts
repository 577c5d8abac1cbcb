import type { Context } from '../../context.js';
import { line, note, print, success } from '../../output.js';
import { checkTokenId } from './shared.js';

export interface Options {
  id: string;
  quiet: boolean;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const result = await (await ctx.client()).rotateToken(checkTokenId(opts.id));
  await print(
    ctx,
    {
      json: result,
      quiet: result.secret,
      human: async () => {
        await success(ctx, `Rotated ${opts.id}: the old secret no longer works`);
        line(ctx, result.secret);
        note(ctx, 'This secret is shown once: store it now.');
      },
    },
    { quiet: opts.quiet },
  );
}
