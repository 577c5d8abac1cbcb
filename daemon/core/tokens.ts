import type { Token, TokenCreated, TokenRevoked, TokenStatus } from '../../src/shared/api.js';
import { RelayError } from '../../src/shared/errors.js';
import { isWellFormedApiToken } from '../../src/shared/api-token.js';
import { ID_PREFIX } from '../../src/shared/ids.js';
import { RATE_LIMIT_PROFILES, type RateLimit } from '../../src/shared/rate-limits.js';
import { grants, type Scope } from '../../src/shared/scopes.js';
import type { ApiTokenRecord, AppRecord, Store } from '../store/store.js';
import { auditRecord, type Actor } from './audit.js';
import type { Clock } from './clock.js';
import { CACHE_TTL_MS } from './control.js';
import type { Counters } from './metrics.js';
import { rateBucket } from './rate-limit.js';
import { fastHash, newApiToken, randomBase62 } from './secrets.js';

/** What a request authenticated with an API token may do. */
export interface ApiPrincipal {
  tokenId: string;
  org: string;
  appId: string;
  scopes: string[];
  rateLimit: RateLimit;
  /** The bucket the token's requests count against: its app's, unless it has a limit of its own. */
  rateBucket: string;
}

export interface CreateToken {
  name: string;
  description?: string | null | undefined;
  scopes: string[];
  rateLimit?: RateLimit | null | undefined;
  expiresAt?: number | null | undefined;
}

/** lastUsedAt is written in batches this often, never once per request. */
const USAGE_FLUSH_MS = 5_000;

const refused = (): RelayError => new RelayError('unauthorized', 'invalid token');

/**
 * Scoped API tokens: issue, list, revoke, rotate, and the hot-path check of every public
 * API request (format and checksum before any lookup, then a cache of verified records).
 */
export class TokenService {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #counters: Counters;
  readonly #tokenRevoked: (org: string, appId: string, tokenId: string) => Promise<void>;
  /**
   * Verified tokens by secret hash, with what the hot path needs of their app. Revoke and
   * rotate drop an entry on every node (`tokenRevoked`, then `forgetToken`), any change to an
   * app drops its tokens' entries, and none is kept longer than CACHE_TTL_MS.
   */
  readonly #byHash = new Map<string, { record: ApiTokenRecord; appActive: boolean; rateLimit: RateLimit; rateBucket: string; until: number }>();
  /** Bumped by every invalidation: a lookup that straddles one is not kept, being possibly older than it. */
  #generation = 0;
  readonly #pendingUse = new Map<string, number>();
  #flushTimer: NodeJS.Timeout | null = null;

  /** `tokenRevoked`: told after a token is revoked or rotated, so that every node forgets it; awaited. */
  constructor(store: Store, clock: Clock, counters: Counters, tokenRevoked: (org: string, appId: string, tokenId: string) => Promise<void>) {
    this.#store = store;
    this.#clock = clock;
    this.#counters = counters;
    this.#tokenRevoked = tokenRevoked;
  }

  start(): void {
    this.#flushTimer = setInterval(() => void this.flushUsage(), USAGE_FLUSH_MS);
    this.#flushTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.#flushTimer) clearInterval(this.#flushTimer);
    await this.flushUsage();
  }

