import type { WebhookAttempt, WebhookDelivery } from '../../../shared/api.js';
import type { Context } from '../../context.js';
import { column, duration, note, print, styles, table, time, type Cell, type Styles } from '../../output.js';
import { checkLimit } from '../checks.js';
import { checkWebhookId } from './shared.js';

export interface Options {
  id: string;
  limit: string;
}

const COLUMNS = [
  column.id('DELIVERY'),
  column.fixed('ATTEMPT'),
  column.fixed('AT'),
  column.fixed('RESULT'),
  column.fixed('CODE'),
  column.fixed('DURATION'),
  column.text('EVENTS'),
  column.text('CHANNELS'),
  column.text('ERROR'),
];

/**
 * A line per attempt, each with its own outcome (a 500 then a 200: `failed` then `delivered`),
 * newest delivery first; a delivery still waiting has a line for its next attempt.
 */
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
      await table(ctx, COLUMNS, result.deliveries.flatMap((d) => deliveryRows(ctx, s, d)));
    },
  });
}

function deliveryRows(ctx: Context, s: Styles, d: WebhookDelivery): Cell[][] {
  const events = d.events.join(',');
  const channels = d.channels.length === 0 ? '-' : d.channels.join(',');
  const rows = d.attempts.map((a, i): Cell[] => [
    d.id,
    String(i + 1),
    time(ctx, a.at, 'seconds'),
    s.status(succeeded(a) ? 'delivered' : 'failed'),
    a.statusCode === null ? '-' : String(a.statusCode),
    duration(a.durationMs),
    events,
    channels,
    a.error ?? '-',
  ]);
  if (d.status === 'pending') {
    const next = s.status(d.attempts.length === 0 ? 'pending' : 'retrying');
    rows.push([d.id, String(d.attempts.length + 1), time(ctx, d.nextAttemptAt, 'seconds'), next, '-', '-', events, channels, '-']);
  }
  return rows;
}

/** relayd logs an error for every attempt that got no 2xx. */
const succeeded = (a: WebhookAttempt): boolean => a.error === null;
