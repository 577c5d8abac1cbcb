import type { Context } from '../../context.js';
import { note, print, success } from '../../output.js';
import { confirm } from '../checks.js';
import { checkKeyId } from './shared.js';

export interface Options {
  id: string;
  yes: boolean;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const id = checkKeyId(opts.id);
  if (!(await confirm(ctx, opts.yes, `Retire ${id}? The key is destroyed for good, and every payload it sealed can never be read again.`, 'retire it'))) {
    note(ctx, 'Nothing changed.');
    return;
  }
  const result = await (await ctx.client()).retireKey(id);
  await print(ctx, { json: result, human: () => undefined });
  if (result.changed) await success(ctx, `Retired key ${id} of ${result.key.appId}: what it sealed is erased`);
  else note(ctx, `Key ${id} was already retired.`);
}
