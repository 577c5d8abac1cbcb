import { describe, expect, it } from 'vitest';
import { apiTokenChecksum, isWellFormedApiToken, toBase62 } from '../../src/shared/api-token.js';
import { SLUG, SLUG_RULE, channelKeyProblem, channelSecretProblem, looksLikeSecret, parseAgentToken, parseAppToken, slugProblem } from '../../src/shared/ids.js';
import { newAdminToken, newAgentToken, newApiToken, newAppToken, randomBase62 } from '../../daemon/core/secrets.js';
import { ADMIN_TOKEN, API_TOKEN, APP_TOKEN } from '../../src/shared/ids.js';

describe('slug rules', () => {
  it.each([
    ['a', null],
    ['acme-pm', null],
    ['a1-b2', null],
    ['x'.repeat(40), null],
    // Pusher and soketi app ids are numeric: they can be kept.
    ['40000', null],
    ['1abc', null],
    ['7', null],
    ['0-a', null],
    ['9'.repeat(40), null],
    ['', 'is empty'],
    ['x'.repeat(41), 'is 41 characters long (at most 40)'],
    ['1'.repeat(41), 'is 41 characters long (at most 40)'],
    ['-abc', 'must not start with a hyphen'],
    ['-', 'must not start with a hyphen'],
    ['abc-', 'must not end with a hyphen'],
    ['40000-', 'must not end with a hyphen'],
    ['Acme', 'may contain only lowercase letters, digits and hyphens'],
    ['ab_c', 'may contain only lowercase letters, digits and hyphens'],
    ['abC', 'may contain only lowercase letters, digits and hyphens'],
    ['40 000', 'may contain only lowercase letters, digits and hyphens'],
  ])('%j → %s', (id, problem) => {
    expect(slugProblem(id)).toBe(problem);
    // The pattern and the messages are one rule.
    expect(SLUG.test(id)).toBe(problem === null);
  });

  it('says the rule as it is', () => {
    expect(SLUG_RULE).toBe('1-40 lowercase letters, digits and hyphens, not starting or ending with a hyphen');
  });
});

describe('tokens that embed an id parse one way, for every id the rule allows', () => {
  const random44 = 'A'.repeat(12) + 'b'.repeat(32);
  it.each(['40000', '7', 'acme-pm', '1-2-3', 'x'.repeat(40), '9'.repeat(40)])('%s', (id) => {
    const { token, lookupId, secret } = newAppToken(id);
    expect(parseAppToken(token)).toEqual({ appId: id, lookupId, secret });
    expect(parseAppToken(`rlk_${id}_${random44}`)).toEqual({ appId: id, lookupId: 'A'.repeat(12), secret: 'b'.repeat(32) });
    expect(parseAgentToken(newAgentToken(id))).toEqual({ agentId: id });
  });

  it.each(['-40000', '40000-', 'x'.repeat(41), '4_0'])('refuses a token whose id breaks the rule: %s', (id) => {
    expect(parseAppToken(`rlk_${id}_${random44}`)).toBeNull();
    expect(parseAgentToken(`rla_${id}_${'a'.repeat(32)}`)).toBeNull();
  });
});

describe('channel keys and secrets brought from Pusher or soketi', () => {
  it.each([
    ['278d425bdf160c739803', null], // Pusher: 20 hex
    ['app-key', null], // soketi's default
    ['k', null],
    ['x'.repeat(100), null],
    ['A.b_c-d~e!$&*+=@', null],
    ['', 'is empty'],
    ['x'.repeat(101), 'is 101 characters long (at most 100)'],
    ['app key', 'may contain only printable ASCII characters, without spaces'],
    ['clé', 'may contain only printable ASCII characters, without spaces'],
    ['a\tb', 'may contain only printable ASCII characters, without spaces'],
  ])('key %j → %s', (key, problem) => {
    expect(channelKeyProblem(key)).toBe(problem);
  });

  it.each(['a:b', 'a/b', 'a?b', 'a#b', 'a%41'])('refuses key %j, which would not survive the WebSocket URL or a channel signature', (key) => {
    expect(channelKeyProblem(key)).toMatch(/may not contain : \/ \? # or %/);
  });

  it.each([
    ['7ad3773142a6692b25b8', null], // Pusher: 20 hex
    ['app-secret', null], // soketi's default
    ['12345678', null],
    ['s'.repeat(200), null],
    ['a:b/c?d#e%f', null],
    ['', 'is 0 characters long (at least 8)'],
    ['1234567', 'is 7 characters long (at least 8)'],
    ['s'.repeat(201), 'is 201 characters long (at most 200)'],
    ['my secret', 'may contain only printable ASCII characters, without spaces'],
  ])('secret %j → %s', (secret, problem) => {
    expect(channelSecretProblem(secret)).toBe(problem);
  });

  it('no message repeats the secret it refuses', () => {
    for (const secret of ['hunter2', 'hunter2 with spaces', 'x'.repeat(300)]) {
      expect(channelSecretProblem(secret)).not.toContain(secret.slice(0, 7));
    }
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
