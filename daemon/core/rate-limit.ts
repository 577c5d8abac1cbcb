import { isIPv6 } from 'node:net';
import type { Clock } from './clock.js';
import { compositeKey } from './keys.js';

export interface Limit {
  perMinute: number;
  burst: number;
}

export interface RateDecision {
  allowed: boolean;
  /** The bucket size (RateLimit-Limit). */
  limit: number;
  /** Whole requests left after this one (RateLimit-Remaining). */
  remaining: number;
  /** Seconds until the bucket is full again (RateLimit-Reset). */
  resetSeconds: number;
  /** Seconds until the next request would pass (Retry-After), when refused. */
  retryAfterSeconds: number;
}

/**
 * Token buckets by key (an API token, an app, a client address). The port is async so
 * that a shared (Redis) implementation can serve several relayd nodes.
 */
export interface RateLimiter {
  /** Takes one from the bucket if it has one. */
  consume(key: string, limit: Limit): Promise<RateDecision>;
  /** What `consume` would decide, taking nothing: for a gate that charges only failures. */
  peek(key: string, limit: Limit): Promise<RateDecision>;
}

/**
 * The buckets of the public API. An app has one limit (its profile), which its signed Pusher
 * REST requests and every API token without a limit of its own count against together, so
 * that no entry point adds to another's; a token given its own limit has a bucket of its own.
 */
export const rateBucket = {
  app: (org: string, appId: string): string => compositeKey('app', org, appId),
  token: (tokenId: string): string => compositeKey('token', tokenId),
  /** Refused credentials of one client address (see `addressKey`). */
  failedHandshakes: (address: string | undefined): string => compositeKey('auth-fail', addressKey(address)),
};

interface Bucket {
  tokens: number;
  updatedAt: number;
  perMinute: number;
  burst: number;
}

/** Past this many buckets, full ones (the same as none) are dropped. */
const SWEEP_AT = 10_000;

/** The in-process token bucket: `burst` is the size, `perMinute` the refill rate. */
export class MemoryRateLimiter implements RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #clock: Clock;
  #sweepAt = SWEEP_AT;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  async consume(key: string, limit: Limit): Promise<RateDecision> {
    return this.#decide(key, limit, true);
  }

  async peek(key: string, limit: Limit): Promise<RateDecision> {
    return this.#decide(key, limit, false);
  }

  #decide(key: string, limit: Limit, take: boolean): RateDecision {
    const now = this.#clock.now();
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      if (!take) return decision(limit, limit.burst, true);
      if (this.#buckets.size >= this.#sweepAt) this.#sweep(now);
      bucket = { tokens: limit.burst, updatedAt: now, perMinute: limit.perMinute, burst: limit.burst };
      this.#buckets.set(key, bucket);
    }
    refill(bucket, now);
    if (bucket.burst !== limit.burst || bucket.perMinute !== limit.perMinute) {
      // The limit changed (another profile, a new override): what was used stays used, so
      // that switching a limit back and forth never refills the bucket. Used more than the
      // new size allows, the bucket is in debt, paid back at the new rate.
      const used = bucket.burst - bucket.tokens;
      bucket.tokens = limit.burst - used;
      bucket.burst = limit.burst;
      bucket.perMinute = limit.perMinute;
    }
    const allowed = bucket.tokens >= 1;
    if (allowed && take) bucket.tokens -= 1;
    return decision(limit, bucket.tokens, allowed);
  }

  /** Drops the buckets that have refilled; keeps the map bounded by the keys in recent use. */
  #sweep(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      refill(bucket, now);
      if (bucket.tokens >= bucket.burst) this.#buckets.delete(key);
    }
    this.#sweepAt = Math.max(SWEEP_AT, this.#buckets.size * 2);
  }
}

function refill(bucket: Bucket, now: number): void {
  bucket.tokens = Math.min(bucket.burst, bucket.tokens + (now - bucket.updatedAt) * (bucket.perMinute / 60_000));
  bucket.updatedAt = now;
}

function decision(limit: Limit, tokens: number, allowed: boolean): RateDecision {
  const perMs = limit.perMinute / 60_000;
  return {
    allowed,
    limit: limit.burst,
    remaining: Math.max(0, Math.floor(tokens)),
    resetSeconds: Math.ceil((limit.burst - tokens) / perMs / 1000),
    retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((1 - tokens) / perMs / 1000)),
  };
}

/**
 * The key of a client address for limits per address: an IPv4-mapped IPv6 address is its
 * IPv4 address, and an IPv6 address its /64 (one host's usual allocation: a client can pick
 * any address in it).
 */
export function addressKey(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1] as string;
  if (!isIPv6(address)) return address;
  const [head = '', tail] = (address.split('%')[0] as string).split('::');
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${all.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}
