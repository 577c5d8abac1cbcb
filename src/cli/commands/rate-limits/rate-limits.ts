import { DEFAULT_RATE_LIMIT_PROFILE, RATE_LIMIT_PROFILES, type RateLimitProfile } from '../../../shared/rate-limits.js';
import type { Context } from '../../context.js';
import { column, note, print, table } from '../../output.js';

export type Options = Record<string, never>;

export async function run(_opts: Options, ctx: Context): Promise<void> {
  const profiles = (Object.keys(RATE_LIMIT_PROFILES) as RateLimitProfile[]).map((name) => ({ name, ...RATE_LIMIT_PROFILES[name], default: name === DEFAULT_RATE_LIMIT_PROFILE }));
  await print(ctx, {
    json: { profiles },
    human: async () => {
      await table(
        ctx,
        [column.id('PROFILE'), column.text('NAME'), column.fixed('PER MINUTE'), column.fixed('BURST')],
        profiles.map((p) => [p.default ? `${p.name} (default)` : p.name, p.displayName, String(p.perMinute), String(p.burst)]),
      );
      note(ctx, 'A token uses its own limit (--rate-limit PROFILE or N/min,burst=M) or its app\'s default profile.');
    },
  });
}
