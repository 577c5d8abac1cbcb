import { SCOPES, SCOPE_CATEGORIES, SCOPE_DESCRIPTIONS } from '../../../shared/scopes.js';
import type { Context } from '../../context.js';
import { column, note, print, table } from '../../output.js';

export type Options = Record<string, never>;

export async function run(_opts: Options, ctx: Context): Promise<void> {
  const json = {
    scopes: SCOPES.map((name) => ({ name, description: SCOPE_DESCRIPTIONS[name] })),
    wildcards: SCOPE_CATEGORIES.map((category) => `${category}:*`),
  };
  await print(ctx, {
    json,
    human: async () => {
      await table(ctx, [column.id('SCOPE'), column.text('PERMISSION')], json.scopes.map((s) => [s.name, s.description]));
      note(ctx, 'A category wildcard (events:*, channels:*, ...) grants every scope of its category; a token without scopes has full access to its app.');
    },
  });
}
