import type { Context } from '../../context.js';
import { print, table, when } from '../../output.js';

export type Options = Record<string, never>;

export async function run(_opts: Options, ctx: Context): Promise<void> {
  const result = await (await ctx.client()).listOrgs();
  await print(ctx, {
    json: result,
    human: () => table(ctx, ['ID', 'NAME', 'CREATED'], result.orgs.map((o) => [o.id, o.name, ctx.io.isStdoutTTY ? when(o.createdAt) : o.createdAt])),
  });
}
