import type { Clock } from '../core/clock.js';
import { decision, type Limit, type RateDecision, type RateLimiter } from './rate-limiter.js';

interface Bucket {
  tokens: number;
  updatedAt: number;
  perMinute: number;
  burst: number;
}

/** Past this many buckets, full ones (the same as none) are dropped. */
const SWEEP_AT = 10_000;

/** The in-process token bucket, for one node. */
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

  async close(): Promise<void> {
    this.#buckets.clear();
  }

  /** The same steps as the Redis driver's script: keep them together. */
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
  const at = Math.max(now, bucket.updatedAt);
  bucket.tokens = Math.min(bucket.burst, bucket.tokens + (at - bucket.updatedAt) * (bucket.perMinute / 60_000));
  bucket.updatedAt = at;
}
