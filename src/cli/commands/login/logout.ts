import { profileName, type Context } from '../../context.js';
import { note, print, success } from '../../output.js';
import { openProfiles } from './profiles.js';

export interface Options {
  profile: string | undefined;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const name = profileName({ ...(opts.profile === undefined ? {} : { profile: opts.profile }) }, ctx.io.env);
  const removed = (await openProfiles(ctx.io.env)).delete(name);
  await print(ctx, { json: { profile: name, removed }, human: () => undefined });
  if (removed) await success(ctx, `Removed profile "${name}"`);
  else note(ctx, `No profile named "${name}"; nothing to do.`);
}
