import { SLUG_RULE, slugProblem } from '../../../shared/ids.js';
import type { Context } from '../../context.js';
import { line, note, print, success } from '../../output.js';
import { checkId, required } from '../checks.js';

export interface Options {
  org: string;
  id: string | undefined;
  name: string | undefined;
  description: string | undefined;
  quiet: boolean;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  checkId(opts.org, 'organization id');
  if (opts.id !== undefined) checkId(opts.id, 'app id');
  const id = await required(ctx, opts.id, '--id', `App ID (${SLUG_RULE})`, (v) => slugProblem(v) ?? true);
  const name = await required(ctx, opts.name, '--name', 'App name');
  const client = await ctx.client();
  const result = await client.registerApp(opts.org, { id, name, ...(opts.description === undefined ? {} : { description: opts.description }) });
  await print(
    ctx,
    {
      json: result,
      quiet: result.secret,
      created: { id: result.app.id, secret: result.secret },
      human: async () => {
        await success(ctx, `Registered app ${result.app.id} in ${result.app.org}`);
        line(ctx, result.secret);
        note(ctx, 'This app token is shown once: store it now (RELAY_APP_TOKEN=... in the app\'s environment).');
      },
    },
    { quiet: opts.quiet },
  );
}
