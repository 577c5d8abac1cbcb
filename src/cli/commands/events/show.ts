import type { Context } from '../../context.js';
import { details, fmt, line, print, styles, when, type Text } from '../../output.js';
import { checkEventId, latency, route, statusCell } from './shared.js';

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
        ['Route', route(e)],
        ['Thread', e.thread ?? '-'],
        ['Name', e.name ?? '-'],
        ['Status', statusCell(s, e.status)],
        ['Latency', latency(e.latencyMs)],
        ['Attempts', String(e.attempt)],
        ['Created', e.createdAt],
        ['Payload', json(e.payload)],
      ];
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
        line(ctx, fmt`  ${ctx.io.isStdoutTTY ? when(at) : at}  ${type}${extra ? fmt`  ${s.dim(extra)}` : ''}`);
      }
    },
  });
}
