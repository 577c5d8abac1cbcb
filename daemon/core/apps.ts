import type { AllowedAgents, App, AppCredentials, AppRegistered, AppRotated, AppShow, AppStateChange, Deleted } from '../../src/shared/api.js';
import { RelayError } from '../../src/shared/errors.js';
import { DEFAULT_RATE_LIMIT_PROFILE } from '../../src/shared/rate-limits.js';
import { PUSHER_CLOSE, type ChannelLimits } from '../../src/shared/protocol/pusher.js';
import type { AdminUpdateAppBody } from '../../src/shared/schemas.js';
import type { AppPatch, AppRecord, AppTokenRecord, DeletedAppRecord, Store } from '../store/store.js';
import { effectiveLimits } from './pusher-auth.js';
import { auditRecord, type Actor } from './audit.js';
import type { Clock } from './clock.js';
import { GraceTimers, LEADERLESS_MS } from './grace.js';
import type { ConnectionCounts, ConnectionRegistry } from './connections.js';
import type { EventLog } from './events.js';
import { bcryptHash, newAppToken, randomBase62, randomHex, type NewAppToken, type SecretBox } from './secrets.js';

export const DEFAULT_GRACE_MS = 3_600_000;
const RECENT_EVENTS = 10;

/** WebSocket close codes of the relay protocol. */
export const CLOSE_TOKEN_EXPIRED = 4001;
export const CLOSE_APP_INACTIVE = 4003;

export interface AppsDeps {
  store: Store;
  clock: Clock;
  secrets: SecretBox;
  connections: ConnectionRegistry;
  /** History, for the app's recent events. */
  events: EventLog;
  /**
   * Told after an app's status, settings, allowlist or tokens change, so that caches of it
   * drop their copies on every node; awaited, so that the change's request answers only once
   * every node can see it.
   */
  appChanged(org: string, id: string): Promise<void>;
  /** Before an app is deleted: its events in flight are settled, so that nothing waits on it afterwards. */
  appDeleting(org: string, id: string): Promise<void>;
  /** A rotation's grace period runs until `at`: the cluster's leader arms its end (`graceStarted` there). */
  graceStarted(org: string, id: string, at: number): Promise<void>;
  /** After an app is deleted (its webhooks with it): what is kept in memory of it goes, on every node. */
  appDeleted(org: string, id: string): Promise<void>;
  /** A failure with nobody to answer (the end of a grace period). */
  onError(err: unknown, what: string): void;
}

/** A change to an app: its settings and (from an admin) its channel key and secret. */
export type UpdateApp = AdminUpdateAppBody;

export interface RegisterApp {
  id: string;
  name: string;
  description?: string | null | undefined;
  /** An existing Pusher-style key and secret to keep (moving from Pusher or soketi); made afresh when absent. */
  channelKey?: string | undefined;
  channelSecret?: string | undefined;
}

/** The app lifecycle: register, update, (de)activate, rotate, and the views of an app. */
export class AppService {
  readonly #deps: AppsDeps;
  readonly #grace: GraceTimers;

  constructor(deps: AppsDeps) {
    this.#deps = deps;
    this.#grace = new GraceTimers(deps.clock);
  }

  /**
   * The cluster's leader ends the grace periods: every one still running is armed here (at
   * start, or when a leader died), and those that ended while no node led end now.
   */
  async lead(): Promise<void> {
    this.#grace.lead();
    for (const token of await this.#deps.store.listTokensInGrace(this.#deps.clock.now() - LEADERLESS_MS)) {
      if (token.validUntil !== null) this.#scheduleGraceEnd(token.org, token.appId, token.validUntil);
    }
  }

  follow(): void {
    this.#grace.follow();
  }

  /** A rotation on any node: the leader arms its end (told by graceStarted). */
  graceStarted(org: string, id: string, at: number): void {
    this.#scheduleGraceEnd(org, id, at);
  }

