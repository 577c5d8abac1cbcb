import { RelayError } from './errors.js';

export const RATE_LIMIT_PROFILES = {
  'burst-friendly': { displayName: 'Burst Friendly', perMinute: 120, burst: 200 },
  'steady-stream': { displayName: 'Steady Stream', perMinute: 60, burst: 30 },
  'api-heavy': { displayName: 'API Heavy', perMinute: 300, burst: 500 },
  restricted: { displayName: 'Restricted', perMinute: 10, burst: 5 },
} as const;

export type RateLimitProfile = keyof typeof RATE_LIMIT_PROFILES;
export const DEFAULT_RATE_LIMIT_PROFILE: RateLimitProfile = 'burst-friendly';

/** A token's limit: a built-in profile, or `custom` with its own figures. */
export interface RateLimit {
  profile: RateLimitProfile | 'custom';
  perMinute: number;
  burst: number;
}

export function isRateLimitProfile(value: string): value is RateLimitProfile {
  return Object.hasOwn(RATE_LIMIT_PROFILES, value);
}

const CUSTOM = /^(\d{1,9})\/min(?:,\s*burst=(\d{1,9}))?$/;

/** Reads `restricted` or a custom `100/min,burst=50` (burst defaults to the per-minute rate). */
export function parseRateLimit(text: string): RateLimit {
  if (isRateLimitProfile(text)) return { profile: text, perMinute: RATE_LIMIT_PROFILES[text].perMinute, burst: RATE_LIMIT_PROFILES[text].burst };
  const match = CUSTOM.exec(text.trim());
  if (match) {
    const perMinute = Number(match[1]);
    const burst = match[2] === undefined ? perMinute : Number(match[2]);
    if (perMinute > 0 && burst > 0) return { profile: 'custom', perMinute, burst };
  }
  throw new RelayError(
    'invalid_request',
    `invalid rate limit "${text}": use a profile (${Object.keys(RATE_LIMIT_PROFILES).join(', ')}) or N/min,burst=M`,
  );
}
