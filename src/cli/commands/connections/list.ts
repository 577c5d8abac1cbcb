import type { Context } from '../../context.js';
import { column, note, print, table, time } from '../../output.js';
import { checkId } from '../checks.js';

export interface Options {
  org: string;
  app: string | undefined;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  if (opts.app !== undefined) checkId(opts.app, 'an app id');
  const result = await (await ctx.client()).listConnections(opts.org, { app: opts.app });
  await print(ctx, {
    json: result,
    human: async () => {
      if (result.connections.length === 0) {
        note(ctx, 'No open connections.');
        return;
      }
      await table(
        ctx,
        // NODE last, so that piped fields keep their places from before there were several nodes.
        [column.id('ID'), column.fixed('ROLE'), column.id('OWNER'), column.id('SOCKET ID'), column.fixed('OPENED'), column.text('REMOTE ADDRESS'), column.id('NODE')],
        result.connections.map((c) => [c.id, c.role, c.ownerId, c.socketId ?? '-', time(ctx, c.openedAt, 'ago'), c.remoteAddress ?? '-', c.node]),
      );
    },
  });
}
