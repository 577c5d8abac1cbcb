import type { Context } from '../../context.js';
import { note, print, success } from '../../output.js';
import { checkId } from '../checks.js';

export interface Options {
  org: string;
  id: string;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  checkId(opts.id, 'agent id');
  const result = await (await ctx.client()).activateAgent(opts.org, opts.id);
  await print(ctx, { json: result, human: () => undefined });
  if (result.changed) await success(ctx, `Activated agent ${opts.id}; its token is accepted again`);
  else note(ctx, `Agent ${opts.id} is already active.`);
}
