import type { Context } from '../../context.js';
import { column, note, print, styles, table, time } from '../../output.js';
import { checkId, required } from '../checks.js';

export interface Options {
  org: string;
  app: string | undefined;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const app = checkId(await required(ctx, opts.app, '--app', 'App ID'), 'app id');
  const result = await (await ctx.client()).listWebhooks(opts.org, app);
  await print(ctx, {
    json: result,
    human: async () => {
      if (result.webhooks.length === 0) {
        note(ctx, `No webhooks for ${app}. Add one with: relay webhooks add --app ${app} --url URL`);
        return;
      }
      const s = await styles(ctx);
      await table(
        ctx,
        [
          column.id('ID'),
          column.text('URL'),
          column.text('EVENTS'),
          column.fixed('STATUS'),
          column.fixed('LAST ATTEMPT'),
          column.fixed('CODE'),
          column.fixed('FAILURES'),
          column.text('LAST ERROR'),
        ],
        result.webhooks.map((w) => [
          w.id,
          w.url,
          w.events.length === 0 ? 'all' : w.events.join(','),
          s.status(w.status),
          time(ctx, w.lastAttemptAt, 'ago'),
          w.lastStatusCode === null ? '-' : String(w.lastStatusCode),
          w.failuresInRow > 0 ? s.red(String(w.failuresInRow)) : '0',
          w.lastError ?? '-',
        ]),
      );
    },
  });
}
