import { describe, expect, it } from 'vitest';
import { addressKey, rateBucket } from '../../daemon/core/rate-limit.js';

// The token buckets themselves: test/contract/rate-limiter.contract.ts, for every driver.

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

  it('puts the addresses of one /64 into one bucket of refused handshakes', () => {
    expect(rateBucket.failedHandshakes('2001:db8::1')).toBe(rateBucket.failedHandshakes('2001:db8::ffff'));
    expect(rateBucket.failedHandshakes('2001:db8::1')).not.toBe(rateBucket.failedHandshakes('2001:db9::1'));
  });
});
