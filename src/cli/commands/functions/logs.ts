import type { FunctionLogLine } from '../../../shared/api.js';
import type { Context } from '../../context.js';
import { follow } from '../../follow.js';
import { jsonLines, note, print, styles } from '../../output.js';
import { checkId, checkLimit, required } from '../checks.js';
import { checkFunctionName, logRow } from './shared.js';

export interface Options {
  org: string;
  app: string | undefined;
  name: string;
  limit: string;
  follow: boolean;
  reconnect: boolean;
}

/**
 * A function's log, oldest first: what it printed (its log, info, warn and error lines) and its
 * failed calls (`failure`, `timeout`), each with the version and the node it ran on. The text
 * is the function's own, so it is printed sanitized as all server data is. --follow prints
 * the newest lines, then the new ones as they come, until Ctrl-C, as `events tail` does.
 */
export async function run(opts: Options, ctx: Context): Promise<void> {
  const app = checkId(await required(ctx, opts.app, '--app', 'App ID'), 'app id');
  const name = checkFunctionName(opts.name);
  const limit = checkLimit(opts.limit);
  const client = await ctx.client();
  const s = await styles(ctx);
  const page = await client.functionLogs(opts.org, app, name, { limit });
  if (!opts.follow) {
    await print(ctx, {
      json: page,
      human: () => {
        if (page.logs.length === 0) note(ctx, `Nothing in the log of ${name} yet: it has printed nothing and no call of it has failed.`);
        for (const entry of page.logs) logRow(ctx, s, entry);
      },
    });
    return;
  }

  const printJson = ctx.globals.json ? await jsonLines(ctx) : null;
  /** Where to resume: the seq of the last line printed. */
  let after = page.logs.at(-1)?.seq ?? page.after ?? 0;
  const onLine = (entry: FunctionLogLine): void => {
    if (entry.seq <= after) return;
    after = entry.seq;
    if (printJson) printJson(entry);
    else logRow(ctx, s, entry);
  };
  for (const entry of page.logs) {
    if (printJson) printJson(entry);
    else logRow(ctx, s, entry);
  }
  let announced = false;
  await follow(ctx, { reconnect: opts.reconnect }, (signal, opened) =>
    client.streamFunctionLogs(
      opts.org,
      app,
      name,
      { after },
      {
        onLine,
        onOpen: () => {
          opened();
          if (!announced) note(ctx, `Following the log of ${name}; Ctrl-C to stop.`);
          announced = true;
        },
      },
      signal,
    ),
  );
}
