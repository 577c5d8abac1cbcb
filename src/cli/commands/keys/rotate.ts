import type { Context } from '../../context.js';
import { checkId, required } from '../checks.js';
import { printCreated } from './shared.js';

export interface Options {
  org: string;
  app: string | undefined;
  quiet: boolean;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const app = checkId(await required(ctx, opts.app, '--app', 'App ID'), 'app id');
  const result = await (await ctx.client()).rotateKey(opts.org, app);
  await printCreated(ctx, result, `Rotated ${app}'s key: ${result.key.id} is active; the previous key is decrypt-only`, opts.quiet);
}
