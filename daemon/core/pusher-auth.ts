import { createHash, createHmac } from 'node:crypto';
import { RelayError } from '../../src/shared/errors.js';
import type { AppRecord, Store } from '../store/store.js';
import { DEFAULT_CHANNEL_LIMITS, type ChannelLimits } from '../../src/shared/protocol/pusher.js';
import { RATE_LIMIT_PROFILES } from '../../src/shared/rate-limits.js';
import { CACHE_TTL_MS } from './control.js';
import type { Clock } from './clock.js';
import type { Limit } from '../ratelimit/rate-limiter.js';
import { constantTimeEqual, type SecretBox } from './secrets.js';

/** An app as the channel side needs it: its Pusher key and secret (opened), status and settings. */
export interface ChannelApp {
  org: string;
  id: string;
  key: string;
  secret: string;
  active: boolean;
  clientEvents: boolean;
  subscriptionCount: boolean;
  limits: ChannelLimits;
  /** The app's rate limit (its profile), which signed REST requests count against. */
  rateLimit: Limit;
}

export function effectiveLimits(record: Pick<AppRecord, 'channelLimits'>): ChannelLimits {
  return { ...DEFAULT_CHANNEL_LIMITS, ...record.channelLimits };
}

/**
 * The apps by Pusher key, with their secrets opened once: a handshake or a signed request
 * must not pay a database read and an AES decryption each time. Dropped by `invalidate`
 * on every node whenever an app changes (status, settings, channel key or secret), and read
 * again after CACHE_TTL_MS in case a node missed that.
 */
export class ChannelAppDirectory {
  readonly #store: Store;
  readonly #secrets: SecretBox;
  readonly #clock: Clock;
  readonly #byKey = new Map<string, { app: ChannelApp; until: number }>();
  /** `org/id` → key, so that publishers (who name the app) share the cache. */
  readonly #keys = new Map<string, string>();
  /** Bumped by every invalidation: a load that straddles one is not kept, being possibly older than it. */
  #generation = 0;

  constructor(store: Store, secrets: SecretBox, clock: Clock) {
    this.#store = store;
    this.#secrets = secrets;
    this.#clock = clock;
  }

