import { RelayError } from '../../../shared/errors.js';
import { CHANNEL_LIMIT_KEYS, CHANNEL_LIMIT_RANGES, type ChannelLimits } from '../../../shared/protocol/pusher.js';
import { RATE_LIMIT_PROFILES, isRateLimitProfile } from '../../../shared/rate-limits.js';
import type { Context } from '../../context.js';
import { note, print, success } from '../../output.js';
import { checkId } from '../checks.js';
import { appDetails, channelCredentials } from './shared.js';

export interface Options {
  org: string;
  id: string;
  name: string | undefined;
  description: string | undefined;
  rateLimit: string | undefined;
  /** `on` or `off` (commander checks the choice). */
  clientEvents: string | undefined;
  /** `on` or `off`. */
  subscriptionCount: string | undefined;
  /** `key=value` pairs; `key=default` resets a limit. */
  limits: string[];
  /** A new channel key (an existing Pusher or soketi key, say). */
  key: string | undefined;
  /** `-` (stdin) or true (ask); a value given on the command line is refused. */
  secret: string | true | undefined;
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  checkId(opts.id, 'app id');
  const settings = [opts.name, opts.description, opts.rateLimit, opts.clientEvents, opts.subscriptionCount, opts.key, opts.secret];
  if (settings.every((v) => v === undefined) && opts.limits.length === 0) {
    throw new RelayError('invalid_request', 'nothing to change: give --name, --description, --rate-limit, --client-events, --subscription-count, --limit, --key or --secret');
  }
  if (opts.rateLimit !== undefined && !isRateLimitProfile(opts.rateLimit)) {
    throw new RelayError('invalid_request', `unknown rate-limit profile "${opts.rateLimit}"; profiles: ${Object.keys(RATE_LIMIT_PROFILES).join(', ')}`, {
      hint: 'see them with `relay rate-limits`',
    });
  }
  const channelLimits = parseLimits(opts.limits);
  const credentials = await channelCredentials(ctx, { key: opts.key, secret: opts.secret }, 'keep');
  const result = await (await ctx.client()).updateApp(opts.org, opts.id, {
    ...(opts.name === undefined ? {} : { name: opts.name }),
    ...(opts.description === undefined ? {} : { description: opts.description }),
    ...(opts.rateLimit === undefined ? {} : { rateLimitProfile: opts.rateLimit }),
    ...(opts.clientEvents === undefined ? {} : { clientEvents: opts.clientEvents === 'on' }),
    ...(opts.subscriptionCount === undefined ? {} : { subscriptionCount: opts.subscriptionCount === 'on' }),
    ...(channelLimits === null ? {} : { channelLimits }),
    ...credentials,
  });
  await print(ctx, {
    json: result,
    human: async () => {
      await success(ctx, `Updated app ${result.app.id}`);
      await appDetails(ctx, result.app);
      if (credentials.channelKey !== undefined) note(ctx, `Channel key is now ${credentials.channelKey}: subscribers still on the old key were disconnected (4001).`);
      if (credentials.channelSecret !== undefined) note(ctx, 'The channel secret you gave is in force (stored encrypted, not printed here): signatures made with the old one no longer verify.');
    },
  });
}

/** `maxConnections=500` → { maxConnections: 500 }; `=default` → null (back to the default). */
function parseLimits(pairs: string[]): Partial<Record<keyof ChannelLimits, number | null>> | null {
  if (pairs.length === 0) return null;
  const out: Partial<Record<keyof ChannelLimits, number | null>> = {};
  for (const pair of pairs) {
    const [key, value, ...rest] = pair.split('=');
    if (value === undefined || rest.length > 0 || !CHANNEL_LIMIT_KEYS.includes(key as keyof ChannelLimits)) {
      throw new RelayError('invalid_request', `--limit takes KEY=VALUE with KEY one of ${CHANNEL_LIMIT_KEYS.join(', ')} (got "${pair}")`);
    }
    const name = key as keyof ChannelLimits;
    if (value === 'default') {
      out[name] = null;
      continue;
    }
    const range = CHANNEL_LIMIT_RANGES[name];
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < range.min || n > range.max) {
      throw new RelayError('invalid_request', `--limit ${name} must be a whole number from ${range.min} to ${range.max}, or "default" (got "${value}")`);
    }
    out[name] = n;
  }
  return out;
}
