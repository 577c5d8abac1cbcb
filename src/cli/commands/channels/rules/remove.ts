import type { Context } from '../../../context.js';
import { note, print, success } from '../../../output.js';
import { confirm } from '../../checks.js';
import { checkRuleId } from './shared.js';

export interface Options {
  id: string;
  yes: boolean;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const id = checkRuleId(opts.id);
  if (!(await confirm(ctx, opts.yes, `Remove channel rule ${id}? Its channels go back to the app's settings.`, 'remove it'))) {
    note(ctx, 'Nothing changed.');
    return;
  }
  const result = await (await ctx.client()).removeChannelRule(id);
  await print(ctx, { json: result, human: () => undefined });
  await success(ctx, `Removed channel rule ${id} (${result.rule.pattern})`);
}
