import type { Context } from '../../context.js';
import { details, print, styles, when } from '../../output.js';
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
      const pairs: [string, string][] = [
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
      ctx.io.stdout.write('\nTimeline\n');
      for (const { at, type, ...facts } of e.timeline) {
        const extra = Object.entries(facts)
          .map(([k, v]) => `${k}=${String(v)}`)
          .join(' ');
        ctx.io.stdout.write(`  ${ctx.io.isStdoutTTY ? when(at) : at}  ${type}${extra ? `  ${s.dim(extra)}` : ''}\n`);
      }
    },
  });
}
