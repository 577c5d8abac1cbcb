import { describe, expect, it } from 'vitest';
import { DEFAULT_CHANNEL_LIMITS, channelNameProblem, channelType } from '../../src/shared/protocol/pusher.js';
import { verifyBodyMd5, verifyRestSignature, verifySocketAuth, type ChannelApp } from '../../daemon/core/pusher-auth.js';

/** The worked examples of Pusher's docs (reference §1.5 and §2.2), with the corrected presence vector. */
const app: ChannelApp = {
  org: 'default',
  id: '3',
  key: '278d425bdf160c739803',
  secret: '7ad3773142a6692b25b8',
  active: true,
  clientEvents: false,
  subscriptionCount: false,
  limits: DEFAULT_CHANNEL_LIMITS,
  rateLimit: { perMinute: 120, burst: 200 },
};
const socket = '1234.1234';

describe('channel and user signatures', () => {
  it.each([
    ['private-foobar', `${socket}:private-foobar`, '58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4'],
    [
      'presence-foobar',
      `${socket}:presence-foobar:{"user_id":10,"user_info":{"name":"Mr. Channels"}}`,
      '31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80',
    ],
    ['user sign-in', `${socket}::user::{"id":"12345"}`, '4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba'],
  ])('accepts the docs vector for %s', (_, signed, signature) => {
    expect(() => verifySocketAuth(app, `${app.key}:${signature}`, signed)).not.toThrow();
  });

  it('refuses a wrong signature with Pusher’s message, a wrong key, and no auth', () => {
    expect(() => verifySocketAuth(app, `${app.key}:${'0'.repeat(64)}`, `${socket}:private-foobar`)).toThrow(
      /^Invalid signature: Expected HMAC SHA256 hex digest of 1234\.1234:private-foobar, but got 0{64}$/,
    );
    expect(() => verifySocketAuth(app, `otherkey:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4`, `${socket}:private-foobar`)).toThrow(/Invalid key/);
    expect(() => verifySocketAuth(app, '', `${socket}:private-foobar`)).toThrow(/no auth given/);
    expect(() => verifySocketAuth(app, undefined, `${socket}:private-foobar`)).toThrow(/no auth given/);
  });
});

describe('REST signatures', () => {
  const body = Buffer.from('{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}');
  const query = (extra: Record<string, string> = {}): Map<string, string[]> =>
    new Map(
      Object.entries({
        auth_key: app.key,
        auth_timestamp: '1353088179',
        auth_version: '1.0',
        body_md5: 'ec365a775a4cd0599faeb73354201b6f',
        auth_signature: 'da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c',
        ...extra,
      }).map(([k, v]) => [k, [v]]),
    );
  const at = 1353088179_000;
  const window = 600_000;

  it('accepts the docs example', () => {
    expect(() => verifyRestSignature(app, { method: 'POST', path: '/apps/3/events', query: query(), hasBody: true }, at, window)).not.toThrow();
  });

  it('refuses a timestamp outside the window, saying so', () => {
    expect(() => verifyRestSignature(app, { method: 'POST', path: '/apps/3/events', query: query(), hasBody: true }, at + 601_000, window)).toThrow(
      /^Timestamp expired: Given timestamp \(1353088179\) not within 600s of server time$/,
    );
    expect(() => verifyRestSignature(app, { method: 'POST', path: '/apps/3/events', query: query(), hasBody: true }, at - 599_000, window)).not.toThrow();
  });

  it('refuses a body that is not the one signed, a missing body_md5, and a changed path', () => {
    expect(() => verifyBodyMd5(query(), body)).not.toThrow();
    const other = Buffer.from(body.toString().replace('foo', 'bar'));
    expect(() => verifyBodyMd5(query(), other)).toThrow(/body_md5 does not match/);
    const noMd5 = query();
    noMd5.delete('body_md5');
    expect(() => verifyRestSignature(app, { method: 'POST', path: '/apps/3/events', query: noMd5, hasBody: true }, at, window)).toThrow(/body_md5 is missing/);
    expect(() => verifyBodyMd5(noMd5, body)).toThrow(/body_md5 is missing/);
    expect(() => verifyRestSignature(app, { method: 'POST', path: '/apps/4/events', query: query(), hasBody: true }, at, window)).toThrow(/Invalid signature/);
  });

  it.each(['0x50a6e8b3', '1353088179.0', '1.353088179e9', ' 1353088179', '+1353088179', ''])('refuses auth_timestamp %j: decimal seconds only', (timestamp) => {
    expect(() => verifyRestSignature(app, { method: 'POST', path: '/apps/3/events', query: query({ auth_timestamp: timestamp }), hasBody: true }, at, window)).toThrow(
      /auth_timestamp is missing or not a whole number of seconds in decimal/,
    );
  });
});

describe('channel names', () => {
  it.each([
    ['public-1', 'public'],
    ['private-x', 'private'],
    ['private-encrypted-x', 'encrypted'],
    ['presence-room', 'presence'],
    ['my-private-channel', 'public'],
    ['cache-private-x', 'public'],
  ] as const)('%s is %s (prefixes are anchored)', (name, type) => {
    expect(channelType(name)).toBe(type);
  });

  it('refuses names over 164 characters or with other characters', () => {
    expect(channelNameProblem('a'.repeat(164))).toBeNull();
    expect(channelNameProblem('a'.repeat(165))).toMatch(/at most 164/);
    expect(channelNameProblem('room 1')).toMatch(/character outside/);
    expect(channelNameProblem('#server-to-user-1')).toMatch(/character outside/);
    expect(channelNameProblem('')).toMatch(/empty/);
  });
});
