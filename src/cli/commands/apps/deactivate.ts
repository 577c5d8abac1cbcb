import type { Context } from '../../context.js';
import { note, print, success } from '../../output.js';
import { checkId, confirm } from '../checks.js';

export interface Options {
  org: string;
  id: string;
  yes: boolean;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  checkId(opts.id, 'app id');
  const sure = await confirm(ctx, opts.yes, `Deactivate ${opts.id}? Its token will be refused and its connections closed.`, 'deactivate');
  if (!sure) {
    note(ctx, 'Nothing changed.');
    return;
  }
  const result = await (await ctx.client()).deactivateApp(opts.org, opts.id);
  await print(ctx, { json: result, human: () => undefined });
  if (result.changed) await success(ctx, `Deactivated app ${opts.id}; its connections were closed`);
  else note(ctx, `App ${opts.id} is already inactive.`);
}
