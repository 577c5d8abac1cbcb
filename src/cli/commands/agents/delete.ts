import type { Context } from '../../context.js';
import { note, print, success } from '../../output.js';
import { checkId, confirm } from '../checks.js';

export interface Options {
  org: string;
  id: string;
  purge: boolean;
  yes: boolean;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  checkId(opts.id, 'agent id');
  const question = opts.purge
    ? `Delete agent ${opts.id} and purge its events? This cannot be undone.`
    : `Delete agent ${opts.id}? Its tokens go; the events sent to it are kept.`;
  if (!(await confirm(ctx, opts.yes, question, 'delete'))) {
    note(ctx, 'Nothing changed.');
    return;
  }
  const result = await (await ctx.client()).deleteAgent(opts.org, opts.id, opts.purge);
  await print(ctx, { json: result, human: () => undefined });
  if (result.historyKept) await success(ctx, `Deleted agent ${opts.id}; the events sent to it are kept`);
  else await success(ctx, `Deleted agent ${opts.id}; ${result.purgedEvents} event${result.purgedEvents === 1 ? '' : 's'} purged`);
}
