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
/** Last, so that piped fields keep their places; only when the attempts were made by more than one node. */
const NODE = column.id('NODE');

/**
 * A line per attempt, each with its own outcome (a 500 then a 200: `failed` then `delivered`),
 * newest delivery first; a delivery still waiting has a line for its next attempt. With
 * several relayd nodes, a NODE column names the node that made each attempt.
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
      const rows = result.deliveries.flatMap((d) => deliveryRows(ctx, s, d));
      const nodes = new Set(result.deliveries.flatMap((d) => d.attempts.map((a) => a.node)));
      if (nodes.size > 1) await table(ctx, [...COLUMNS, NODE], rows);
      else await table(ctx, COLUMNS, rows.map((row) => row.slice(0, -1)));
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
    a.node ?? '-',
  ]);
  if (d.status === 'pending') {
    const next = s.status(d.attempts.length === 0 ? 'pending' : 'retrying');
    rows.push([d.id, String(d.attempts.length + 1), time(ctx, d.nextAttemptAt, 'seconds'), next, '-', '-', events, channels, '-', '-']);
  }
  return rows;
}

/** relayd logs an error for every attempt that got no 2xx. */
const succeeded = (a: WebhookAttempt): boolean => a.error === null;
