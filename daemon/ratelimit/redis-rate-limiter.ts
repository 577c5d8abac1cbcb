import type { Redis } from 'ioredis';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../log.js';
import { connectRedis, quitRedis, redisUnavailable, watchRedis, type RedisTarget } from '../broker/redis-connection.js';
import { decision, type Limit, type RateDecision, type RateLimiter } from './rate-limiter.js';

/**
 * One token bucket per key for the whole cluster, decided inside Redis so that two nodes
 * never both spend the last token: the memory driver's steps (MemoryRateLimiter#decide), in
 * one script. The bucket is a hash (t: tokens, u: its time, r: per minute, b: burst); the
 * node's clock gives `now`, and the bucket's time never goes back, so that a node whose
 * clock is behind neither refills nor drains it. A bucket expires once it would be full
 * again (a full bucket is the same as none), plus a second for clocks that disagree.
 * Numbers are stored with 17 significant digits, so a double comes back exactly.
 */
const BUCKET_SCRIPT = `
local now = tonumber(ARGV[1])
local perMinute = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local take = ARGV[4] == '1'
local state = redis.call('HMGET', KEYS[1], 't', 'u', 'r', 'b')
local tokens, updatedAt, rate, size
if state[1] then
  tokens, updatedAt, rate, size = tonumber(state[1]), tonumber(state[2]), tonumber(state[3]), tonumber(state[4])
else
  if not take then return {1, string.format('%.17g', burst)} end
  tokens, updatedAt, rate, size = burst, now, perMinute, burst
end
if now < updatedAt then now = updatedAt end
tokens = math.min(size, tokens + (now - updatedAt) * (rate / 60000))
if size ~= burst or rate ~= perMinute then
  tokens = burst - (size - tokens)
  size, rate = burst, perMinute
end
local allowed = tokens >= 1
if allowed and take then tokens = tokens - 1 end
redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'u', string.format('%.17g', now), 'r', string.format('%.17g', rate), 'b', string.format('%.17g', size))
redis.call('PEXPIRE', KEYS[1], string.format('%d', math.ceil((size - tokens) / (rate / 60000)) + 1000))
return {allowed and 1 or 0, string.format('%.17g', tokens)}
`;

type BucketClient = Redis & {
  relayBucket(key: string, now: string, perMinute: string, burst: string, take: '0' | '1'): Promise<[number, string]>;
};

export class RedisRateLimiter implements RateLimiter {
  readonly #redis: BucketClient;
  readonly #target: RedisTarget;
  readonly #clock: Clock;
  readonly #log: Logger;
  #available = true;
  #lastError: Error | null = null;
  #closed = false;

  static async connect(target: RedisTarget, clock: Clock, log: Logger): Promise<RedisRateLimiter> {
    const redis = await connectRedis(target, 'ratelimit', 'rate limiter');
    // EVALSHA, falling back to EVAL when Redis has not seen the script (after a restart).
    redis.defineCommand('relayBucket', { numberOfKeys: 1, lua: BUCKET_SCRIPT });
    return new RedisRateLimiter(redis as BucketClient, target, clock, log);
  }

  private constructor(redis: BucketClient, target: RedisTarget, clock: Clock, log: Logger) {
    this.#redis = redis;
    this.#target = target;
    this.#clock = clock;
    this.#log = log;
    watchRedis(redis, (ready, err) => {
      this.#lastError = ready ? null : (err ?? this.#lastError);
      if (this.#closed || ready === this.#available) return;
      this.#available = ready;
      if (ready) log.info({ redis: target.display }, "rate limiter's connection restored");
      else log.warn({ redis: target.display, reason: err?.message }, "rate limiter's connection lost: rate-limited requests fail (503) until it is back");
    });
  }

  consume(key: string, limit: Limit): Promise<RateDecision> {
    return this.#decide(key, limit, true);
  }

  peek(key: string, limit: Limit): Promise<RateDecision> {
    return this.#decide(key, limit, false);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await quitRedis(this.#redis);
  }

  async #decide(key: string, limit: Limit, take: boolean): Promise<RateDecision> {
    let reply: [number, string];
    try {
      reply = await this.#redis.relayBucket(`${this.#target.prefix}ratelimit:${key}`, String(this.#clock.now()), String(limit.perMinute), String(limit.burst), take ? '1' : '0');
    } catch (err) {
      this.#log.debug({ err }, 'rate limiter: Redis failed');
      throw redisUnavailable('rate limiter', this.#target, err, this.#lastError);
    }
    return decision(limit, Number(reply[1]), reply[0] === 1);
  }
}
