import type { Context } from '../../context.js';
import { print } from '../../output.js';
import { checkId } from '../checks.js';
import { agentDetails } from './shared.js';

export interface Options {
  org: string;
  id: string;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  checkId(opts.id, 'agent id');
  const result = await (await ctx.client()).showAgent(opts.org, opts.id);
  await print(ctx, { json: result, human: () => agentDetails(ctx, result.agent) });
}
