import type { AppStatus } from '../../src/shared/api.js';
import { RelayError } from '../../src/shared/errors.js';
import { parseAppToken, type AppTokenParts } from '../../src/shared/ids.js';
import type { AppTokenRecord, Store } from '../store/store.js';
import type { Clock } from './clock.js';
import { CACHE_TTL_MS } from './control.js';
import type { Counters } from './metrics.js';
import { bcryptCompare, fastHash } from './secrets.js';

/** Who an app token belongs to, as far as a handshake needs to know. */
export interface AppPrincipal {
  org: string;
  appId: string;
  tokenId: string;
  status: AppStatus;
  /** When this token stops working; null while it is the app's current token. */
  validUntil: number | null;
}

/** The port: a valid token gives its principal; anything else is unauthorized. */
export interface AppTokenVerifier {
  verify(token: string): Promise<AppPrincipal>;
  /** Forgets what is known of an app's tokens (after a rotation or a status change). */
  invalidateApp(appId: string): void;
}

const invalidToken = (): RelayError => new RelayError('unauthorized', 'invalid app token');

/**
 * Finds the stored token by the lookup id in the token and pays bcrypt at most once; an
 * unknown lookup id, or one of another app, costs no hash at all, whether or not the app
 * exists. A token issued before lookup ids is compared with its app's tokens that have none
 * (at most the current one and the one in grace), until the app is rotated.
 */
export class BcryptAppTokenVerifier implements AppTokenVerifier {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #counters: Counters;

  constructor(store: Store, clock: Clock, counters: Counters) {
    this.#store = store;
    this.#clock = clock;
    this.#counters = counters;
  }

  async verify(token: string): Promise<AppPrincipal> {
    const parsed = parseAppToken(token);
    if (!parsed) {
      this.#counters.credentialsRefusedUnchecked++;
      throw invalidToken();
    }
    // A token with a lookup id was hashed without it (its secret alone fits the 72 bytes bcrypt reads).
    const hashed = parsed.secret ?? token;
    for (const candidate of await this.#candidates(parsed)) {
      this.#counters.bcryptCompares++;
      if (!(await bcryptCompare(hashed, candidate.hash))) continue;
      const app = await this.#store.getApp(candidate.org, candidate.appId);
      if (!app) break;
      return { org: app.org, appId: app.id, tokenId: candidate.id, status: app.status, validUntil: candidate.validUntil };
    }
    throw invalidToken();
  }

  async #candidates(parsed: AppTokenParts): Promise<AppTokenRecord[]> {
    const now = this.#clock.now();
    if (parsed.lookupId === null) return this.#store.findValidLegacyAppTokens(parsed.appId, now);
    const record = await this.#store.findAppTokenByLookupId(parsed.lookupId);
    if (!record || record.appId !== parsed.appId || (record.validUntil !== null && record.validUntil <= now)) return [];
    return [record];
  }

  invalidateApp(): void {}
}

/** Refusals expire so that a burst of one wrong token costs one verification, not a thousand. */
const NEGATIVE_TTL_MS = 60_000;
/** Verified tokens are checked again after this, in case a node missed an app's invalidation. */
const POSITIVE_TTL_MS = CACHE_TTL_MS;
const MAX_ENTRIES = 10_000;

/**
 * Remembers verified tokens by the SHA-256 of the whole token (never the token itself, and
 * never the lookup id alone, which is no secret), and shares one verification among
 * concurrent handshakes with the same token, so that a burst of connections pays bcrypt once.
 * Rotation and status changes invalidate an app's entries at once, on every node (a control
 * message); a verified token is also checked again after CACHE_TTL_MS. Refusals are kept apart
 * from verified tokens, so that a spray of forged tokens cannot push verified ones out.
 */
export class CachedAppTokenVerifier implements AppTokenVerifier {
  readonly #inner: AppTokenVerifier;
  readonly #clock: Clock;
  readonly #counters: Counters;
  readonly #verified = new Map<string, { principal: AppPrincipal; until: number }>();
  /** Refused tokens' keys, to when the refusal expires. */
  readonly #refused = new Map<string, number>();
  readonly #inFlight = new Map<string, Promise<AppPrincipal>>();
  /** Bumped per app on invalidation, so that a verification started before it is not cached after it. */
  readonly #generation = new Map<string, number>();
  /** Bumped when everything is dropped, to the same end. */
  #epoch = 0;

  constructor(inner: AppTokenVerifier, clock: Clock, counters: Counters) {
    this.#inner = inner;
    this.#clock = clock;
    this.#counters = counters;
  }

  async verify(token: string): Promise<AppPrincipal> {
    const parsed = parseAppToken(token);
    if (!parsed) {
      this.#counters.credentialsRefusedUnchecked++;
      throw invalidToken();
    }
    const key = fastHash(token);
    const now = this.#clock.now();
    const verified = this.#verified.get(key);
    if (verified) {
      if (verified.until > now) return verified.principal;
      this.#verified.delete(key);
    }
    const refusedUntil = this.#refused.get(key);
    if (refusedUntil !== undefined) {
      if (refusedUntil > now) throw invalidToken();
      this.#refused.delete(key);
    }
    const pending = this.#inFlight.get(key);
    if (pending) return pending;
    const generation = this.#generation.get(parsed.appId) ?? 0;
    const epoch = this.#epoch;
    const current = (): boolean => (this.#generation.get(parsed.appId) ?? 0) === generation && this.#epoch === epoch;
    const verification = this.#inner
      .verify(token)
      .then(
        (verified) => {
          const until = Math.min(this.#clock.now() + POSITIVE_TTL_MS, verified.validUntil ?? Infinity);
          if (current()) remember(this.#verified, key, { principal: verified, until });
          return verified;
        },
        (err: unknown) => {
          if (err instanceof RelayError && err.code === 'unauthorized' && current()) remember(this.#refused, key, this.#clock.now() + NEGATIVE_TTL_MS);
          throw err;
        },
      )
      .finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, verification);
    return verification;
  }

  invalidateApp(appId: string): void {
    this.#generation.set(appId, (this.#generation.get(appId) ?? 0) + 1);
    // Refusals stay: a refused token never becomes valid (new tokens are fresh random strings).
    for (const [key, { principal }] of this.#verified) {
      if (principal.appId === appId) this.#verified.delete(key);
    }
    this.#inner.invalidateApp(appId);
  }

  /** Forgets every verified token (this node may have missed invalidations while the broker was away). */
  dropAll(): void {
    this.#epoch++;
    this.#verified.clear();
  }
}

/** Adds an entry, dropping the oldest when the map is full. */
function remember<V>(entries: Map<string, V>, key: string, value: V): void {
  if (entries.size >= MAX_ENTRIES) {
    const oldest = entries.keys().next();
    if (!oldest.done) entries.delete(oldest.value);
  }
  entries.set(key, value);
}
