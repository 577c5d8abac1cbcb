import type { AppStatus } from '../../src/shared/api.js';
import { RelayError } from '../../src/shared/errors.js';
import { parseAppToken } from '../../src/shared/ids.js';
import type { Store } from '../store/store.js';
import type { Clock } from './clock.js';
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

/** Looks the token up and pays bcrypt for each candidate hash (at most the current and the previous token). */
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
    for (const candidate of await this.#store.findValidAppTokens(parsed.appId, this.#clock.now())) {
      this.#counters.bcryptCompares++;
      if (!(await bcryptCompare(token, candidate.hash))) continue;
      const app = await this.#store.getApp(candidate.org, candidate.appId);
      if (!app) break;
      return { org: app.org, appId: app.id, tokenId: candidate.id, status: app.status, validUntil: candidate.validUntil };
    }
    throw invalidToken();
  }

  invalidateApp(): void {}
}

interface CacheEntry {
  principal: AppPrincipal | null;
  /** Negative entries expire so that a burst of one wrong token costs one bcrypt, not a thousand. */
  expiresAt: number;
}

const NEGATIVE_TTL_MS = 60_000;
const MAX_ENTRIES = 10_000;

/**
 * Remembers verified tokens by their SHA-256 (never the token itself), and shares one
 * verification among concurrent handshakes with the same token, so that a burst of
 * connections pays bcrypt once. Rotation and status changes invalidate an app's entries at once.
 */
export class CachedAppTokenVerifier implements AppTokenVerifier {
  readonly #inner: AppTokenVerifier;
  readonly #clock: Clock;
  readonly #counters: Counters;
  readonly #entries = new Map<string, CacheEntry>();
  readonly #inFlight = new Map<string, Promise<AppPrincipal>>();
  /** Bumped per app on invalidation, so that a verification started before it is not cached after it. */
  readonly #generation = new Map<string, number>();

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
    const entry = this.#entries.get(key);
    if (entry) {
      const expired = entry.expiresAt <= now || (entry.principal?.validUntil != null && entry.principal.validUntil <= now);
      if (!expired) {
        if (!entry.principal) throw invalidToken();
        return entry.principal;
      }
      this.#entries.delete(key);
    }
    const pending = this.#inFlight.get(key);
    if (pending) return pending;
    const generation = this.#generation.get(parsed.appId) ?? 0;
    const verification = this.#inner
      .verify(token)
      .then(
        (principal) => {
          this.#remember(parsed.appId, generation, key, { principal, expiresAt: Number.POSITIVE_INFINITY });
          return principal;
        },
        (err: unknown) => {
          if (err instanceof RelayError && err.code === 'unauthorized') {
            this.#remember(parsed.appId, generation, key, { principal: null, expiresAt: this.#clock.now() + NEGATIVE_TTL_MS });
          }
          throw err;
        },
      )
      .finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, verification);
    return verification;
  }

  #remember(appId: string, generation: number, key: string, entry: CacheEntry): void {
    if ((this.#generation.get(appId) ?? 0) !== generation) return;
    if (this.#entries.size >= MAX_ENTRIES) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, entry);
  }

  invalidateApp(appId: string): void {
    this.#generation.set(appId, (this.#generation.get(appId) ?? 0) + 1);
    // Refusals stay: a refused token never becomes valid (new tokens are fresh random strings).
    for (const [key, entry] of this.#entries) {
      if (entry.principal?.appId === appId) this.#entries.delete(key);
    }
    this.#inner.invalidateApp(appId);
  }
}
