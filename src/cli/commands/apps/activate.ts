import type { Context } from '../../context.js';
import { note, print, success } from '../../output.js';
import { checkId } from '../checks.js';

export interface Options {
  org: string;
  id: string;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  checkId(opts.id, 'app id');
  const result = await (await ctx.client()).activateApp(opts.org, opts.id);
  await print(ctx, { json: result, human: () => undefined });
  if (result.changed) await success(ctx, `Activated app ${opts.id}; its token is accepted again`);
  else note(ctx, `App ${opts.id} is already active.`);
}
