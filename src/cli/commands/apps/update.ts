import { RelayError } from '../../../shared/errors.js';
import { RATE_LIMIT_PROFILES, isRateLimitProfile } from '../../../shared/rate-limits.js';
import type { Context } from '../../context.js';
import { print, success } from '../../output.js';
import { checkId } from '../checks.js';
import { appDetails } from './shared.js';

export interface Options {
  org: string;
  id: string;
  name: string | undefined;
  description: string | undefined;
  rateLimit: string | undefined;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  checkId(opts.id, 'app id');
  if (opts.name === undefined && opts.description === undefined && opts.rateLimit === undefined) {
    throw new RelayError('invalid_request', 'nothing to change: give --name, --description or --rate-limit');
  }
  if (opts.rateLimit !== undefined && !isRateLimitProfile(opts.rateLimit)) {
    throw new RelayError('invalid_request', `unknown rate-limit profile "${opts.rateLimit}"; profiles: ${Object.keys(RATE_LIMIT_PROFILES).join(', ')}`, {
      hint: 'see them with `relay rate-limits`',
    });
  }
  const result = await (await ctx.client()).updateApp(opts.org, opts.id, {
    ...(opts.name === undefined ? {} : { name: opts.name }),
    ...(opts.description === undefined ? {} : { description: opts.description }),
    ...(opts.rateLimit === undefined ? {} : { rateLimitProfile: opts.rateLimit }),
  });
  await print(ctx, {
    json: result,
    human: async () => {
      await success(ctx, `Updated app ${result.app.id}`);
      await appDetails(ctx, result.app);
    },
  });
}
