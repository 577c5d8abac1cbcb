import type { Context } from '../../context.js';
import { print, success } from '../../output.js';
import { checkId, checkVersion, required } from '../checks.js';
import { checkFunctionName } from './shared.js';

export interface Options {
  org: string;
  app: string | undefined;
  name: string;
  to: string | undefined;
}

/** Runs an earlier version again (from the next event); the versions after it stay, for a later rollback. */
export async function run(opts: Options, ctx: Context): Promise<void> {
  const app = checkId(await required(ctx, opts.app, '--app', 'App ID'), 'app id');
  const name = checkFunctionName(opts.name);
  const to = checkVersion(await required(ctx, opts.to, '--to', 'Version to run'), '--to');
  const client = await ctx.client();
  const current = await client.showFunction(opts.org, app, name);
  const before = current.function.active;
  // Idempotent, as a script would retry it: the version that runs already is no change (and no audit entry).
  const result = before === to ? current : await client.rollbackFunction(opts.org, app, name, to);
  await print(ctx, {
    json: result,
    human: () => success(ctx, before === to ? `${name} runs version ${to} already; nothing changed` : `Rolled back ${name} to version ${result.function.active} (was ${before})`),
  });
}
