import { SLUG_RULE, slugProblem } from '../../../shared/ids.js';
import type { Context } from '../../context.js';
import { print, success } from '../../output.js';
import { checkId, required } from '../checks.js';

export interface Options {
  id: string | undefined;
  name: string | undefined;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  if (opts.id !== undefined) checkId(opts.id, 'organization id');
  const id = await required(ctx, opts.id, '--id', `Organization ID (${SLUG_RULE})`, (v) => slugProblem(v) ?? true);
  const name = await required(ctx, opts.name, '--name', 'Organization name');
  const result = await (await ctx.client()).createOrg({ id, name });
  await print(ctx, {
    json: result,
    created: { id: result.org.id },
    human: () => success(ctx, `Created organization ${result.org.id}; use it with --org ${result.org.id}`),
  });
}