  async register(actor: Actor, org: string, input: RegisterApp): Promise<AppRegistered> {
    const { store, clock, secrets } = this.#deps;
    await this.#requireOrg(org);
    // A new app under a deleted app's id would read the old app's history as its own.
    const deleted = await store.getDeletedApp(org, input.id);
    if (deleted && deleted.purgedAt === null && !(await store.getApp(org, input.id))) {
      throw new RelayError('conflict', `app id "${input.id}" belonged to an app deleted on ${new Date(deleted.deletedAt).toISOString()}, whose history is kept; a new app with that id would read it`, {
        details: { deletedAt: new Date(deleted.deletedAt).toISOString() },
        hint: `choose another id, or purge the old app's history first: relay apps delete ${input.id}${orgFlag(org)} --purge`,
      });
    }
    const now = clock.now();
    const issued = newAppToken(input.id);
    const record: AppRecord = {
      org,
      id: input.id,
      name: input.name,
      description: input.description ?? null,
      status: 'active',
      createdAt: now,
      lastConnectedAt: null,
      rateLimitProfile: DEFAULT_RATE_LIMIT_PROFILE,
      channelKey: input.channelKey ?? randomHex(10),
      channelSecretEnc: secrets.seal(input.channelSecret ?? randomHex(20)),
      clientEvents: false,
      subscriptionCount: false,
      channelLimits: {},
    };
    const token = await this.#newTokenRecord(org, input.id, issued, now);
    await store.insertApp(record, token, auditRecord(clock, actor, 'app.register', { org, type: 'app', id: input.id }, { name: input.name, ...keptCredentials(input) }));
    // A node may still hold what it knew of an app deleted under this id.
    await this.#deps.appChanged(org, input.id);
    return { app: await this.#toApp(record), secret: issued.token };
  }

  async list(org: string): Promise<App[]> {
    await this.#requireOrg(org);
    const records = await this.#deps.store.listApps(org);
    const counts = await this.#deps.connections.counts({ org });
    return Promise.all(records.map((record) => this.#toApp(record, counts)));
  }

  async show(org: string, id: string): Promise<AppShow> {
    const app = await this.#toApp(await this.#require(org, id));
    const recent = await this.#deps.events.list(org, { appId: id, limit: RECENT_EVENTS });
    return { app, recentEvents: recent.events };
  }

  /**
   * `channelLimits` is a change: a number sets that limit, null puts it back to its default.
   * A new channel key closes the subscribers connected with the old one (4001, as an unknown
   * key is refused); a new channel secret is in force at once, as after `rotate --channel-secret`.
   */
  async update(actor: Actor, org: string, id: string, change: UpdateApp): Promise<App> {
    const current = await this.#require(org, id);
    const { channelLimits, channelKey, channelSecret, ...rest } = change;
    const patch: AppPatch = { ...rest };
    const audited: Record<string, unknown> = { ...rest, ...keptCredentials({ channelKey, channelSecret }) };
    if (channelLimits !== undefined) {
      const limits: Partial<ChannelLimits> = { ...current.channelLimits };
      for (const [key, value] of Object.entries(channelLimits) as [keyof ChannelLimits, number | null | undefined][]) {
        if (value === null) delete limits[key];
        else if (value !== undefined) limits[key] = value;
      }
      patch.channelLimits = limits;
      audited.channelLimits = limits;
    }
    if (channelKey !== undefined) patch.channelKey = channelKey;
    if (channelSecret !== undefined) patch.channelSecretEnc = this.#deps.secrets.seal(channelSecret);
    const updated = await this.#deps.store.updateApp(org, id, patch, auditRecord(this.#deps.clock, actor, 'app.update', { org, type: 'app', id }, audited));
    if (!updated) throw appNotFound(org, id);
    await this.#deps.appChanged(org, id);
    if (channelKey !== undefined && channelKey !== current.channelKey) {
      await this.#deps.connections.closeOwner({ role: 'channel', org, ownerId: id, keepCredentials: [channelKey], code: PUSHER_CLOSE.appNotFound, reason: 'the app key changed' });
    }
    return this.#toApp(updated);
  }

  async deactivate(actor: Actor, org: string, id: string): Promise<AppStateChange> {
    const current = await this.#require(org, id);
    if (current.status === 'inactive') return { app: await this.#toApp(current), changed: false };
    const updated = await this.#deps.store.setAppStatus(org, id, 'inactive', auditRecord(this.#deps.clock, actor, 'app.deactivate', { org, type: 'app', id }));
    if (!updated) throw appNotFound(org, id);
    await this.#deps.appChanged(org, id);
    await this.#deps.connections.closeOwner({ role: 'app', org, ownerId: id, keepCredentials: null, code: CLOSE_APP_INACTIVE, reason: 'app deactivated' });
    await this.#deps.connections.closeOwner({ role: 'channel', org, ownerId: id, keepCredentials: null, code: PUSHER_CLOSE.appDisabled, reason: 'app deactivated' });
    return { app: await this.#toApp(updated), changed: true };
  }

  /**
   * Deletes an inactive app: its tokens, API tokens, webhooks and allowlist go; its history
   * stays, and its id stays taken so that no new app reads that history, unless `purge`.
   * Deleting a deleted app again changes nothing, or purges its history if asked to.
   */
  async delete(actor: Actor, org: string, id: string, options: { purge: boolean }): Promise<Deleted> {
    const { store, clock } = this.#deps;
    const app = await store.getApp(org, id);
    if (!app) {
      await this.#requireOrg(org);
      const deleted = await store.getDeletedApp(org, id);
      if (!deleted) throw appNotFound(org, id);
      if (!options.purge || deleted.purgedAt !== null) return toDeleted(deleted, 0, false);
      const purged = await store.purgeDeletedApp(org, id, clock.now(), auditRecord(clock, actor, 'app.purge', { org, type: 'app', id }));
      if (!purged) throw appNotFound(org, id);
      return toDeleted(purged.deleted, purged.purgedEvents, true);
    }
    if (app.status === 'active') {
      throw new RelayError('conflict', `app "${id}" is active: deactivate it before deleting it`, { hint: `relay apps deactivate ${id}${orgFlag(org)}` });
    }
    await this.#deps.appDeleting(org, id);
    const result = await store.deleteApp(org, id, { at: clock.now(), purge: options.purge }, auditRecord(clock, actor, 'app.delete', { org, type: 'app', id }, { purge: options.purge }));
    if (!result) throw appNotFound(org, id);
    await this.#deps.appChanged(org, id);
    await this.#deps.appDeleted(org, id);
    return toDeleted(result.deleted, result.purgedEvents, true);
  }

  async activate(actor: Actor, org: string, id: string): Promise<AppStateChange> {
    const current = await this.#require(org, id);
    if (current.status === 'active') return { app: await this.#toApp(current), changed: false };
    const updated = await this.#deps.store.setAppStatus(org, id, 'active', auditRecord(this.#deps.clock, actor, 'app.activate', { org, type: 'app', id }));
    if (!updated) throw appNotFound(org, id);
    await this.#deps.appChanged(org, id);
    return { app: await this.#toApp(updated), changed: true };
  }

  async rotate(actor: Actor, org: string, id: string, graceMs: number): Promise<AppRotated> {
    const { store, clock } = this.#deps;
    await this.#require(org, id);
    const now = clock.now();
    const issued = newAppToken(id);
    const token = await this.#newTokenRecord(org, id, issued, now);
    const graceUntil = now + graceMs;
    await store.rotateAppToken(token, graceUntil, now, auditRecord(clock, actor, 'app.rotate', { org, type: 'app', id }, { graceMs }));
    await this.#deps.appChanged(org, id);
    await this.#deps.graceStarted(org, id, graceUntil);
    return { app: await this.#toApp(await this.#require(org, id)), secret: issued.token, previousValidUntil: new Date(graceUntil).toISOString() };
  }

  async credentials(actor: Actor, org: string, id: string): Promise<AppCredentials> {
    const app = await this.#require(org, id);
    await this.#deps.store.insertAudit(auditRecord(this.#deps.clock, actor, 'app.credentials.read', { org, type: 'app', id }));
    return { appId: app.id, key: app.channelKey, secret: this.#deps.secrets.open(app.channelSecretEnc) };
  }

  /** A new channel secret, at once: Pusher signatures made with the old one stop verifying. */
  async rotateChannelSecret(actor: Actor, org: string, id: string): Promise<AppCredentials> {
    await this.#require(org, id);
    const secret = randomHex(20);
    const updated = await this.#deps.store.setAppChannelSecret(
      org,
      id,
      this.#deps.secrets.seal(secret),
      auditRecord(this.#deps.clock, actor, 'app.rotate-channel-secret', { org, type: 'app', id }),
    );
    if (!updated) throw appNotFound(org, id);
    await this.#deps.appChanged(org, id);
    return { appId: id, key: updated.channelKey, secret };
  }

  /** Adds agents to the app's allowlist (they must exist in its organization). */
  async allow(actor: Actor, org: string, id: string, agents: string[]): Promise<AllowedAgents> {
    await this.#require(org, id);
    await this.#requireAgents(org, agents);
    const allowed = await this.#deps.store.changeAllowedAgents(org, id, { add: agents, remove: [] }, auditRecord(this.#deps.clock, actor, 'app.allow', { org, type: 'app', id }, { agents }));
    await this.#deps.appChanged(org, id);
    return { appId: id, allowedAgents: allowed };
  }

  /** Removes agents from the allowlist; an emptied list allows every agent of the organization again. */
  async disallow(actor: Actor, org: string, id: string, agents: string[]): Promise<AllowedAgents> {
    await this.#require(org, id);
    const allowed = await this.#deps.store.changeAllowedAgents(org, id, { add: [], remove: agents }, auditRecord(this.#deps.clock, actor, 'app.disallow', { org, type: 'app', id }, { agents }));
    await this.#deps.appChanged(org, id);
    return { appId: id, allowedAgents: allowed };
  }

  /** not_found unless the app exists. */
  async require(org: string, id: string): Promise<void> {
    await this.#require(org, id);
  }

  async #requireAgents(org: string, agents: string[]): Promise<void> {
    const missing: string[] = [];
    for (const agent of agents) if (!(await this.#deps.store.getAgent(org, agent))) missing.push(agent);
    if (missing.length > 0) {
      throw new RelayError('not_found', `no agent ${missing.map((a) => `"${a}"`).join(', ')} in organization "${org}"`, { hint: 'register it first with `relay agents register`' });
    }
  }

  async recordConnected(org: string, id: string): Promise<void> {
    await this.#deps.store.setAppLastConnected(org, id, this.#deps.clock.now());
  }

  #scheduleGraceEnd(org: string, appId: string, at: number): void {
    this.#grace.schedule(`${org}/${appId}`, at, () => this.#endGrace(org, appId).catch((err: unknown) => this.#deps.onError(err, `could not end the grace period of app ${appId}`)));
  }

  /** Closes (4001) the app's sockets whose token is no longer valid. */
  async #endGrace(org: string, appId: string): Promise<void> {
    const valid = (await this.#deps.store.findValidAppTokens(appId, this.#deps.clock.now())).filter((t) => t.org === org).map((t) => t.id);
    await this.#deps.appChanged(org, appId);
    await this.#deps.connections.closeOwner({ role: 'app', org, ownerId: appId, keepCredentials: valid, code: CLOSE_TOKEN_EXPIRED, reason: 'token expired' });
  }

  async #newTokenRecord(org: string, appId: string, issued: NewAppToken, now: number): Promise<AppTokenRecord> {
    return { id: `atk_${randomBase62(16)}`, org, appId, lookupId: issued.lookupId, hash: await bcryptHash(issued.secret), createdAt: now, validUntil: null };
  }

  async #requireOrg(org: string): Promise<void> {
    if (!(await this.#deps.store.getOrg(org))) throw new RelayError('not_found', `organization "${org}" not found`);
  }

  async #require(org: string, id: string): Promise<AppRecord> {
    const app = await this.#deps.store.getApp(org, id);
    if (app) return app;
    await this.#requireOrg(org);
    const deleted = await this.#deps.store.getDeletedApp(org, id);
    if (deleted) {
      throw new RelayError('app_deleted', `app "${id}" was deleted on ${new Date(deleted.deletedAt).toISOString()}`, {
        hint: deleted.purgedAt === null ? `its history is kept: relay events list --app ${id}${orgFlag(org)}` : 'its history was purged too',
      });
    }
    throw appNotFound(org, id);
  }

  /** `counts`: the cluster's, asked once for a whole list; asked for this app alone otherwise. */
  async #toApp(record: AppRecord, counts?: ConnectionCounts): Promise<App> {
    const now = this.#deps.clock.now();
    const graceEnds = (await this.#deps.store.findValidAppTokens(record.id, now))
      .filter((t) => t.org === record.org && t.validUntil !== null)
      .map((t) => t.validUntil as number);
    const counted = counts ?? (await this.#deps.connections.counts({ org: record.org, ownerId: record.id }));
    const connections = counted.of('app', record.org, record.id);
    const channelConnections = counted.of('channel', record.org, record.id);
    return {
      id: record.id,
      name: record.name,
      description: record.description,
      org: record.org,
      status: record.status,
      createdAt: new Date(record.createdAt).toISOString(),
      connected: connections > 0,
      connections,
      lastConnectedAt: record.lastConnectedAt === null ? null : new Date(record.lastConnectedAt).toISOString(),
      allowedAgents: await this.#deps.store.listAllowedAgents(record.org, record.id),
      rateLimitProfile: record.rateLimitProfile,
      channelConnections,
      clientEvents: record.clientEvents,
      subscriptionCount: record.subscriptionCount,
      channelLimits: effectiveLimits(record),
      previousTokenValidUntil: graceEnds.length > 0 ? new Date(Math.max(...graceEnds)).toISOString() : null,
    };
  }
}

/** What the audit log keeps of a given key and secret: the key (it is public), never the secret, only that one was given. */
function keptCredentials(input: { channelKey?: string | undefined; channelSecret?: string | undefined }): Record<string, unknown> {
  return {
    ...(input.channelKey === undefined ? {} : { channelKey: input.channelKey }),
    ...(input.channelSecret === undefined ? {} : { channelSecret: 'set' }),
  };
}

const orgFlag = (org: string): string => (org === 'default' ? '' : ` --org ${org}`);

function toDeleted(record: DeletedAppRecord, purgedEvents: number, changed: boolean): Deleted {
  return { id: record.id, org: record.org, deletedAt: new Date(record.deletedAt).toISOString(), historyKept: record.purgedAt === null, purgedEvents, changed };
}

export function appNotFound(org: string, id: string): RelayError {
  return new RelayError('not_found', `app "${id}" not found in organization "${org}"`, {
    hint: org === 'default' ? 'list the apps with `relay apps list`' : `list the apps with \`relay apps list --org ${org}\``,
  });
}
