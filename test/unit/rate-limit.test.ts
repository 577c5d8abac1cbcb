import { describe, expect, it } from 'vitest';
import { MemoryRateLimiter, addressKey } from '../../daemon/core/rate-limit.js';

function fakeClock(start = 1_000_000): { now(): number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('the token bucket', () => {
  it('allows a burst, refuses the next, and says when to retry', async () => {
    const clock = fakeClock();
    const limiter = new MemoryRateLimiter(clock);
    const restricted = { perMinute: 10, burst: 5 };
    const decisions = [];
    for (let i = 0; i < 6; i++) decisions.push(await limiter.consume('tok', restricted));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false]);
    expect(decisions.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0, 0]);
    expect(decisions[5]).toMatchObject({ limit: 5, retryAfterSeconds: 6 });
    expect(decisions[4]?.resetSeconds).toBe(30);
  });

  it('refills at the per-minute rate, up to the burst', async () => {
    const clock = fakeClock();
    const limiter = new MemoryRateLimiter(clock);
    const limit = { perMinute: 60, burst: 2 };
    await limiter.consume('tok', limit);
    await limiter.consume('tok', limit);
    expect((await limiter.consume('tok', limit)).allowed).toBe(false);
    clock.advance(1000);
    expect((await limiter.consume('tok', limit)).allowed).toBe(true);
    expect((await limiter.consume('tok', limit)).allowed).toBe(false);
    clock.advance(3_600_000);
    const full = await limiter.consume('tok', limit);
    expect(full).toMatchObject({ allowed: true, remaining: 1 });
  });

  it('keeps one bucket per key', async () => {
    const clock = fakeClock();
    const limiter = new MemoryRateLimiter(clock);
    const one = { perMinute: 1, burst: 1 };
    expect((await limiter.consume('a', one)).allowed).toBe(true);
    expect((await limiter.consume('a', one)).allowed).toBe(false);
    expect((await limiter.consume('b', one)).allowed).toBe(true);
  });

  it('carries what was used over when the limit changes, so that switching back and forth never refills', async () => {
    const clock = fakeClock();
    const limiter = new MemoryRateLimiter(clock);
    const restricted = { perMinute: 10, burst: 5 };
    const steady = { perMinute: 60, burst: 30 };
    for (let i = 0; i < 5; i++) expect((await limiter.consume('app', restricted)).allowed).toBe(true);
    expect((await limiter.consume('app', restricted)).allowed).toBe(false);
    // A bigger bucket: its size less the 5 used.
    expect(await limiter.consume('app', steady)).toMatchObject({ allowed: true, remaining: 24 });
    // Back to the small one: 6 used of 5, so nothing left, and a debt of one to pay back first.
    expect(await limiter.consume('app', restricted)).toMatchObject({ allowed: false, remaining: 0, retryAfterSeconds: 12 });
    expect((await limiter.consume('app', steady)).remaining).toBe(23);
    for (let i = 0; i < 23; i++) await limiter.consume('app', steady);
    // 30 used in all, the biggest bucket's size, however often the limit changes.
    for (const limit of [restricted, steady, restricted, steady]) expect((await limiter.consume('app', limit)).allowed).toBe(false);
  });

  it('peeks without taking', async () => {
    const clock = fakeClock();
    const limiter = new MemoryRateLimiter(clock);
    const two = { perMinute: 1, burst: 2 };
    expect(await limiter.peek('x', two)).toMatchObject({ allowed: true, remaining: 2 });
    await limiter.consume('x', two);
    await limiter.consume('x', two);
    expect(await limiter.peek('x', two)).toMatchObject({ allowed: false, remaining: 0 });
    expect((await limiter.peek('x', two)).retryAfterSeconds).toBe(60);
  });
});

describe('the key of a client address', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['::1', '0:0:0:0::/64'],
    ['2001:db8:85a3:0:1:2:3:4', '2001:db8:85a3:0::/64'],
    ['2001:db8:85a3::9', '2001:db8:85a3:0::/64'],
    ['2001:0DB8:0085:a3::', '2001:db8:85:a3::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
    [undefined, 'unknown'],
  ])('%s → %s', (address, key) => {
    expect(addressKey(address)).toBe(key);
  });
});
