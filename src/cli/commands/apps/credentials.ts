import type { Context } from '../../context.js';
import { details, note, print, shellExports } from '../../output.js';
import { checkId } from '../checks.js';

export interface Options {
  org: string;
  id: string;
  /** Shell exports instead, for `eval "$(relay apps credentials ID --env)"` (the examples read these names). */
  env: boolean;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  checkId(opts.id, 'app id');
  const result = await (await ctx.client()).appCredentials(opts.org, opts.id);
  if (opts.env) {
    shellExports(ctx, [
      ['PUSHER_APP_ID', result.appId],
      ['PUSHER_KEY', result.key],
      ['PUSHER_SECRET', result.secret],
    ]);
    return;
  }
  await print(ctx, {
    json: result,
    human: () => {
      details(ctx, [
        ['App ID', result.appId],
        ['Key', result.key],
        ['Secret', result.secret],
      ]);
      note(ctx, 'The key is public (browsers use it); keep the secret on your servers.');
    },
  });
}
