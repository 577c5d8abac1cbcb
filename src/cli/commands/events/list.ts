import { parseDuration } from '../../../shared/duration.js';
import type { Context } from '../../context.js';
import { checkLimit } from '../checks.js';
import { note, print, styles, table } from '../../output.js';
import { EVENT_COLUMNS, checkEventId, checkFilters, checkStatus, eventRow } from './shared.js';

export interface Options {
  org: string;
  app: string | undefined;
  agent: string | undefined;
  thread: string | undefined;
  status: string | undefined;
  since: string | undefined;
  limit: string;
  before: string | undefined;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  checkFilters(opts);
  const limit = checkLimit(opts.limit);
  const since = opts.since === undefined ? undefined : parseDuration(opts.since, '--since');
  const status = checkStatus(opts.status);
  const before = opts.before === undefined ? undefined : checkEventId(opts.before, '--before');
  const result = await (await ctx.client()).listEvents(opts.org, { app: opts.app, agent: opts.agent, thread: opts.thread, status, since, limit, before });
  await print(ctx, {
    json: result,
    human: async () => {
      if (result.events.length === 0) {
        note(ctx, 'No events match.');
        return;
      }
      const s = await styles(ctx);
      await table(ctx, EVENT_COLUMNS, result.events.map((e) => eventRow(ctx, s, e, 'ago')));
    },
  });
  // The next page's command, on stderr so that it never mixes with what a script reads.
  if (result.next !== null && !ctx.globals.json) note(ctx, `more: ${nextPage(opts, result.next)}`);
}

/** The same command with `--before` the last id of this page. */
function nextPage(opts: Options, next: string): string {
  const args = ['relay', 'events', 'list'];
  const flag = (name: string, value: string | undefined): void => {
    if (value !== undefined) args.push(name, /^[\w.:/@,=+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`);
  };
  flag('--org', opts.org === 'default' ? undefined : opts.org);
  flag('--app', opts.app);
  flag('--agent', opts.agent);
  flag('--thread', opts.thread);
  flag('--status', opts.status);
  flag('--since', opts.since);
  flag('--limit', opts.limit === '50' ? undefined : opts.limit);
  flag('--before', next);
  return args.join(' ');
}
