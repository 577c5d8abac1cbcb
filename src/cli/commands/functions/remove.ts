import type { Context } from '../../context.js';
import { note, print, success } from '../../output.js';
import { checkId, confirm, required } from '../checks.js';
import { checkFunctionName } from './shared.js';

export interface Options {
  org: string;
  app: string | undefined;
  name: string;
  yes: boolean;
}

/** Removes a function with every version, its counts and its log; it stops running from the next event. */
export async function run(opts: Options, ctx: Context): Promise<void> {
  const app = checkId(await required(ctx, opts.app, '--app', 'App ID'), 'app id');
  const name = checkFunctionName(opts.name);
  if (!(await confirm(ctx, opts.yes, `Remove function ${name} of ${app} with every version and its log?`, 'remove it'))) {
    note(ctx, 'Nothing changed.');
    return;
  }
  const result = await (await ctx.client()).removeFunction(opts.org, app, name);
  await print(ctx, { json: result, human: () => undefined });
  const n = result.function.versions;
  await success(ctx, `Removed function ${name} of ${app} (${n} version${n === 1 ? '' : 's'})`);
}
