import type { Context } from '../../context.js';
import { column, print, table, time } from '../../output.js';

export type Options = Record<string, never>;

export async function run(_opts: Options, ctx: Context): Promise<void> {
  const result = await (await ctx.client()).listOrgs();
  await print(ctx, {
    json: result,
    human: () => table(ctx, [column.id('ID'), column.text('NAME'), column.fixed('CREATED')], result.orgs.map((o) => [o.id, o.name, time(ctx, o.createdAt, 'date')])),
  });
}
