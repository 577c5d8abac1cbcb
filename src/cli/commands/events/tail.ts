import type { EventChange } from '../../../shared/api.js';
import type { Context } from '../../context.js';
import { follow } from '../../follow.js';
import { jsonLines, note, row, styles } from '../../output.js';
import { EVENT_COLUMNS, checkFilters, checkStatus, eventRow } from './shared.js';

export interface Options {
  org: string;
  app: string | undefined;
  agent: string | undefined;
  thread: string | undefined;
  status: string | undefined;
  reconnect: boolean;
}

/**
 * Follows relayd's stream of changes until Ctrl-C (exit 0): a row per change, as `events list`
 * prints the event, and the change. When relayd goes away it reconnects (see follow.ts) and
 * resumes after the last change it printed, so that none is lost or printed twice.
 */
export async function run(opts: Options, ctx: Context): Promise<void> {
  checkFilters(opts);
  const status = checkStatus(opts.status);
  const client = await ctx.client();
  const s = await styles(ctx);
  const printJson = ctx.globals.json ? await jsonLines(ctx) : null;
  /** Where to resume: the seq of the last change seen, or where the first stream started. */
  let after: number | undefined;
  const onChange = (change: EventChange): void => {
    after = change.seq;
    if (printJson) printJson(change);
    else row(ctx, [...eventRow(ctx, s, change.event, 'clock', change.at), change.type]);
  };
  const onOpen = (start: number): void => {
    if (after !== undefined) return;
    after = start;
    note(ctx, 'Watching events; Ctrl-C to stop.');
    if (!printJson && ctx.io.isStdoutTTY) row(ctx, [...EVENT_COLUMNS.map((c) => c.header), 'CHANGE'].map((h) => s.bold(h)));
  };
  await follow(ctx, { reconnect: opts.reconnect }, (signal, opened) =>
    client.streamEvents(
      opts.org,
      { app: opts.app, agent: opts.agent, thread: opts.thread, status, after },
      {
        onChange,
        onOpen: (start) => {
          opened();
          onOpen(start);
        },
      },
      signal,
    ),
  );
}
