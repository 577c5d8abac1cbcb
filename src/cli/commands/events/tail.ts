import type { EventChange } from '../../../shared/api.js';
import type { Context } from '../../context.js';
import { fmt, jsonLines, line, note, styles } from '../../output.js';
import { checkFilters, checkStatus, latency, route, statusCell } from './shared.js';

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
  const printJson = ctx.globals.json ? await jsonLines(ctx) : null;
  const onChange = (change: EventChange): void => {
    if (printJson) {
      printJson(change);
      return;
    }
    const e = change.event;
    const took = e.latencyMs !== null && e.status !== 'pending' ? `  ${latency(e.latencyMs)}` : '';
    line(ctx, fmt`${s.dim(change.at.slice(11, 23))}  ${e.id}  ${change.type.padEnd(11)}  ${statusCell(s, e.status)}${' '.repeat(9 - e.status.length)}  ${route(e)}  ${e.thread ?? ''}${took}`);
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
