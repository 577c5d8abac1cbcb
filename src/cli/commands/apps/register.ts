import { SLUG_RULE, slugProblem } from '../../../shared/ids.js';
import type { Context } from '../../context.js';
import { line, note, print, success } from '../../output.js';
import { checkId, required } from '../checks.js';
import { channelCredentials } from './shared.js';

export interface Options {
  org: string;
  id: string | undefined;
  name: string | undefined;
  description: string | undefined;
  /** An existing channel key to keep. */
  key: string | undefined;
  /** `-` (stdin) or true (ask); a value given on the command line is refused. */
  secret: string | true | undefined;
  quiet: boolean;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  checkId(opts.org, 'organization id');
  if (opts.id !== undefined) checkId(opts.id, 'app id');
  const id = await required(ctx, opts.id, '--id', `App ID (${SLUG_RULE})`, (v) => slugProblem(v) ?? true);
  const name = await required(ctx, opts.name, '--name', 'App name');
  const credentials = await channelCredentials(ctx, { key: opts.key, secret: opts.secret }, 'generate');
  const client = await ctx.client();
  const result = await client.registerApp(opts.org, { id, name, ...(opts.description === undefined ? {} : { description: opts.description }), ...credentials });
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
        if (credentials.channelKey !== undefined || credentials.channelSecret !== undefined) {
          const kept = [credentials.channelKey === undefined ? null : `channel key ${credentials.channelKey}`, credentials.channelSecret === undefined ? null : 'the channel secret you gave (stored encrypted, not printed here)'].filter((k) => k !== null);
          note(ctx, `Kept ${kept.join(' and ')}: Pusher clients and SDKs configured with them work unchanged.`);
        }
      },
    },
    { quiet: opts.quiet },
  );
}
