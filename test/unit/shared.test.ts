import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, parseExpiry } from '../../src/shared/duration.js';
import { RelayError } from '../../src/shared/errors.js';
import { parseRateLimit } from '../../src/shared/rate-limits.js';
import { grants, validateScopes } from '../../src/shared/scopes.js';
import { jsonTooDeep } from '../../src/shared/json-depth.js';

describe('durations', () => {
  it.each([
    ['90s', 90_000],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['30d', 2_592_000_000],
    ['0s', 0],
  ])('%s → %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '1', 'h', '1.5h', '-1h', '1w', '1 h', '10ms'])('refuses %j', (text) => {
    expect(() => parseDuration(text, '--grace')).toThrow(/invalid --grace/);
  });

  it('formats in the largest exact unit', () => {
    expect(formatDuration(3_600_000)).toBe('1h');
    expect(formatDuration(90_000)).toBe('90s');
  });

  it('reads an expiry as a duration or a date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseExpiry('30d', now)).toBe(now + 30 * 86_400_000);
    expect(parseExpiry('2026-02-01', now)).toBe(Date.parse('2026-02-01'));
    expect(() => parseExpiry('2025-01-01', now)).toThrow(/in the past/);
    expect(() => parseExpiry('soon', now)).toThrow(/invalid --expires/);
  });
});

describe('scopes', () => {
  it('grants by exact scope, by category wildcard, and everything when empty', () => {
    expect(grants([], 'channels:read')).toBe(true);
    expect(grants(['events:*'], 'events:batch')).toBe(true);
    expect(grants(['events:*'], 'channels:read')).toBe(false);
    expect(grants(['channels:read'], 'channels:read')).toBe(true);
    expect(grants(['channels:read'], 'channels:manage')).toBe(false);
  });

  it('refuses unknown scopes, listing the valid ones', () => {
    try {
      validateScopes(['events:publish', 'events:bogus', 'nope:*']);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(RelayError);
      expect((err as RelayError).code).toBe('invalid_request');
      expect((err as RelayError).message).toContain('"events:bogus", "nope:*"');
      expect((err as RelayError).message).toContain('channels:read');
    }
    expect(validateScopes(['events:*', 'events:*'])).toEqual(['events:*']);
  });
});

describe('rate limits', () => {
  it.each([
    ['restricted', { profile: 'restricted', perMinute: 10, burst: 5 }],
    ['100/min,burst=50', { profile: 'custom', perMinute: 100, burst: 50 }],
    ['100/min', { profile: 'custom', perMinute: 100, burst: 100 }],
  ])('%s', (text, limit) => {
    expect(parseRateLimit(text)).toEqual(limit);
  });

  it.each(['fast', '0/min', '100/hour', '/min'])('refuses %j', (text) => {
    expect(() => parseRateLimit(text)).toThrow(/invalid rate limit/);
  });
});

describe('JSON nesting depth', () => {
  const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n);
  it.each([
    ['flat', '{"a":1,"b":[1,2,3]}', false],
    ['64 levels', deep(64), false],
    ['65 levels', deep(65), true],
    ['objects count too', '{"a":'.repeat(65) + '1' + '}'.repeat(65), true],
    ['brackets inside strings do not', JSON.stringify({ s: '['.repeat(1000) }), false],
    ['escaped quotes do not end a string', JSON.stringify({ s: '\\"' + '['.repeat(1000) }), false],
    ['500,000 levels', deep(500_000), true],
  ])('%s', (_, text, tooDeep) => {
    expect(jsonTooDeep(Buffer.from(text))).toBe(tooDeep);
  });
});
