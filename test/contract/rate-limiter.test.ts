import { createServer, type AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { Logger } from '../../daemon/log.js';
import { createRateLimiter } from '../../daemon/ratelimit/index.js';
import type { RateLimiter } from '../../daemon/ratelimit/rate-limiter.js';
import { StartupError } from '../../daemon/startup-error.js';
import { REDIS_URL, createTestRedisPrefix, servicesFor } from '../helpers/services.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { describeRateLimiter, fakeClock } from './rate-limiter.contract.js';

const quiet: Logger = pino({ level: 'silent' });

describeRateLimiter('memory', async (clock) => createRateLimiter({ location: { driver: 'memory' }, clock, log: quiet }), { shared: false });

const redisUp = await servicesFor(['redis'], 'the Redis rate limiter tests');

describe.runIf(redisUp)('Redis rate limiter', () => {
  let redis: Awaited<ReturnType<typeof createTestRedisPrefix>>;
  beforeAll(async () => {
    redis = await createTestRedisPrefix();
  });
  afterAll(async () => {
    await redis?.drop();
  });

  describeRateLimiter('redis', (clock) => createRateLimiter({ location: { driver: 'redis', url: redis.url }, clock, log: quiet }), { shared: true });

  describe('in Redis', () => {
    const open: Array<{ close(): Promise<void> }> = [];
    afterEach(async () => {
      for (const thing of open.splice(0).reverse()) await thing.close();
    });
    async function limiter(url: string, clock = fakeClock()): Promise<RateLimiter> {
      const made = await createRateLimiter({ location: { driver: 'redis', url }, clock, log: quiet });
      open.push(made);
      return made;
    }
    async function proxy(): Promise<TcpProxy> {
      const started = await TcpProxy.start(REDIS_URL);
      open.push(started);
      return started;
    }

    it('keeps a bucket under the prefix, until it would be full again', async () => {
      const limits = await limiter(redis.url);
      await limits.consume('expiring', { perMinute: 10, burst: 5 });
      const { Redis } = await import('ioredis');
      const admin = new Redis(REDIS_URL, { lazyConnect: true });
      await admin.connect();
      try {
        expect(await admin.exists(`${redis.prefix}ratelimit:expiring`)).toBe(1);
        // One token used at 10 a minute: full again in 6 s (and a second's margin for clocks).
        const ttl = await admin.pttl(`${redis.prefix}ratelimit:expiring`);
        expect(ttl).toBeGreaterThan(6000);
        expect(ttl).toBeLessThanOrEqual(7000);
      } finally {
        admin.disconnect();
      }
    });

    it('rejects with unavailable at once while Redis is unreachable, and within about a second when it hangs; decides again when it is back', async () => {
      const gate = await proxy();
      const limits = await limiter(gate.urlFor(redis.url));
      const limit = { perMinute: 60, burst: 3 };
      expect((await limits.consume('outage', limit)).remaining).toBe(2);

      gate.cut();
      await gate.refusedAtLeast(2);
      let started = performance.now();
      const cut = await limits.consume('outage', limit).then(() => null, (err: unknown) => err);
      expect(performance.now() - started).toBeLessThan(250);
      expect(cut).toMatchObject({ code: 'unavailable' });
      expect((cut as Error).message).toMatch(/^the rate limiter \(Redis at redis:\/\/127\.0\.0\.1:\d+\) is unreachable: /);

      gate.restore();
      // Until the client has reconnected (within a second), requests keep failing at once.
      let decision = await limits.consume('outage', limit).catch(() => null);
      for (const deadline = Date.now() + 3000; decision === null && Date.now() < deadline; ) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        decision = await limits.consume('outage', limit).catch(() => null);
      }
      expect(decision?.remaining).toBe(1);

      gate.stall();
      started = performance.now();
      const hung = await limits.peek('outage', limit).then(() => null, (err: unknown) => err);
      const took = performance.now() - started;
      expect(hung).toMatchObject({ code: 'unavailable' });
      expect(took).toBeGreaterThan(900);
      expect(took).toBeLessThan(2000);
      gate.restore();
    });

    it('does not start on an unreachable Redis: a StartupError naming the URL', async () => {
      const dead = createServer();
      await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
      const port = (dead.address() as AddressInfo).port;
      await new Promise<void>((resolve) => dead.close(() => resolve()));
      const err = await createRateLimiter({ location: { driver: 'redis', url: `redis://:pw@127.0.0.1:${port}` }, clock: fakeClock(), log: quiet }).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(StartupError);
      expect((err as Error).message).toBe(`cannot reach the rate limiter: Redis at redis://127.0.0.1:${port} is unreachable (connect ECONNREFUSED 127.0.0.1:${port}); start Redis or check the URL`);
    });
  });
});
