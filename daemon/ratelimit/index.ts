import type { BrokerLocation } from '../broker/index.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../log.js';
import { MemoryRateLimiter } from './memory-rate-limiter.js';
import type { RateLimiter } from './rate-limiter.js';

/** Where the buckets live: this node's memory, or the Redis the broker uses (the same URL and prefix). */
export type RateLimiterLocation = BrokerLocation;

export interface RateLimiterConfig {
  location: RateLimiterLocation;
  clock: Clock;
  log: Logger;
}

/** The Redis driver (and ioredis) is loaded only when asked for; it is connected before this resolves (StartupError otherwise). */
export async function createRateLimiter(config: RateLimiterConfig): Promise<RateLimiter> {
  const { location } = config;
  switch (location.driver) {
    case 'memory':
      return new MemoryRateLimiter(config.clock);
    case 'redis': {
      const [{ RedisRateLimiter }, { parseRedisUrl }] = await Promise.all([import('./redis-rate-limiter.js'), import('../broker/redis-connection.js')]);
      return RedisRateLimiter.connect(parseRedisUrl(location.url), config.clock, config.log);
    }
    default: {
      const unknown: never = location;
      throw new Error(`unknown rate limiter driver "${String((unknown as { driver: unknown }).driver)}"`);
    }
  }
}

export type { Limit, RateDecision, RateLimiter } from './rate-limiter.js';
