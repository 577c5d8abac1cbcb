import type { Context } from '../../context.js';
import { ago, line, print, table } from '../../output.js';
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
      await table(
        ctx,
        ['EVENT', 'KIND', 'AGENT/CHANNELS', 'THREAD', 'NAME', 'STATUS', 'LATENCY', 'WHEN'],
        result.recentEvents.map((e) => [
          e.id,
          e.kind,
          e.agent ?? (e.channels ?? []).join(','),
          e.thread ?? '-',
          e.name ?? '-',
          e.status,
          e.latencyMs === null ? '-' : `${e.latencyMs}ms`,
          ctx.io.isStdoutTTY ? ago(e.createdAt) : e.createdAt,
        ]),
      );
    },
  });
}
