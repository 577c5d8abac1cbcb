import type { Context } from '../../context.js';
import { note, print, success } from '../../output.js';
import { confirm } from '../checks.js';
import { checkTokenId } from './shared.js';

export interface Options {
  id: string;
  yes: boolean;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const id = checkTokenId(opts.id);
  if (!(await confirm(ctx, opts.yes, `Revoke ${id}? Requests with it fail at once.`, 'revoke'))) {
    note(ctx, 'Nothing changed.');
    return;
  }
  const result = await (await ctx.client()).revokeToken(id);
  await print(ctx, { json: result, human: () => undefined });
  if (result.changed) await success(ctx, `Revoked token ${id} (${result.token.name})`);
  else note(ctx, `Token ${id} was already revoked.`);
}
