import type { Context } from '../../context.js';
import { note, print, success } from '../../output.js';
import { checkId, confirm } from '../checks.js';

export interface Options {
  org: string;
  id: string;
  yes: boolean;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  checkId(opts.id, 'agent id');
  const sure = await confirm(ctx, opts.yes, `Deactivate agent ${opts.id}? Its token will be refused and its connections closed.`, 'deactivate');
  if (!sure) {
    note(ctx, 'Nothing changed.');
    return;
  }
  const result = await (await ctx.client()).deactivateAgent(opts.org, opts.id);
  await print(ctx, { json: result, human: () => undefined });
  if (result.changed) await success(ctx, `Deactivated agent ${opts.id}; its connections were closed`);
  else note(ctx, `Agent ${opts.id} is already inactive.`);
}