  async byKey(key: string): Promise<ChannelApp | null> {
    const cached = this.#byKey.get(key);
    if (cached && cached.until > this.#clock.now()) return cached.app;
    const generation = this.#generation;
    const record = await this.#store.getAppByChannelKey(key);
    if (!record && cached && generation === this.#generation) this.#forget(cached.app.org, cached.app.id);
    return this.#load(record, generation);
  }

  async byId(org: string, id: string): Promise<ChannelApp | null> {
    const key = this.#keys.get(`${org}/${id}`);
    const cached = key === undefined ? undefined : this.#byKey.get(key);
    if (cached && cached.until > this.#clock.now() && cached.app.org === org && cached.app.id === id) return cached.app;
    const generation = this.#generation;
    return this.#load(await this.#store.getApp(org, id), generation);
  }

  #load(record: AppRecord | null, generation: number): ChannelApp | null {
    if (!record) return null;
    const app: ChannelApp = {
      org: record.org,
      id: record.id,
      key: record.channelKey,
      secret: this.#secrets.open(record.channelSecretEnc),
      active: record.status === 'active',
      clientEvents: record.clientEvents,
      subscriptionCount: record.subscriptionCount,
      limits: effectiveLimits(record),
      rateLimit: RATE_LIMIT_PROFILES[record.rateLimitProfile],
    };
    if (generation !== this.#generation) return app;
    // Read again after its TTL, the app may have another key, and its key may have been another app's.
    this.#forget(app.org, app.id);
    const former = this.#byKey.get(app.key);
    if (former) this.#forget(former.app.org, former.app.id);
    this.#byKey.set(app.key, { app, until: this.#clock.now() + CACHE_TTL_MS });
    this.#keys.set(`${app.org}/${app.id}`, app.key);
    return app;
  }

  /**
   * A signed REST request for the app in the path, checked before its body is read: its key,
   * then its signature (which covers `body_md5`), then its status (403 when deactivated).
   * The body, once read, must still match `body_md5` (`verifyBodyMd5`).
   */
  async authenticateRest(appId: string, req: SignedRequest, now: number, windowMs: number): Promise<ChannelApp> {
    const key = req.query.get('auth_key')?.[0];
    if (key === undefined) throw new RelayError('unauthorized', 'auth_key is missing: sign requests with the key and secret from `relay apps credentials`');
    const app = await this.byKey(key);
    if (!app || app.id !== appId) throw new RelayError('unauthorized', `auth_key is not the key of app "${appId}"`);
    verifyRestSignature(app, req, now, windowMs);
    if (!app.active) throw new RelayError('forbidden', `app "${app.id}" is deactivated`);
    return app;
  }

  invalidate(org: string, id: string): void {
    this.#generation++;
    this.#forget(org, id);
  }

  /** Forgets every app (this node may have missed invalidations while the broker was away). */
  dropAll(): void {
    this.#generation++;
    this.#byKey.clear();
    this.#keys.clear();
  }

  #forget(org: string, id: string): void {
    const key = this.#keys.get(`${org}/${id}`);
    if (key !== undefined) this.#byKey.delete(key);
    this.#keys.delete(`${org}/${id}`);
  }
}

export const hmacHex = (secret: string, text: string): string => createHmac('sha256', secret).update(text).digest('hex');

/**
 * Checks a subscription's `auth` (`key:hex`) over `socket_id:channel[:channel_data]`, or a
 * sign-in's over `socket_id::user::user_data` (§1.5), against the exact strings the client
 * sent. The message is Pusher's, so that clients see what they would see there.
 */
export function verifySocketAuth(app: ChannelApp, auth: unknown, signed: string): void {
  if (typeof auth !== 'string' || auth.length === 0) {
    throw new RelayError('unauthorized', 'Invalid signature: no auth given; private and presence channels need one from your auth endpoint');
  }
  const colon = auth.indexOf(':');
  const key = colon === -1 ? '' : auth.slice(0, colon);
  const signature = colon === -1 ? auth : auth.slice(colon + 1);
  if (key !== app.key) throw new RelayError('unauthorized', `Invalid key in auth: expected "${app.key}:<signature>"`);
  if (!constantTimeEqual(signature, hmacHex(app.secret, signed))) {
    throw new RelayError('unauthorized', `Invalid signature: Expected HMAC SHA256 hex digest of ${signed}, but got ${signature}`);
  }
}

export interface SignedRequest {
  method: string;
  /** The request path, without the query. */
  path: string;
  /** Query parameters, URL-decoded; a repeated one keeps its values. */
  query: Map<string, string[]>;
  /** Whether the request says it carries a body (Content-Length or Transfer-Encoding), which is not read yet. */
  hasBody: boolean;
}

/** Pusher's `auth_timestamp` is whole seconds in decimal; `0x...`, `1e9` and the like are not. */
const TIMESTAMP = /^\d{1,12}$/;

/**
 * Pusher's REST signature (§2.1): `auth_key`, `auth_timestamp` within the window,
 * `auth_version` 1.0, `body_md5` when there is a body, and `auth_signature` = HMAC-SHA256 of
 * `METHOD\nPATH\nQUERY` (every other parameter, keys lower-cased and sorted, values
 * unescaped, arrays joined with commas). Every refusal is a 401 naming why. The signature
 * covers `body_md5`, so it is checked before the body is read; `verifyBodyMd5` checks the
 * body against it afterwards. A valid request can be replayed within the window, as at Pusher.
 */
export function verifyRestSignature(app: ChannelApp, req: SignedRequest, now: number, windowMs: number): void {
  const one = (name: string): string | undefined => req.query.get(name)?.[0];
  const given = one('auth_timestamp');
  if (given === undefined || !TIMESTAMP.test(given)) throw new RelayError('unauthorized', 'auth_timestamp is missing or not a whole number of seconds in decimal');
  const timestamp = Number(given);
  const skew = Math.abs(now / 1000 - timestamp);
  if (skew * 1000 > windowMs) {
    throw new RelayError('unauthorized', `Timestamp expired: Given timestamp (${timestamp}) not within ${Math.round(windowMs / 1000)}s of server time`);
  }
  const version = one('auth_version');
  if (version !== undefined && version !== '1.0') throw new RelayError('unauthorized', `auth_version must be 1.0 (got "${version}")`);
  if (req.hasBody && one('body_md5') === undefined) throw new RelayError('unauthorized', 'body_md5 is missing: a request with a body must carry the MD5 of the body');
  const signature = one('auth_signature');
  if (signature === undefined) throw new RelayError('unauthorized', 'auth_signature is missing');
  const params = [...req.query.entries()]
    .filter(([name]) => name !== 'auth_signature')
    .map(([name, values]) => [name.toLowerCase(), values.join(',')] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
  const signed = `${req.method.toUpperCase()}\n${req.path}\n${params}`;
  if (!constantTimeEqual(signature, hmacHex(app.secret, signed))) {
    throw new RelayError('unauthorized', `Invalid signature: you should have sent HmacSHA256Hex(${JSON.stringify(signed)}, your_secret_key), but you sent "${signature}"`);
  }
}

/** The body read after the signature checked out must be the one whose MD5 it signed. */
export function verifyBodyMd5(query: Map<string, string[]>, body: Buffer): void {
  const md5 = query.get('body_md5')?.[0];
  if (body.length === 0 && md5 === undefined) return;
  const actual = createHash('md5').update(body).digest('hex');
  if (md5 === undefined) throw new RelayError('unauthorized', 'body_md5 is missing: a request with a body must carry the MD5 of the body');
  if (md5 !== actual) throw new RelayError('unauthorized', `body_md5 does not match the body (expected ${actual}, got ${md5})`);
}
