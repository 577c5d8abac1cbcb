import { parseDuration } from '../../../shared/duration.js';
import type { Context } from '../../context.js';
import { checkLimit } from '../checks.js';
import { column, note, print, table, time } from '../../output.js';

export interface Options {
  since: string | undefined;
  limit: string;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const limit = checkLimit(opts.limit);
  const sinceMs = opts.since === undefined ? undefined : parseDuration(opts.since, '--since');
  const result = await (await ctx.client()).listAudit({ limit, ...(sinceMs === undefined ? {} : { sinceMs }) });
  await print(ctx, {
    json: result,
    human: async () => {
      if (result.entries.length === 0) {
        note(ctx, 'No changes recorded in that window.');
        return;
      }
      await table(
        ctx,
        [column.fixed('WHEN'), column.text('ACTOR'), column.fixed('ACTION'), column.text('TARGET')],
        result.entries.map((e) => [time(ctx, e.at, 'date'), e.actor, e.action, `${e.targetType} ${e.org && e.targetType !== 'org' ? `${e.org}/` : ''}${e.targetId}`]),
      );
    },
  });
}
