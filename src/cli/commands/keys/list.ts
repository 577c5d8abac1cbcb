import type { Context } from '../../context.js';
import { column, note, print, table, time } from '../../output.js';
import { checkId, required } from '../checks.js';

export interface Options {
  org: string;
  app: string | undefined;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const app = checkId(await required(ctx, opts.app, '--app', 'App ID'), 'app id');
  const result = await (await ctx.client()).listKeys(opts.org, app);
  await print(ctx, {
    json: result,
    human: async () => {
      if (result.keys.length === 0) {
        note(ctx, `No encryption keys for ${app}. Create one with: relay keys create --app ${app}`);
        return;
      }
      await table(
        ctx,
        [column.id('ID'), column.fixed('STATE'), column.fixed('CREATED'), column.fixed('ROTATED'), column.fixed('RETIRED')],
        result.keys.map((k) => [k.id, k.state, time(ctx, k.createdAt, 'ago'), time(ctx, k.rotatedAt, 'ago'), time(ctx, k.retiredAt, 'ago')]),
      );
    },
  });
}
