import { parseDuration } from '../../../shared/duration.js';
import type { Context } from '../../context.js';
import { checkLimit } from '../checks.js';
import { note, print, styles, table } from '../../output.js';
import { EVENT_COLUMNS, checkFilters, checkStatus, eventRow } from './shared.js';

export interface Options {
  org: string;
  app: string | undefined;
  agent: string | undefined;
  thread: string | undefined;
  status: string | undefined;
  since: string | undefined;
  limit: string;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  checkFilters(opts);
  const limit = checkLimit(opts.limit);
  const since = opts.since === undefined ? undefined : parseDuration(opts.since, '--since');
  const status = checkStatus(opts.status);
  const result = await (await ctx.client()).listEvents(opts.org, { app: opts.app, agent: opts.agent, thread: opts.thread, status, since, limit });
  await print(ctx, {
    json: result,
    human: async () => {
      if (result.events.length === 0) {
        note(ctx, 'No events match.');
        return;
      }
      const s = await styles(ctx);
      await table(ctx, EVENT_COLUMNS, result.events.map((e) => eventRow(ctx, s, e, 'ago')));
      if (result.next !== null) note(ctx, `More events are older than these: raise --limit, or narrow with --since or the filters.`);
    },
  });
}
