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
 * Token buckets by key (an API token, an app, a client address): `burst` is the size,
 * `perMinute` the refill rate. The memory driver serves one node; the Redis driver keeps one
 * bucket per key for every node of a cluster.
 *
 * Every driver keeps the same rules: a new bucket starts full; when a key's limit changes
 * (another profile, a new override) what was used stays used, so that switching a limit
 * back and forth never refills the bucket, and a bucket that used more than its new size
 * is in debt, paid back at the new rate; time that goes backwards (another node's clock)
 * adds nothing and takes nothing away.
 *
 * Failure: a driver that cannot reach its store rejects promptly (within about a second)
 * with RelayError('unavailable'), which the HTTP layer answers with 503.
 */
export interface RateLimiter {
  /** Takes one from the bucket if it has one. */
  consume(key: string, limit: Limit): Promise<RateDecision>;
  /** What `consume` would decide, taking nothing: for a gate that charges only failures. */
  peek(key: string, limit: Limit): Promise<RateDecision>;
  close(): Promise<void>;
}

/** The decision for a bucket holding `tokens` (fractional; negative when in debt) after the request. */
export function decision(limit: Limit, tokens: number, allowed: boolean): RateDecision {
  const perMs = limit.perMinute / 60_000;
  return {
    allowed,
    limit: limit.burst,
    remaining: Math.max(0, Math.floor(tokens)),
    resetSeconds: Math.ceil((limit.burst - tokens) / perMs / 1000),
    retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((1 - tokens) / perMs / 1000)),
  };
}
