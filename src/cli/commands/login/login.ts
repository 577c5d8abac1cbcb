import { AdminClient } from '../../../client/http.js';
import { RelayError } from '../../../shared/errors.js';
import { ADMIN_TOKEN } from '../../../shared/ids.js';
import { daemonUrl } from '../../../shared/address.js';
import { profileName, type Context } from '../../context.js';
import { print, success } from '../../output.js';
import { readStdin } from '../checks.js';
import { openProfiles } from './profiles.js';

export interface Options {
  url: string | undefined;
  token: string | undefined;
  withToken: boolean;
  profile: string | undefined;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  if (opts.token !== undefined && opts.withToken) throw new RelayError('invalid_request', 'give --token or --with-token, not both');
  const { url } = daemonUrl(
    [
      { value: opts.url, from: '--url' },
      { value: ctx.io.env.RELAY_URL, from: 'RELAY_URL' },
    ],
    ctx.io.env,
  );
  let token = opts.token ?? (opts.withToken ? await readStdin(ctx.io.stdin) : undefined);
  if (token === undefined) {
    if (!ctx.io.canPrompt) throw new RelayError('invalid_request', 'missing the admin token: pipe it in with --with-token');
    token = await (await ctx.prompter()).password(`Admin token for ${url}`);
  }
  if (!ADMIN_TOKEN.test(token)) throw new RelayError('invalid_request', 'that is not an admin token (they look like rlo_ and 40 characters)');
  const status = await new AdminClient({ url, token }).getStatus();
  const name = profileName({ ...(opts.profile === undefined ? {} : { profile: opts.profile }) }, ctx.io.env);
  const profiles = await openProfiles(ctx.io.env);
  profiles.set(name, { url, token });
  await print(ctx, { json: { profile: name, url, version: status.version }, human: () => undefined });
  await success(ctx, `Logged in to relayd ${status.version} at ${url} as profile "${name}" (saved in ${profiles.path})`);
}
