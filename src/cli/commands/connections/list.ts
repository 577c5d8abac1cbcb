import type { Context } from '../../context.js';
import { ago, note, print, table } from '../../output.js';
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
        ['ID', 'ROLE', 'OWNER', 'SOCKET ID', 'OPENED', 'REMOTE ADDRESS'],
        result.connections.map((c) => [c.id, c.role, c.ownerId, c.socketId ?? '-', ctx.io.isStdoutTTY ? ago(c.openedAt) : c.openedAt, c.remoteAddress ?? '-']),
      );
    },
  });
}