  async flushUsage(): Promise<void> {
    if (this.#pendingUse.size === 0) return;
    const uses = [...this.#pendingUse].map(([id, at]) => ({ id, at }));
    this.#pendingUse.clear();
    await this.#store.recordApiTokenUse(uses);
  }

  async create(actor: Actor, org: string, appId: string, input: CreateToken): Promise<TokenCreated> {
    const app = await this.#requireApp(org, appId);
    const secret = newApiToken();
    const record: ApiTokenRecord = {
      id: `${ID_PREFIX.token}${randomBase62(16)}`,
      org,
      appId,
      name: input.name,
      description: input.description ?? null,
      scopes: input.scopes,
      rateLimit: input.rateLimit ?? null,
      hash: fastHash(secret),
      createdAt: this.#clock.now(),
      expiresAt: input.expiresAt ?? null,
      lastUsedAt: null,
      revokedAt: null,
    };
    await this.#store.insertApiToken(
      record,
      auditRecord(this.#clock, actor, 'token.create', { org, type: 'token', id: record.id }, { appId, name: input.name, scopes: input.scopes }),
    );
    return { token: this.#toToken(record, app), secret };
  }

  async list(org: string, appId: string): Promise<Token[]> {
    const app = await this.#requireApp(org, appId);
    return (await this.#store.listApiTokens(org, appId)).map((record) => this.#toToken(record, app));
  }

  async show(id: string): Promise<Token> {
    const record = await this.#require(id);
    return this.#toToken(record, await this.#requireApp(record.org, record.appId));
  }

  async revoke(actor: Actor, id: string): Promise<TokenRevoked> {
    const current = await this.#require(id);
    const app = await this.#requireApp(current.org, current.appId);
    if (current.revokedAt !== null) return { token: this.#toToken(current, app), changed: false };
    const revoked = await this.#store.revokeApiToken(id, this.#clock.now(), auditRecord(this.#clock, actor, 'token.revoke', { org: current.org, type: 'token', id }));
    await this.#tokenRevoked(current.org, current.appId, id);
    return { token: this.#toToken(revoked ?? current, app), changed: true };
  }

  /**
   * Same token (id, name, scopes, limit, expiry), new secret: the old secret stops working
   * at once. The id stays, so that scripts and dashboards that name it keep working.
   */
  async rotate(actor: Actor, id: string): Promise<TokenCreated> {
    const current = await this.#require(id);
    const app = await this.#requireApp(current.org, current.appId);
    if (current.revokedAt !== null) throw new RelayError('conflict', `token ${id} is revoked; create a new one with \`relay tokens create\``);
    const secret = newApiToken();
    const record: ApiTokenRecord = { ...current, hash: fastHash(secret) };
    await this.#store.rotateApiToken(id, record.hash, auditRecord(this.#clock, actor, 'token.rotate', { org: current.org, type: 'token', id }));
    await this.#tokenRevoked(current.org, current.appId, id);
    return { token: this.#toToken(record, app), secret };
  }

  /**
   * The public API's credential check. Every refusal is the same 401 (no oracle); a token
   * whose format or checksum is wrong is refused before any lookup.
   */
  async authenticate(secret: string): Promise<ApiPrincipal> {
    if (!isWellFormedApiToken(secret)) {
      this.#counters.credentialsRefusedUnchecked++;
      throw refused();
    }
    const hash = fastHash(secret);
    const now = this.#clock.now();
    let entry = this.#byHash.get(hash);
    if (entry && entry.until <= now) {
      this.#byHash.delete(hash);
      entry = undefined;
    }
    if (!entry) {
      const generation = this.#generation;
      const record = await this.#store.findApiTokenByHash(hash);
      if (!record) throw refused();
      const app = await this.#store.getApp(record.org, record.appId);
      if (!app) throw refused();
      entry = {
        record,
        appActive: app.status === 'active',
        rateLimit: effectiveLimit(record, app),
        rateBucket: record.rateLimit === null ? rateBucket.app(record.org, record.appId) : rateBucket.token(record.id),
        until: now + CACHE_TTL_MS,
      };
      if (generation === this.#generation) this.#byHash.set(hash, entry);
    }
    const { record } = entry;
    if (!entry.appActive || record.revokedAt !== null || (record.expiresAt !== null && record.expiresAt <= now)) throw refused();
    this.#pendingUse.set(record.id, now);
    return { tokenId: record.id, org: record.org, appId: record.appId, scopes: record.scopes, rateLimit: entry.rateLimit, rateBucket: entry.rateBucket };
  }

  /** Drops what the cache knows of an app's tokens (its status or default profile changed). */
  invalidateApp(org: string, appId: string): void {
    this.#generation++;
    for (const [hash, entry] of this.#byHash) {
      if (entry.record.org === org && entry.record.appId === appId) this.#byHash.delete(hash);
    }
  }

  /** Forgets every token (this node may have missed invalidations while the broker was away). */
  dropAll(): void {
    this.#generation++;
    this.#byHash.clear();
  }

  /** Drops a revoked or rotated token (found by its id: its secret's hash may be another node's to know). */
  forgetToken(tokenId: string): void {
    this.#generation++;
    for (const [hash, entry] of this.#byHash) if (entry.record.id === tokenId) this.#byHash.delete(hash);
  }

  /** Throws insufficient_scope naming the scope when the token lacks it. */
  requireScope(principal: ApiPrincipal, scope: Scope): void {
    if (!grants(principal.scopes, scope)) {
      throw new RelayError('insufficient_scope', `this token lacks the scope ${scope}`, { details: { scope } });
    }
  }

  #toToken(record: ApiTokenRecord, app: AppRecord): Token {
    const now = this.#clock.now();
    const status: TokenStatus = record.revokedAt !== null ? 'revoked' : record.expiresAt !== null && record.expiresAt <= now ? 'expired' : 'active';
    const lastUsed = Math.max(record.lastUsedAt ?? 0, this.#pendingUse.get(record.id) ?? 0);
    const limit = effectiveLimit(record, app);
    const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
    return {
      id: record.id,
      appId: record.appId,
      org: record.org,
      name: record.name,
      description: record.description,
      scopes: record.scopes,
      rateLimit: { profile: limit.profile, perMinute: limit.perMinute, burst: limit.burst, inherited: record.rateLimit === null },
      expiresAt: iso(record.expiresAt),
      createdAt: new Date(record.createdAt).toISOString(),
      lastUsedAt: lastUsed === 0 ? null : new Date(lastUsed).toISOString(),
      revokedAt: iso(record.revokedAt),
      status,
    };
  }

  async #require(id: string): Promise<ApiTokenRecord> {
    const record = await this.#store.getApiToken(id);
    if (!record) throw new RelayError('not_found', `token ${id} not found`, { hint: 'list the tokens with `relay tokens list --app ID`' });
    return record;
  }

  async #requireApp(org: string, appId: string): Promise<AppRecord> {
    const app = await this.#store.getApp(org, appId);
    if (!app) throw new RelayError('not_found', `app "${appId}" not found in organization "${org}"`);
    return app;
  }
}

function effectiveLimit(record: ApiTokenRecord, app: AppRecord): RateLimit {
  if (record.rateLimit) return record.rateLimit;
  const profile = RATE_LIMIT_PROFILES[app.rateLimitProfile];
  return { profile: app.rateLimitProfile, perMinute: profile.perMinute, burst: profile.burst };
}
