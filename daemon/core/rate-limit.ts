import type { Clock } from './clock.js';

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
 * Token buckets keyed by API token id. The port is async so that a shared (Redis)
 * implementation can serve several relayd nodes.
 */
export interface RateLimiter {
  consume(key: string, limit: Limit): Promise<RateDecision>;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
  perMinute: number;
  burst: number;
}

/** The in-process token bucket: `burst` is the size, `perMinute` the refill rate. */
export class MemoryRateLimiter implements RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  async consume(key: string, limit: Limit): Promise<RateDecision> {
    const now = this.#clock.now();
    let bucket = this.#buckets.get(key);
    if (!bucket || bucket.burst !== limit.burst || bucket.perMinute !== limit.perMinute) {
      // A new bucket, or the token's limit changed: start full at the new size.
      bucket = { tokens: limit.burst, updatedAt: now, perMinute: limit.perMinute, burst: limit.burst };
      this.#buckets.set(key, bucket);
    }
    const perMs = limit.perMinute / 60_000;
    bucket.tokens = Math.min(limit.burst, bucket.tokens + (now - bucket.updatedAt) * perMs);
    bucket.updatedAt = now;
    const allowed = bucket.tokens >= 1;
    if (allowed) bucket.tokens -= 1;
    return {
      allowed,
      limit: limit.burst,
      remaining: Math.floor(bucket.tokens),
      resetSeconds: Math.ceil((limit.burst - bucket.tokens) / perMs / 1000),
      retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000)),
    };
  }
}
