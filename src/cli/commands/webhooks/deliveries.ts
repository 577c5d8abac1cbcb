import type { Context } from '../../context.js';
import { note, print, styles, table, type Text } from '../../output.js';
import { checkLimit } from '../checks.js';
import { checkWebhookId } from './shared.js';

export interface Options {
  id: string;
  limit: string;
}

/** A line per attempt (a delivery not yet tried has one line of its own), newest delivery first. */
export async function run(opts: Options, ctx: Context): Promise<void> {
  const id = checkWebhookId(opts.id);
  const limit = checkLimit(opts.limit);
  const result = await (await ctx.client()).webhookDeliveries(id, limit);
  await print(ctx, {
    json: result,
    human: async () => {
      if (result.deliveries.length === 0) {
        note(ctx, `No deliveries for ${id} yet.`);
        return;
      }
      const s = await styles(ctx);
      const rows: Text[][] = [];
      for (const d of result.deliveries) {
        const status = d.status === 'failed' ? s.red(d.status) : d.status === 'pending' ? s.yellow(d.status) : s.green(d.status);
        const events = d.events.join(',');
        if (d.attempts.length === 0) rows.push([d.id, status, events, '-', '-', '-', '-', d.nextAttemptAt === null ? '-' : `next at ${d.nextAttemptAt}`]);
        d.attempts.forEach((a, i) =>
          rows.push([d.id, status, events, String(i + 1), a.at, a.statusCode === null ? '-' : String(a.statusCode), `${a.durationMs} ms`, a.error ?? '-']),
        );
      }
      await table(ctx, ['DELIVERY', 'STATUS', 'EVENTS', 'ATTEMPT', 'AT', 'CODE', 'DURATION', 'ERROR'], rows);
    },
  });
}
