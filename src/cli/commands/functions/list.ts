import type { Context } from '../../context.js';
import { column, note, print, table, time } from '../../output.js';
import { checkId, required } from '../checks.js';
import { scope, versionText } from './shared.js';

export interface Options {
  org: string;
  app: string | undefined;
}

/** An app's functions in the order they run on each trigger, with their counts. */
export async function run(opts: Options, ctx: Context): Promise<void> {
  const app = checkId(await required(ctx, opts.app, '--app', 'App ID'), 'app id');
  const result = await (await ctx.client()).listFunctions(opts.org, app);
  await print(ctx, {
    json: result,
    human: async () => {
      if (result.functions.length === 0) {
        note(ctx, `No functions for ${app}. Deploy one with: relay functions deploy --app ${app} --name NAME --file FILE --trigger before-publish`);
        return;
      }
      await table(
        ctx,
        [
          column.id('NAME'),
          column.fixed('VERSION'),
          column.fixed('TRIGGER'),
          column.text('ON'),
          column.fixed('ORDER'),
          column.fixed('CALLS'),
          column.fixed('FAILURES'),
          column.fixed('TIMEOUTS'),
          column.fixed('DEPLOYED'),
        ],
        result.functions.map((f) => [
          f.name,
          versionText(f),
          f.trigger,
          scope(f),
          String(f.order),
          String(f.stats.calls),
          String(f.stats.failures),
          String(f.stats.timeouts),
          time(ctx, f.deployedAt, 'ago'),
        ]),
      );
    },
  });
}
