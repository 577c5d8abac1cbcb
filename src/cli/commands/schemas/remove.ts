import type { Context } from '../../context.js';
import { note, print, success } from '../../output.js';
import { checkId, confirm, required } from '../checks.js';
import { checkSchemaName } from './shared.js';

export interface Options {
  org: string;
  app: string | undefined;
  name: string;
  force: boolean;
  yes: boolean;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const app = checkId(await required(ctx, opts.app, '--app', 'App ID'), 'app id');
  const name = checkSchemaName(opts.name);
  const question = `Remove schema ${name} of ${app} with every version?${opts.force ? ' What uses it is unbound and validates nothing more.' : ''}`;
  if (!(await confirm(ctx, opts.yes, question, 'remove it'))) {
    note(ctx, 'Nothing changed.');
    return;
  }
  const result = await (await ctx.client()).removeSchema(opts.org, app, name, opts.force);
  await print(ctx, { json: result, human: () => undefined });
  await success(ctx, `Removed schema ${name} of ${app} (${result.schema.versions} version${result.schema.versions === 1 ? '' : 's'})`);
  if (result.unbound.length > 0) note(ctx, `Unbound: ${result.unbound.join(', ')}`);
}
