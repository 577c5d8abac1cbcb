import type { Context } from '../../context.js';
import { print } from '../../output.js';
import { checkTokenId, tokenDetails } from './shared.js';

export interface Options {
  id: string;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const result = await (await ctx.client()).showToken(checkTokenId(opts.id));
  await print(ctx, { json: result, human: () => tokenDetails(ctx, result.token) });
}
