import type { Context } from '../../context.js';
import { line, print, styles } from '../../output.js';
import { checkId, required } from '../checks.js';
import { checkVersion } from '../checks.js';
import { checkFunctionName, functionDetails, printSource } from './shared.js';

export interface Options {
  org: string;
  app: string | undefined;
  name: string;
  version: string | undefined;
}

/** A function's metadata and counts, then its source (the version that runs, or --version N). */
export async function run(opts: Options, ctx: Context): Promise<void> {
  const app = checkId(await required(ctx, opts.app, '--app', 'App ID'), 'app id');
  const name = checkFunctionName(opts.name);
  const version = opts.version === undefined ? undefined : checkVersion(opts.version, '--version');
  const result = await (await ctx.client()).showFunction(opts.org, app, name, version);
  await print(ctx, {
    json: result,
    human: async () => {
      functionDetails(ctx, await styles(ctx), result.function);
      line(ctx);
      printSource(ctx, result.function.source ?? '');
    },
  });
}
