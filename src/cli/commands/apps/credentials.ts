import type { Context } from '../../context.js';
import { details, note, print } from '../../output.js';
import { checkId } from '../checks.js';

export interface Options {
  org: string;
  id: string;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  checkId(opts.id, 'app id');
  const result = await (await ctx.client()).appCredentials(opts.org, opts.id);
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
