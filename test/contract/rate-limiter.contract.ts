import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../daemon/core/clock.js';
import type { RateLimiter } from '../../daemon/ratelimit/rate-limiter.js';

export interface FakeClock extends Clock {
  advance(ms: number): void;
  set(at: number): void;
}

export function fakeClock(start = Date.UTC(2026, 11, 4, 12)): FakeClock {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms), set: (at) => (t = at) };
}

export interface RateLimiterContractOptions {
  /** Whether two instances (two nodes) share their buckets (every driver but memory). */
  shared: boolean;
}

/**
 * The RateLimiter contract, run against every driver. `newLimiter` gives a limiter as one
 * more relayd node would have it, on the given clock. Keys are new in every test, so that
 * a shared store needs no cleaning between them.
 */
export function describeRateLimiter(name: string, newLimiter: (clock: Clock) => Promise<RateLimiter>, { shared }: RateLimiterContractOptions): void {
  describe(`RateLimiter contract: ${name}`, () => {
    const open: RateLimiter[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((limiter) => limiter.close()));
    });

    async function limiter(clock: Clock): Promise<RateLimiter> {
      const made = await newLimiter(clock);
      open.push(made);
      return made;
    }
    const key = (what: string): string => `${what}:${randomBytes(6).toString('hex')}`;

    it('allows a burst, refuses the next, and says when to retry', async () => {
      const clock = fakeClock();
      const limits = await limiter(clock);
      const tok = key('tok');
      const restricted = { perMinute: 10, burst: 5 };
      const decisions = [];
      for (let i = 0; i < 6; i++) decisions.push(await limits.consume(tok, restricted));
      expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false]);
      expect(decisions.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0, 0]);
      expect(decisions[5]).toEqual({ allowed: false, limit: 5, remaining: 0, resetSeconds: 30, retryAfterSeconds: 6 });
      expect(decisions[0]).toEqual({ allowed: true, limit: 5, remaining: 4, resetSeconds: 6, retryAfterSeconds: 0 });
    });

    it('refills at the per-minute rate, up to the burst', async () => {
      const clock = fakeClock();
      const limits = await limiter(clock);
      const tok = key('tok');
      const limit = { perMinute: 60, burst: 2 };
      await limits.consume(tok, limit);
      await limits.consume(tok, limit);
      expect((await limits.consume(tok, limit)).allowed).toBe(false);
      clock.advance(1000);
      expect((await limits.consume(tok, limit)).allowed).toBe(true);
      expect((await limits.consume(tok, limit)).allowed).toBe(false);
      clock.advance(500);
      expect(await limits.consume(tok, limit)).toMatchObject({ allowed: false, retryAfterSeconds: 1 });
      clock.advance(3_600_000);
      expect(await limits.consume(tok, limit)).toMatchObject({ allowed: true, remaining: 1 });
    });

    it('keeps one bucket per key', async () => {
      const limits = await limiter(fakeClock());
      const [a, b] = [key('a'), key('b')];
      const one = { perMinute: 1, burst: 1 };
      expect((await limits.consume(a, one)).allowed).toBe(true);
      expect((await limits.consume(a, one)).allowed).toBe(false);
      expect((await limits.consume(b, one)).allowed).toBe(true);
    });

    it('carries what was used over when the limit changes, so that switching back and forth never refills', async () => {
      const limits = await limiter(fakeClock());
      const app = key('app');
      const restricted = { perMinute: 10, burst: 5 };
      const steady = { perMinute: 60, burst: 30 };
      for (let i = 0; i < 5; i++) expect((await limits.consume(app, restricted)).allowed).toBe(true);
      expect((await limits.consume(app, restricted)).allowed).toBe(false);
      // A bigger bucket: its size less the 5 used.
      expect(await limits.consume(app, steady)).toMatchObject({ allowed: true, remaining: 24 });
      // Back to the small one: 6 used of 5, so nothing left, and a debt of one to pay back first.
      expect(await limits.consume(app, restricted)).toEqual({ allowed: false, limit: 5, remaining: 0, resetSeconds: 36, retryAfterSeconds: 12 });
      expect((await limits.consume(app, steady)).remaining).toBe(23);
      for (let i = 0; i < 23; i++) await limits.consume(app, steady);
      // 30 used in all, the biggest bucket's size, however often the limit changes.
      for (const limit of [restricted, steady, restricted, steady]) expect((await limits.consume(app, limit)).allowed).toBe(false);
    });

    it('peeks without taking, at an unknown key as at a used one', async () => {
      const limits = await limiter(fakeClock());
      const x = key('x');
      const two = { perMinute: 1, burst: 2 };
      expect(await limits.peek(x, two)).toEqual({ allowed: true, limit: 2, remaining: 2, resetSeconds: 0, retryAfterSeconds: 0 });
      expect(await limits.peek(x, two)).toMatchObject({ allowed: true, remaining: 2 });
      expect(await limits.consume(x, two)).toMatchObject({ allowed: true, remaining: 1 });
      expect(await limits.peek(x, two)).toMatchObject({ allowed: true, remaining: 1 });
      await limits.consume(x, two);
      expect(await limits.peek(x, two)).toEqual({ allowed: false, limit: 2, remaining: 0, resetSeconds: 120, retryAfterSeconds: 60 });
    });

    it("neither drains nor refills a bucket when a clock is behind the bucket's time (another node's)", async () => {
      const clock = fakeClock();
      const limits = await limiter(clock);
      const tok = key('skew');
      const limit = { perMinute: 60, burst: 2 };
      expect(await limits.consume(tok, limit)).toMatchObject({ allowed: true, remaining: 1 });
      clock.advance(-30_000);
      expect(await limits.consume(tok, limit)).toMatchObject({ allowed: true, remaining: 0 });
      // Back to the bucket's time: no refill for the 30 s the clock went back and forth.
      clock.advance(30_000);
      expect((await limits.consume(tok, limit)).allowed).toBe(false);
      clock.advance(1000);
      expect(await limits.consume(tok, limit)).toMatchObject({ allowed: true, remaining: 0 });
    });

    it('accepts exactly the burst of many concurrent requests', async () => {
      const limits = await limiter(fakeClock());
      const tok = key('rush');
      const decisions = await Promise.all(Array.from({ length: 25 }, () => limits.consume(tok, { perMinute: 10, burst: 10 })));
      expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
    });

    it.runIf(shared)('shares one bucket between two nodes: exactly 10 of 20 interleaved requests accepted with a burst of 10', async () => {
      const clock = fakeClock();
      const [a, b] = [await limiter(clock), await limiter(clock)];
      const tok = key('cluster');
      const limit = { perMinute: 10, burst: 10 };
      const decisions = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).consume(tok, limit)));
      expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
      expect((await b.peek(tok, limit)).allowed).toBe(false);
      expect((await a.peek(tok, limit)).remaining).toBe(0);
      clock.advance(6000);
      expect((await b.consume(tok, limit)).allowed).toBe(true);
      expect((await a.consume(tok, limit)).allowed).toBe(false);
    });
  });
}
