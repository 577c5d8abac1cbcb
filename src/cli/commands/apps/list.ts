import type { Context } from '../../context.js';
import { note, print } from '../../output.js';
import { checkId } from '../checks.js';
import { appTable } from './shared.js';

export interface Options {
  org: string;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  checkId(opts.org, 'organization id');
  const result = await (await ctx.client()).listApps(opts.org);
  await print(ctx, {
    json: result,
    human: async () => {
      if (result.apps.length === 0) {
        note(ctx, `No apps in ${opts.org} yet. Register one with: relay apps register --id ID --name NAME`);
        return;
      }
      await appTable(ctx, result.apps);
    },
  });
}
