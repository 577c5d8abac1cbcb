import { RelayError } from '../../../shared/errors.js';
import type { Context } from '../../context.js';
import { note, print, success } from '../../output.js';
import { confirm } from '../checks.js';

export interface Options {
  id: string;
  yes: boolean;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  if (!/^conn_[0-9A-Za-z]{1,64}$/.test(opts.id)) throw new RelayError('invalid_request', `invalid connection id "${opts.id}": connection ids start with conn_ (see relay connections list)`);
  if (!(await confirm(ctx, opts.yes, `Close ${opts.id}? The client will be cut off (it may reconnect).`, 'close a connection'))) {
    note(ctx, 'Nothing changed.');
    return;
  }
  const result = await (await ctx.client()).closeConnection(opts.id);
  await print(ctx, { json: result, human: () => undefined });
  await success(ctx, `Closed ${opts.id} (${result.connection.role} ${result.connection.ownerId})`);
}
