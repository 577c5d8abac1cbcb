import type { Context } from '../../context.js';
import { column, duration, line, print, styles, table, time } from '../../output.js';
import { checkId } from '../checks.js';
import { appDetails } from './shared.js';

export interface Options {
  org: string;
  id: string;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  checkId(opts.id, 'app id');
  const result = await (await ctx.client()).showApp(opts.org, opts.id);
  await print(ctx, {
    json: result,
    human: async () => {
      await appDetails(ctx, result.app);
      if (result.recentEvents.length === 0) return;
      line(ctx);
      line(ctx, 'Recent events:');
      const s = await styles(ctx);
      await table(
        ctx,
        [column.id('EVENT'), column.fixed('KIND'), column.text('AGENT/CHANNELS'), column.text('THREAD'), column.text('NAME'), column.fixed('STATUS'), column.fixed('LATENCY'), column.fixed('WHEN')],
        result.recentEvents.map((e) => [
          e.id,
          e.kind,
          e.agent ?? (e.channels ?? []).join(','),
          e.thread ?? '-',
          e.name ?? '-',
          s.status(e.status),
          duration(e.latencyMs),
          time(ctx, e.createdAt, 'ago'),
        ]),
      );
    },
  });
}
