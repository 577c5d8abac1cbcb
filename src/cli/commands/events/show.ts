import type { Context } from '../../context.js';
import { details, duration, fmt, line, print, styles, time, type Text } from '../../output.js';
import { checkEventId, target } from './shared.js';

export interface Options {
  id: string;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const id = checkEventId(opts.id);
  const result = await (await ctx.client()).showEvent(id);
  await print(ctx, {
    json: result,
    human: async () => {
      const e = result.event;
      const s = await styles(ctx);
      const json = (value: unknown): string => JSON.stringify(value);
      const pairs: [string, Text][] = [
        ['Event', e.id],
        ['Kind', e.kind],
        ['Route', `${e.appId} → ${target(e)}`],
        ['Thread', e.thread ?? '-'],
        ['Name', e.name ?? '-'],
        ['Status', s.status(e.status)],
        ['Latency', duration(e.latencyMs)],
        ['Attempts', String(e.attempt)],
        ['Created', time(ctx, e.createdAt, 'date')],
      ];
      if (e.erased !== null) {
        const when = e.erased.retiredAt === null ? '' : ` on ${time(ctx, e.erased.retiredAt, 'date')}`;
        pairs.push(['Payload', s.dim(`erased with its key ${e.erased.keyId} (retired${when}); it can never be read again`)]);
      } else {
        pairs.push(['Payload', json(e.payload)]);
      }
      if (e.reply !== null) pairs.push(['Reply', json(e.reply)]);
      if (e.error !== null) pairs.push(['Error', `${e.error.code}: ${e.error.message}`]);
      details(ctx, pairs);
      if (e.timeline.length === 0) return;
      line(ctx);
      line(ctx, 'Timeline');
      for (const { at, type, ...facts } of e.timeline) {
        const extra = Object.entries(facts)
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(' ');
        line(ctx, fmt`  ${time(ctx, at, 'clock')}  ${type}${extra ? fmt`  ${s.dim(extra)}` : ''}`);
      }
    },
  });
}
