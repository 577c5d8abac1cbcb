import { describe, expect, it } from 'vitest';
import { apiTokenChecksum, isWellFormedApiToken, toBase62 } from '../../src/shared/api-token.js';
import { looksLikeSecret, parseAppToken, slugProblem } from '../../src/shared/ids.js';
import { newAdminToken, newApiToken, newAppToken, randomBase62 } from '../../daemon/core/secrets.js';
import { ADMIN_TOKEN, API_TOKEN, APP_TOKEN } from '../../src/shared/ids.js';

describe('slug rules', () => {
  it.each([
    ['a', null],
    ['acme-pm', null],
    ['a1-b2', null],
    ['x'.repeat(40), null],
    ['', 'is empty'],
    ['x'.repeat(41), 'is 41 characters long (at most 40)'],
    ['1abc', 'must start with a lowercase letter'],
    ['-abc', 'must start with a lowercase letter'],
    ['Acme', 'must start with a lowercase letter'],
    ['abc-', 'must not end with a hyphen'],
    ['ab_c', 'may contain only lowercase letters, digits and hyphens'],
    ['abC', 'may contain only lowercase letters, digits and hyphens'],
  ])('%j → %s', (id, problem) => {
    expect(slugProblem(id)).toBe(problem);
  });
});

describe('credential formats', () => {
  it('app tokens carry the app id, a lookup id and a secret of at least 160 bits that bcrypt reads whole', () => {
    const { token, lookupId, secret } = newAppToken('acme-pm');
    expect(token).toMatch(APP_TOKEN);
    expect(token).toBe(`rlk_acme-pm_${lookupId}${secret}`);
    expect(parseAppToken(token)).toEqual({ appId: 'acme-pm', lookupId, secret });
    expect(lookupId).toMatch(/^[0-9A-Za-z]{12}$/);
    expect(secret.length * Math.log2(62)).toBeGreaterThanOrEqual(160);
    // bcrypt reads only the first 72 bytes of what it hashes: the secret alone, whatever the app id.
    expect(Buffer.byteLength(newAppToken('x'.repeat(40)).secret)).toBeLessThanOrEqual(72);
  });

  it('app tokens issued before lookup ids still parse, without one', () => {
    const legacy = `rlk_acme-pm_${'a'.repeat(32)}`;
    expect(legacy).toMatch(APP_TOKEN);
    expect(parseAppToken(legacy)).toEqual({ appId: 'acme-pm', lookupId: null, secret: null });
  });

  it('refuses app tokens of the wrong shape', () => {
    const random = 'a'.repeat(44);
    for (const bad of [
      'rlk_acme-pm_short',
      'rly_acme-pm_' + random,
      'rlk_Acme_' + random,
      'rlk_acme-pm_' + 'a'.repeat(43) + '!',
      'rlk_acme-pm_' + 'a'.repeat(31) + '!',
      'rlk_acme-pm_' + 'a'.repeat(33),
      'rlk_acme-pm_' + 'a'.repeat(45),
      'rlk_acme-pm_' + 'a'.repeat(12) + '_' + 'a'.repeat(32),
    ]) {
      expect(parseAppToken(bad), bad).toBeNull();
    }
  });

  it('API tokens match the published pattern and their checksum', () => {
    for (let i = 0; i < 200; i++) {
      const token = newApiToken();
      expect(token).toMatch(API_TOKEN);
      expect(isWellFormedApiToken(token)).toBe(true);
    }
  });

  it('one changed character breaks the checksum', () => {
    const token = newApiToken();
    const i = 10;
    const changed = token.slice(0, i) + (token[i] === 'a' ? 'b' : 'a') + token.slice(i + 1);
    expect(isWellFormedApiToken(changed)).toBe(false);
    expect(isWellFormedApiToken(token.slice(0, -1))).toBe(false);
  });

  it('the checksum is the left-padded base62 CRC32 of the random part', () => {
    expect(toBase62(0, 6)).toBe('000000');
    expect(toBase62(61, 6)).toBe('00000z');
    expect(toBase62(62, 6)).toBe('000010');
    // CRC32("123456789") = 0xCBF43926 = 3421780262, the standard check value.
    expect(apiTokenChecksum('123456789')).toBe(toBase62(3421780262, 6));
  });

  it('admin tokens match their format; secrets are recognised where ids belong', () => {
    expect(newAdminToken()).toMatch(ADMIN_TOKEN);
    expect(looksLikeSecret(newApiToken())).toBe(true);
    expect(looksLikeSecret('tok_abc')).toBe(false);
  });

  it('random base62 uses the whole alphabet', () => {
    const seen = new Set(randomBase62(20_000));
    expect(seen.size).toBe(62);
  });
});
