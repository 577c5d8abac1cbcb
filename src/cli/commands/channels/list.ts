import type { Context } from '../../context.js';
import { column, note, print, table } from '../../output.js';
import { checkId } from '../checks.js';

export interface Options {
  org: string;
  app: string;
  prefix: string | undefined;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  checkId(opts.app, 'app id');
  const result = await (await ctx.client()).listChannels(opts.org, opts.app, { prefix: opts.prefix });
  await print(ctx, {
    json: result,
    human: async () => {
      if (result.channels.length === 0) {
        note(ctx, opts.prefix === undefined ? `No occupied channels in app ${opts.app}.` : `No occupied channels starting with "${opts.prefix}" in app ${opts.app}.`);
        return;
      }
      await table(
        ctx,
        [column.text('CHANNEL'), column.fixed('SUBSCRIPTIONS'), column.fixed('USERS')],
        result.channels.map((c) => [c.name, String(c.subscriptionCount), c.userCount === null ? '-' : String(c.userCount)]),
      );
    },
  });
}
