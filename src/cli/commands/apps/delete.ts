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
  checkId(opts.id, 'app id');
  const question = opts.purge
    ? `Delete app ${opts.id} and purge its history? This cannot be undone.`
    : `Delete app ${opts.id}? Its tokens and webhooks go; its history is kept.`;
  if (!(await confirm(ctx, opts.yes, question, 'delete'))) {
    note(ctx, 'Nothing changed.');
    return;
  }
  const result = await (await ctx.client()).deleteApp(opts.org, opts.id, opts.purge);
  await print(ctx, { json: result, human: () => undefined });
  const purged = `${result.purgedEvents} event${result.purgedEvents === 1 ? '' : 's'} purged`;
  if (!result.changed) note(ctx, `App ${opts.id} was already deleted${result.historyKept ? '; its history is kept (--purge to delete it)' : ', its history purged'}.`);
  else if (result.historyKept) await success(ctx, `Deleted app ${opts.id}; its history is kept, and the id stays taken until it is purged (--purge)`);
  else await success(ctx, `Deleted app ${opts.id}; ${purged}`);
}
