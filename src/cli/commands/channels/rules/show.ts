import type { Context } from '../../../context.js';
import { print } from '../../../output.js';
import { checkRuleId, ruleDetails } from './shared.js';

export interface Options {
  id: string;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const result = await (await ctx.client()).showChannelRule(checkRuleId(opts.id));
  await print(ctx, { json: result, human: () => ruleDetails(ctx, result.rule) });
}
