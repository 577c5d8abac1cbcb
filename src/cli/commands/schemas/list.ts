import type { Context } from '../../context.js';
import { column, note, print, table, time } from '../../output.js';
import { checkId, required } from '../checks.js';

export interface Options {
  org: string;
  app: string | undefined;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const app = checkId(await required(ctx, opts.app, '--app', 'App ID'), 'app id');
  const result = await (await ctx.client()).listSchemas(opts.org, app);
  await print(ctx, {
    json: result,
    human: async () => {
      if (result.schemas.length === 0) {
        note(ctx, `No schemas for ${app}. Add one with: relay schemas add --app ${app} --name NAME --file FILE`);
        return;
      }
      await table(
        ctx,
        [column.id('NAME'), column.fixed('VERSION'), column.text('USED BY'), column.fixed('UPDATED')],
        result.schemas.map((s) => [s.name, String(s.version), s.usedBy.length === 0 ? '-' : s.usedBy.join(','), time(ctx, s.updatedAt, 'ago')]),
      );
    },
  });
}
