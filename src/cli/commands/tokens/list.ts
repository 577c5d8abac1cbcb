import type { Context } from '../../context.js';
import { note, print } from '../../output.js';
import { checkId, required } from '../checks.js';
import { tokenTable } from './shared.js';

export interface Options {
  org: string;
  app: string | undefined;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const app = checkId(await required(ctx, opts.app, '--app', 'App ID'), 'app id');
  const result = await (await ctx.client()).listTokens(opts.org, app);
  await print(ctx, {
    json: result,
    human: async () => {
      if (result.tokens.length === 0) {
        note(ctx, `No tokens for ${app} yet. Create one with: relay tokens create --app ${app} --name NAME --scope events:publish`);
        return;
      }
      await tokenTable(ctx, result.tokens);
    },
  });
}
