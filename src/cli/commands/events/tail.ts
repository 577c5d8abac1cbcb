import type { EventChange } from '../../../shared/api.js';
import type { Context } from '../../context.js';
import { duration, fmt, line, note, printLine, styles, time } from '../../output.js';
import { checkFilters, checkStatus, target } from './shared.js';

export interface Options {
  org: string;
  app: string | undefined;
  agent: string | undefined;
  status: string | undefined;
}

/** Follows relayd's stream of changes until Ctrl-C (exit 0) or relayd goes away (exit 6). */
export async function run(opts: Options, ctx: Context): Promise<void> {
  checkFilters(opts);
  const status = checkStatus(opts.status);
  const client = await ctx.client();
  const s = await styles(ctx);
  const onChange = (change: EventChange): void => {
    if (ctx.globals.json) {
      printLine(ctx, change);
      return;
    }
    const e = change.event;
    const took = e.latencyMs !== null && e.status !== 'pending' ? `  ${duration(e.latencyMs)}` : '';
    line(ctx, fmt`${s.dim(time(ctx, change.at, 'clock'))}  ${e.id}  ${change.type.padEnd(11)}  ${s.status(e.status)}${' '.repeat(9 - e.status.length)}  ${e.appId} → ${target(e)}  ${e.thread ?? ''}${took}`);
  };
  const abort = new AbortController();
  const stop = (): void => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await client.streamEvents(opts.org, { app: opts.app, agent: opts.agent, status }, { onChange, onOpen: () => note(ctx, 'Watching events; Ctrl-C to stop.') }, abort.signal);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
