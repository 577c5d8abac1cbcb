import { afterEach, describe, expect, it, vi } from 'vitest';
import { encodeTime } from 'ulid';
import { EventLog, toEvent } from '../../daemon/core/events.js';
import { HistoryPruner } from '../../daemon/core/retention.js';
import type {
  AgentRecord,
  AgentTokenRecord,
  ApiTokenRecord,
  AppRecord,
  AppTokenRecord,
  AuditRecord,
  ChannelRuleRecord,
  EncryptionKeyRecord,
  EventRecord,
  FunctionLogRecord,
  FunctionStats,
  FunctionVersionRecord,
  NodeRecord,
  SchemaVersionRecord,
  Store,
  TimelineRecord,
  UsageCounts,
  UsageRecord,
  WebhookDeliveryRecord,
  WebhookRecord,
} from '../../daemon/store/store.js';
import { emptyUsage, mergeUsageSideBySide } from '../../daemon/store/usage.js';
import type { EventChange } from '../../src/shared/api.js';
import { RelayError } from '../../src/shared/errors.js';
import { ID_PREFIX } from '../../src/shared/ids.js';

/** A store under test: a fresh, empty one each time `open` is called. */
export interface OpenedStore {
  store: Store;
  /** Closes the store and opens the same database again, as a restart would; `close` closes what it returns. */
  reopen(): Promise<Store>;
  /** Closes the store and deletes its database. */
  close(): Promise<void>;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Times past 2^31 ms and 2^32 s would show a driver reading 64-bit integers wrongly. */
const NOW = Date.UTC(2026, 11, 4, 12);

/** Changes are numbered by EventLog; these tests number their own, increasing across the suite. */
let lastSeq = 0;
function step(at: number, type: string, state: Partial<Pick<TimelineRecord, 'status' | 'latencyMs' | 'detail'>> = {}): TimelineRecord {
  return { seq: ++lastSeq, at, type, detail: null, status: 'pending', latencyMs: null, ...state };
}

/**
 * An event id of exactly its time (core's ids are monotonic: one made after a later time
 * would carry that time, and the suites of two drivers run one after the other), ordered
 * by creation within a millisecond.
 */
let made = 0;
function newEventId(createdAt: number): string {
  return `${ID_PREFIX.event}${encodeTime(createdAt, 10)}${(++made).toString(32).toUpperCase().padStart(16, '0')}`;
}

function event(createdAt: number, fields: Partial<EventRecord> = {}): EventRecord {
  return {
    id: newEventId(createdAt),
    org: 'default',
    appId: 'acme-pm',
    kind: 'channel',
    agent: null,
    thread: null,
    name: 'e',
    status: 'delivered',
    channels: ['c'],
    payload: '{}',
    socketId: null,
    latencyMs: null,
    createdAt,
    ref: null,
    attempt: 0,
    reply: null,
    error: null,
    outcomeAt: null,
    ackedAt: null,
    keyId: null,
    ...fields,
  };
}

let audits = 0;
function audit(action: string, targetId: string, fields: Partial<AuditRecord> = {}): AuditRecord {
  return { id: `aud_${++audits}`, at: NOW, actor: 'test', action, org: 'default', targetType: 'app', targetId, details: { n: audits }, ...fields };
}

function appRecord(id: string, org = 'default', fields: Partial<AppRecord> = {}): AppRecord {
  return {
    org,
    id,
    name: id,
    description: null,
    status: 'active',
    createdAt: NOW - 10 * HOUR,
    lastConnectedAt: null,
    rateLimitProfile: 'api-heavy',
    channelKey: `k-${id}`,
    channelSecretEnc: `s-${id}`,
    clientEvents: false,
    subscriptionCount: false,
    channelLimits: {},
    ...fields,
  };
}

function appToken(appId: string, fields: Partial<AppTokenRecord> = {}): AppTokenRecord {
  return { id: `tok_${appId}`, org: 'default', appId, lookupId: null, hash: `h-${appId}`, createdAt: NOW - 10 * HOUR, validUntil: null, ...fields };
}

async function addApp(store: Store, id: string, org = 'default'): Promise<AppRecord> {
  const app = appRecord(id, org);
  await store.insertApp(app, appToken(id, { org }), audit('app.register', id, { org }));
  return app;
}

function agentRecord(id: string, fields: Partial<AgentRecord> = {}): AgentRecord {
  return { org: 'default', id, name: id, status: 'active', timeoutMs: 30_000, createdAt: NOW - 5 * HOUR, lastConnectedAt: null, schema: null, ...fields };
}

function agentToken(agentId: string, fields: Partial<AgentTokenRecord> = {}): AgentTokenRecord {
  return { id: `atk_${agentId}`, org: 'default', agentId, hash: `ah-${agentId}`, createdAt: NOW - 5 * HOUR, validUntil: null, ...fields };
}

async function addAgent(store: Store, id: string): Promise<void> {
  await store.insertAgent(agentRecord(id), agentToken(id), audit('agent.register', id, { targetType: 'agent' }));
}

function apiToken(id: string, fields: Partial<ApiTokenRecord> = {}): ApiTokenRecord {
  return {
    id,
    org: 'default',
    appId: 'acme-pm',
    name: id,
    description: null,
    scopes: ['events:publish', 'channels:read'],
    rateLimit: null,
    hash: `sha-${id}`,
    createdAt: NOW,
    expiresAt: null,
    lastUsedAt: null,
    revokedAt: null,
    ...fields,
  };
}

function webhook(id: string, fields: Partial<WebhookRecord> = {}): WebhookRecord {
  return {
    id,
    org: 'default',
    appId: 'acme-pm',
    url: `https://hooks.example/${id}`,
    events: [],
    createdAt: NOW,
    lastAttemptAt: null,
    lastStatusCode: null,
    lastError: null,
    failuresInRow: 0,
    ...fields,
  };
}

function delivery(id: string, webhookId: string, fields: Partial<WebhookDeliveryRecord> = {}): WebhookDeliveryRecord {
  return {
    id,
    webhookId,
    body: JSON.stringify({ time_ms: NOW, events: [{ name: 'channel_occupied', channel: 'c' }] }),
    eventNames: ['channel_occupied'],
    createdAt: NOW,
    status: 'pending',
    attempts: 0,
    nextAttemptAt: NOW,
    settledAt: null,
    claimedBy: 'node-a',
    claimedUntil: NOW + 10_000,
    ...fields,
  };
}

function node(id: string, fields: Partial<NodeRecord> = {}): NodeRecord {
  return { id, url: `http://127.0.0.1:${id.length}000`, broker: 'redis', version: '1.0.0', startedAt: NOW, heartbeatAt: NOW, connections: 0, ...fields };
}

/**
 * The Store port's behaviour, the same for every driver: what each method returns, in which
 * order, its conflicts, and that a change and its audit entry commit together or not at all.
 */
export function describeStore(name: string, open: () => Promise<OpenedStore>): void {
  describe(`Store contract: ${name}`, () => {
    const opened: OpenedStore[] = [];
    afterEach(async () => {
      for (const o of opened.splice(0)) await o.close();
    });

    async function fresh(): Promise<OpenedStore> {
      const o = await open();
      opened.push(o);
      return o;
    }

    async function emptyStore(): Promise<Store> {
      return (await fresh()).store;
    }

    async function storeWithApp(): Promise<Store> {
      const store = await emptyStore();
      await store.insertOrg({ id: 'default', name: 'Default', createdAt: NOW - 10 * HOUR }, null);
      await addApp(store, 'acme-pm');
      return store;
    }

    describe('admin tokens and organizations', () => {
      it('finds an admin token by its hash only', async () => {
        const store = await emptyStore();
        await store.insertAdminToken({ id: 'adm_1', hash: 'h1', createdAt: NOW });
        expect(await store.findAdminTokenByHash('h1')).toEqual({ id: 'adm_1', hash: 'h1', createdAt: NOW });
        expect(await store.findAdminTokenByHash('h2')).toBeNull();
      });

      it('lists organizations by creation, reports a taken id as a conflict, and audits with the insert', async () => {
        const store = await emptyStore();
        expect(await store.listOrgs()).toEqual([]);
        await store.insertOrg({ id: 'zeta', name: 'Zeta', createdAt: NOW }, audit('org.create', 'zeta', { targetType: 'org' }));
        await store.insertOrg({ id: 'alpha', name: 'Alpha', createdAt: NOW + 1 }, null);
        await store.insertOrg({ id: 'beta', name: 'Beta', createdAt: NOW }, null);
        expect((await store.listOrgs()).map((o) => o.id)).toEqual(['beta', 'zeta', 'alpha']);
        expect(await store.getOrg('alpha')).toEqual({ id: 'alpha', name: 'Alpha', createdAt: NOW + 1 });
        expect(await store.getOrg('nope')).toBeNull();
        await expect(store.insertOrg({ id: 'zeta', name: 'Again', createdAt: NOW }, null)).rejects.toMatchObject({ code: 'conflict', message: 'organization "zeta" exists already' });
        expect((await store.listAudit(null, 10)).map((a) => a.action)).toEqual(['org.create']);
      });
    });

    describe('apps', () => {
      it('reports an app registered twice as a conflict, and a broken reference as the error it is', async () => {
        const store = await storeWithApp();
        await expect(addApp(store, 'acme-pm')).rejects.toMatchObject({ code: 'conflict', message: 'app "acme-pm" exists already in organization "default"' });
        // Core checks the organization before it registers; were it missing, this is a bug to see, not a conflict.
        const orphan = addApp(store, 'orphan', 'no-such-org');
        await expect(orphan).rejects.toBeInstanceOf(Error);
        await expect(orphan).rejects.not.toBeInstanceOf(RelayError);
        expect(await store.getApp('no-such-org', 'orphan')).toBeNull();
      });

      it('keeps channel keys unique across organizations: a taken key is a conflict that names the key, on register and on update', async () => {
        const store = await storeWithApp();
        await store.insertOrg({ id: 'other', name: 'Other', createdAt: NOW }, null);
        // The same id in another organization is a new app, but addApp gives it the same key.
        await expect(addApp(store, 'acme-pm', 'other')).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('channel key "k-acme-pm" is already') });
        await addApp(store, 'flow', 'other');
        const change = audit('app.update', 'flow', { org: 'other' });
        await expect(store.updateApp('other', 'flow', { channelKey: 'k-acme-pm' }, change)).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('channel key "k-acme-pm"') });
        const updated = await store.updateApp('other', 'flow', { channelKey: '278d425bdf160c739803', channelSecretEnc: 'sealed' }, audit('app.update', 'flow', { org: 'other' }));
        expect(updated).toMatchObject({ channelKey: '278d425bdf160c739803', channelSecretEnc: 'sealed', name: 'flow' });
        expect((await store.getAppByChannelKey('278d425bdf160c739803'))?.id).toBe('flow');
        expect(await store.getAppByChannelKey('k-flow')).toBeNull();
      });

      it('reads an app back as it was written, and lists apps by organization and id', async () => {
        const store = await storeWithApp();
        await store.insertOrg({ id: 'aaa', name: 'A', createdAt: NOW }, null);
        const full = appRecord('billing', 'default', {
          description: 'Invoices',
          status: 'inactive',
          lastConnectedAt: NOW - HOUR,
          rateLimitProfile: 'restricted',
          clientEvents: true,
          subscriptionCount: true,
          channelLimits: { maxPresenceMembers: 50, maxConnections: null },
        });
        await store.insertApp(full, appToken('billing'), audit('app.register', 'billing'));
        await addApp(store, 'zed', 'aaa');
        expect(await store.getApp('default', 'billing')).toEqual(full);
        expect(await store.getAppByChannelKey('k-billing')).toEqual(full);
        expect(await store.getApp('aaa', 'billing')).toBeNull();
        expect((await store.listApps(null)).map((a) => `${a.org}/${a.id}`)).toEqual(['aaa/zed', 'default/acme-pm', 'default/billing']);
        expect((await store.listApps('default')).map((a) => a.id)).toEqual(['acme-pm', 'billing']);
        expect(await store.listApps('nobody')).toEqual([]);
        expect(await store.anyChannelSecret()).toMatch(/^s-/);
      });

      it('has no channel secret without apps', async () => {
        expect(await (await emptyStore()).anyChannelSecret()).toBeNull();
      });

      it('updates only the fields given (a description set to null is cleared), and returns null for an unknown app', async () => {
        const store = await storeWithApp();
        const before = (await store.getApp('default', 'acme-pm')) as AppRecord;
        const described = await store.updateApp('default', 'acme-pm', { description: 'PM tool', clientEvents: true, channelLimits: { clientEventsPerSecond: 100 } }, audit('app.update', 'acme-pm'));
        expect(described).toEqual({ ...before, description: 'PM tool', clientEvents: true, channelLimits: { clientEventsPerSecond: 100 } });
        const renamed = await store.updateApp('default', 'acme-pm', { name: 'Acme', subscriptionCount: true }, audit('app.update', 'acme-pm'));
        expect(renamed).toEqual({ ...described, name: 'Acme', subscriptionCount: true });
        const cleared = await store.updateApp('default', 'acme-pm', { description: null, clientEvents: false }, audit('app.update', 'acme-pm'));
        expect(cleared).toEqual({ ...renamed, description: null, clientEvents: false });
        expect(await store.updateApp('default', 'ghost', { name: 'x' }, audit('app.update', 'ghost'))).toBeNull();
        // Only the updates that changed an app are audited.
        expect((await store.listAudit(null, 100)).filter((a) => a.action === 'app.update').map((a) => a.targetId)).toEqual(['acme-pm', 'acme-pm', 'acme-pm']);
      });

      it('sets status and channel secret with their audit, keeps the latest connection time, and leaves unknown apps alone', async () => {
        const store = await storeWithApp();
        expect(await store.setAppStatus('default', 'acme-pm', 'inactive', audit('app.deactivate', 'acme-pm'))).toMatchObject({ id: 'acme-pm', status: 'inactive' });
        expect(await store.setAppStatus('default', 'ghost', 'inactive', audit('app.deactivate', 'ghost'))).toBeNull();
        expect(await store.setAppChannelSecret('default', 'acme-pm', 'sealed-2', audit('app.rotate-secret', 'acme-pm'))).toMatchObject({ channelSecretEnc: 'sealed-2' });
        expect(await store.setAppChannelSecret('default', 'ghost', 'x', audit('app.rotate-secret', 'ghost'))).toBeNull();
        await store.setAppLastConnected('default', 'acme-pm', NOW);
        await store.setAppLastConnected('default', 'acme-pm', NOW - HOUR);
        await store.setAppLastConnected('default', 'ghost', NOW);
        expect((await store.getApp('default', 'acme-pm'))?.lastConnectedAt).toBe(NOW);
        expect((await store.listAudit(null, 10)).map((a) => a.targetId)).toEqual(['acme-pm', 'acme-pm', 'acme-pm']);
      });

      it('commits a change with its audit entry or neither: an audit entry that cannot be written takes the change back', async () => {
        const store = await storeWithApp();
        const taken = audit('app.register', 'billing');
        await store.insertAudit(taken);
        await expect(store.insertApp(appRecord('billing'), appToken('billing'), taken)).rejects.toThrow();
        expect(await store.getApp('default', 'billing')).toBeNull();
        expect(await store.findValidAppTokens('billing', NOW)).toEqual([]);
        await expect(store.setAppStatus('default', 'acme-pm', 'inactive', taken)).rejects.toThrow();
        expect((await store.getApp('default', 'acme-pm'))?.status).toBe('active');
        // The store is still usable after a failed transaction.
        await addApp(store, 'billing');
        expect((await store.getApp('default', 'billing'))?.id).toBe('billing');
      });
    });

    describe('app tokens', () => {
      it('finds valid tokens newest first, by lookup id, and the legacy ones without', async () => {
        const store = await storeWithApp();
        const current = appToken('acme-pm', { id: 'tok_new', lookupId: 'lk_1', hash: 'hn', createdAt: NOW });
        await store.rotateAppToken(current, NOW + HOUR, NOW, audit('app.rotate', 'acme-pm'));
        expect((await store.findValidAppTokens('acme-pm', NOW)).map((t) => t.id)).toEqual(['tok_new', 'tok_acme-pm']);
        expect(await store.findAppTokenByLookupId('lk_1')).toEqual(current);
        expect(await store.findAppTokenByLookupId('lk_2')).toBeNull();
        expect((await store.findValidLegacyAppTokens('acme-pm', NOW)).map((t) => t.id)).toEqual(['tok_acme-pm']);
        // The old one's grace ends: valid until then, not after.
        expect((await store.findValidAppTokens('acme-pm', NOW + HOUR)).map((t) => t.id)).toEqual(['tok_new']);
        expect(await store.findValidLegacyAppTokens('acme-pm', NOW + HOUR)).toEqual([]);
        expect(await store.findValidAppTokens('other-app', NOW)).toEqual([]);
      });

      it('rotating again never lengthens a grace period, and lists the tokens still in grace', async () => {
        const store = await storeWithApp();
        await store.rotateAppToken(appToken('acme-pm', { id: 'tok_2', lookupId: 'lk_2', createdAt: NOW }), NOW + 2 * HOUR, NOW, audit('app.rotate', 'acme-pm'));
        await store.rotateAppToken(appToken('acme-pm', { id: 'tok_3', lookupId: 'lk_3', createdAt: NOW + 1 }), NOW + 5 * HOUR, NOW + 1, audit('app.rotate', 'acme-pm'));
        const valid = new Map((await store.findValidAppTokens('acme-pm', NOW + 1)).map((t) => [t.id, t.validUntil]));
        expect(Object.fromEntries(valid)).toEqual({ tok_3: null, tok_2: NOW + 5 * HOUR, 'tok_acme-pm': NOW + 2 * HOUR });
        expect((await store.listTokensInGrace(NOW + 3 * HOUR)).map((t) => t.id)).toEqual(['tok_2']);
        expect(await store.listTokensInGrace(NOW + 5 * HOUR)).toEqual([]);
        expect((await store.listAudit(null, 10)).filter((a) => a.action === 'app.rotate')).toHaveLength(2);
      });
    });

    describe('agents', () => {
      it('registers agents with their token, reports a taken id as a conflict, and lists them by id', async () => {
        const store = await storeWithApp();
        await addAgent(store, 'zeus');
        await addAgent(store, 'athena');
        await expect(addAgent(store, 'zeus')).rejects.toMatchObject({ code: 'conflict', message: 'agent "zeus" exists already in organization "default"' });
        expect((await store.listAgents('default')).map((a) => a.id)).toEqual(['athena', 'zeus']);
        expect(await store.getAgent('default', 'zeus')).toEqual(agentRecord('zeus'));
        expect(await store.getAgent('other', 'zeus')).toBeNull();
        expect(await store.findAgentTokenByHash('ah-zeus')).toEqual(agentToken('zeus'));
        expect(await store.findAgentTokenByHash('nope')).toBeNull();
      });

      it('sets status, keeps the latest connection, and rotates tokens with a grace period', async () => {
        const store = await storeWithApp();
        await addAgent(store, 'athena');
        expect(await store.setAgentStatus('default', 'athena', 'inactive', audit('agent.deactivate', 'athena'))).toMatchObject({ status: 'inactive' });
        expect(await store.setAgentStatus('default', 'ghost', 'inactive', audit('agent.deactivate', 'ghost'))).toBeNull();
        await store.setAgentLastConnected('default', 'athena', NOW);
        await store.setAgentLastConnected('default', 'athena', NOW - 1);
        expect((await store.getAgent('default', 'athena'))?.lastConnectedAt).toBe(NOW);
        await store.rotateAgentToken(agentToken('athena', { id: 'atk_2', hash: 'ah-2', createdAt: NOW }), NOW + HOUR, NOW, audit('agent.rotate', 'athena'));
        expect((await store.findValidAgentTokens('default', 'athena', NOW)).map((t) => t.id).sort()).toEqual(['atk_2', 'atk_athena']);
        expect((await store.findValidAgentTokens('default', 'athena', NOW + HOUR)).map((t) => t.id)).toEqual(['atk_2']);
        expect((await store.listAgentTokensInGrace(NOW)).map((t) => [t.id, t.validUntil])).toEqual([['atk_athena', NOW + HOUR]]);
        expect(await store.listAgentTokensInGrace(NOW + HOUR)).toEqual([]);
      });

      it('keeps allowlists sorted and idempotent, counts them, and refuses an unknown agent', async () => {
        const store = await storeWithApp();
        await addApp(store, 'billing');
        for (const id of ['zeus', 'athena', 'hermes']) await addAgent(store, id);
        expect(await store.listAllowedAgents('default', 'acme-pm')).toEqual([]);
        expect(await store.changeAllowedAgents('default', 'acme-pm', { add: ['zeus', 'athena', 'zeus'], remove: [] }, audit('app.allow', 'acme-pm'))).toEqual(['athena', 'zeus']);
        expect(await store.changeAllowedAgents('default', 'acme-pm', { add: ['hermes', 'athena'], remove: ['zeus', 'hermes'] }, audit('app.allow', 'acme-pm'))).toEqual(['athena']);
        await store.changeAllowedAgents('default', 'billing', { add: ['athena', 'zeus'], remove: [] }, audit('app.allow', 'billing'));
        expect(await store.listAllowedAgents('default', 'billing')).toEqual(['athena', 'zeus']);
        expect(await store.appsAllowingAgent('default', 'athena')).toEqual([
          { appId: 'acme-pm', allowed: 1 },
          { appId: 'billing', allowed: 2 },
        ]);
        expect(await store.appsAllowingAgent('default', 'hermes')).toEqual([]);
        const unknown = store.changeAllowedAgents('default', 'acme-pm', { add: ['ghost'], remove: ['athena'] }, audit('app.allow', 'acme-pm'));
        await expect(unknown).rejects.toThrow();
        // Nothing of the failed change stayed.
        expect(await store.listAllowedAgents('default', 'acme-pm')).toEqual(['athena']);
        expect((await store.listAudit(null, 10)).filter((a) => a.action === 'app.allow')).toHaveLength(3);
      });

      it('deletes an agent with its tokens and allowlist entries; with purge, the events sent to it', async () => {
        const store = await storeWithApp();
        await addAgent(store, 'athena');
        await addAgent(store, 'zeus');
        await store.changeAllowedAgents('default', 'acme-pm', { add: ['athena', 'zeus'], remove: [] }, audit('app.allow', 'acme-pm'));
        const at = NOW + 30 * DAY;
        const toAthena = [event(at, { kind: 'agent', agent: 'athena', thread: 't', status: 'pending', channels: null }), event(at + 1, { kind: 'agent', agent: 'athena', thread: 't', status: 'pending', channels: null })];
        const toZeus = event(at + 2, { kind: 'agent', agent: 'zeus', thread: 't', status: 'pending', channels: null });
        await store.writeEvents([...toAthena, toZeus].map((e) => ({ type: 'insert', event: e, timeline: [step(e.createdAt, 'accepted')] })));

        expect(await store.deleteAgent('default', 'athena', { purge: true }, audit('agent.delete', 'athena'))).toEqual({ purgedEvents: 2 });
        expect(await store.getAgent('default', 'athena')).toBeNull();
        expect(await store.findAgentTokenByHash('ah-athena')).toBeNull();
        expect(await store.listAllowedAgents('default', 'acme-pm')).toEqual(['zeus']);
        expect((await store.queryEvents('default', { limit: 10 })).map((e) => e.id)).toEqual([toZeus.id]);
        expect(await store.listTimeline(toAthena[0]?.id as string)).toEqual([]);

        expect(await store.deleteAgent('default', 'zeus', { purge: false }, audit('agent.delete', 'zeus'))).toEqual({ purgedEvents: 0 });
        expect((await store.queryEvents('default', { limit: 10 })).map((e) => e.id)).toEqual([toZeus.id]);
        expect(await store.deleteAgent('default', 'zeus', { purge: false }, audit('agent.delete', 'zeus'))).toBeNull();
        // An agent of the same name can be registered again.
        await addAgent(store, 'athena');
      });
    });

    describe('API tokens', () => {
      it('stores tokens as given, lists an app\'s by creation, and finds one by id or hash', async () => {
        const store = await storeWithApp();
        await addApp(store, 'billing');
        const limited = apiToken('api_b', { createdAt: NOW - 1, description: 'CI', rateLimit: { profile: 'custom', perMinute: 10, burst: 5 }, expiresAt: NOW + DAY });
        await store.insertApiToken(apiToken('api_c'), audit('token.create', 'api_c', { targetType: 'token' }));
        await store.insertApiToken(limited, audit('token.create', 'api_b', { targetType: 'token' }));
        await store.insertApiToken(apiToken('api_a'), audit('token.create', 'api_a', { targetType: 'token' }));
        await store.insertApiToken(apiToken('api_x', { appId: 'billing' }), audit('token.create', 'api_x', { targetType: 'token' }));
        expect((await store.listApiTokens('default', 'acme-pm')).map((t) => t.id)).toEqual(['api_b', 'api_a', 'api_c']);
        expect(await store.getApiToken('api_b')).toEqual(limited);
        expect(await store.findApiTokenByHash('sha-api_b')).toEqual(limited);
        expect(await store.getApiToken('api_z')).toBeNull();
        expect(await store.findApiTokenByHash('sha-api_z')).toBeNull();
      });

      it('revokes once (a second revoke keeps the first time and is not audited), and rotation replaces the hash', async () => {
        const store = await storeWithApp();
        await store.insertApiToken(apiToken('api_a'), audit('token.create', 'api_a', { targetType: 'token' }));
        expect(await store.revokeApiToken('api_a', NOW + 1, audit('token.revoke', 'api_a', { targetType: 'token' }))).toMatchObject({ id: 'api_a', revokedAt: NOW + 1 });
        expect(await store.revokeApiToken('api_a', NOW + 2, audit('token.revoke', 'api_a', { targetType: 'token' }))).toMatchObject({ revokedAt: NOW + 1 });
        expect(await store.revokeApiToken('api_z', NOW, audit('token.revoke', 'api_z', { targetType: 'token' }))).toBeNull();
        expect((await store.listAudit(null, 10)).filter((a) => a.action === 'token.revoke')).toHaveLength(1);
        await store.rotateApiToken('api_a', 'sha-new', audit('token.rotate', 'api_a', { targetType: 'token' }));
        expect(await store.findApiTokenByHash('sha-api_a')).toBeNull();
        expect((await store.findApiTokenByHash('sha-new'))?.id).toBe('api_a');
      });

      it('records uses in one call: the latest time of each token wins, never an earlier one', async () => {
        const store = await storeWithApp();
        await store.insertApiToken(apiToken('api_a'), audit('token.create', 'api_a', { targetType: 'token' }));
        await store.insertApiToken(apiToken('api_b'), audit('token.create', 'api_b', { targetType: 'token' }));
        await store.recordApiTokenUse([]);
        await store.recordApiTokenUse([
          { id: 'api_a', at: NOW + 5 },
          { id: 'api_b', at: NOW + 1 },
          { id: 'api_a', at: NOW + 3 },
          { id: 'api_gone', at: NOW },
        ]);
        expect((await store.getApiToken('api_a'))?.lastUsedAt).toBe(NOW + 5);
        expect((await store.getApiToken('api_b'))?.lastUsedAt).toBe(NOW + 1);
        await store.recordApiTokenUse([{ id: 'api_a', at: NOW + 4 }]);
        expect((await store.getApiToken('api_a'))?.lastUsedAt).toBe(NOW + 5);
      });
    });

    describe('history by time', () => {
      it('lists the events created since a time, and no older ones', async () => {
        const store = await storeWithApp();
        const old = event(NOW - 3 * HOUR);
        const recent = [event(NOW - 20 * 60_000), event(NOW - 60_000)];
        await store.writeEvents([old, ...recent].map((e) => ({ type: 'insert', event: e, timeline: [] })));
        const since = await store.queryEvents('default', { since: NOW - HOUR, limit: 10 });
        expect(since.map((e) => e.id)).toEqual(recent.map((e) => e.id).reverse());
        expect(await store.queryEvents('default', { appId: 'acme-pm', since: NOW - 4 * HOUR, limit: 10 })).toHaveLength(3);
      });

      it('prunes settled events past the retention and keeps the recent ones and those still owed', async () => {
        const store = await storeWithApp();
        // Event ids are monotonic: this test's times come after the previous test's.
        const now = NOW + 24 * HOUR;
        const settled = event(now - 3 * HOUR);
        const owed = event(now - 3 * HOUR, { kind: 'agent', agent: 'athena', thread: 't', status: 'pending', channels: null });
        const recent = event(now - 30 * 60_000);
        await store.writeEvents([settled, owed, recent].map((e) => ({ type: 'insert', event: e, timeline: [step(e.createdAt, 'accepted')] })));
        const pruner = new HistoryPruner({ store, clock: { now: () => now }, retentionMs: HOUR, everyMs: HOUR, onPruned: () => {}, onError: () => {} });
        expect(await pruner.prune()).toBe(1);
        const left = await store.queryEvents('default', { limit: 10 });
        expect(left.map((e) => e.id).sort()).toEqual([owed.id, recent.id].sort());
        expect(await store.listTimeline(settled.id)).toEqual([]);
        expect(await store.getEvent(settled.id)).toBeNull();
      });

      it('prunes rejected events and acked agent events, at most the limit at a time', async () => {
        const store = await storeWithApp();
        const at = NOW + 26 * HOUR;
        const prunable = [
          event(at, { kind: 'agent', agent: 'a', thread: 't', status: 'rejected', channels: null }),
          event(at + 1, { kind: 'agent', agent: 'a', thread: 't', status: 'delivered', channels: null, ackedAt: at + 2 }),
          event(at + 2),
        ];
        const owed = event(at + 3, { kind: 'agent', agent: 'a', thread: 't', status: 'delivered', channels: null });
        await store.writeEvents([...prunable, owed].map((e) => ({ type: 'insert', event: e, timeline: [] })));
        expect(await store.pruneEvents(at + HOUR, 2)).toBe(2);
        expect(await store.pruneEvents(at + HOUR, 2)).toBe(1);
        expect(await store.pruneEvents(at + HOUR, 2)).toBe(0);
        expect((await store.queryEvents('default', { limit: 10 })).map((e) => e.id)).toEqual([owed.id]);
      });
    });

    describe('history of an organization', () => {
      it('merges the events of its apps, newest first, a page at a time', async () => {
        const store = await storeWithApp();
        await addApp(store, 'billing');
        await addApp(store, 'quiet');
        const at = NOW + 48 * HOUR;
        // Interleaved: acme-pm, billing, acme-pm, billing, ...
        const events = Array.from({ length: 10 }, (_, i) => event(at + i * 1000, { appId: i % 2 === 0 ? 'acme-pm' : 'billing' }));
        await store.writeEvents(events.map((e) => ({ type: 'insert', event: e, timeline: [] })));
        const newestFirst = events.map((e) => e.id).reverse();

        const first = await store.queryEvents('default', { limit: 4 });
        expect(first.map((e) => e.id)).toEqual(newestFirst.slice(0, 4));
        const second = await store.queryEvents('default', { before: first[3]?.id, limit: 4 });
        expect(second.map((e) => e.id)).toEqual(newestFirst.slice(4, 8));
        expect((await store.queryEvents('default', { appId: 'billing', limit: 10 })).map((e) => e.appId)).toEqual(Array(5).fill('billing'));
        expect(await store.queryEvents('other-org', { limit: 10 })).toEqual([]);
      });

      it('filters by agent, thread and status, alone and together', async () => {
        const store = await storeWithApp();
        const at = NOW + 50 * HOUR;
        const agentEvent = (i: number, agent: string, thread: string, status: EventRecord['status']): EventRecord =>
          event(at + i, { kind: 'agent', agent, thread, status, channels: null });
        const events = [agentEvent(0, 'athena', 't1', 'pending'), agentEvent(1, 'athena', 't2', 'delivered'), agentEvent(2, 'zeus', 't1', 'delivered'), event(at + 3)];
        await store.writeEvents(events.map((e) => ({ type: 'insert', event: e, timeline: [] })));
        const ids = async (q: Partial<Parameters<Store['queryEvents']>[1]>, appId?: string): Promise<string[]> =>
          (await store.queryEvents('default', { limit: 10, ...q, ...(appId ? { appId } : {}) })).map((e) => e.id);
        const [a, b, c, d] = events.map((e) => e.id);
        for (const appId of [undefined, 'acme-pm']) {
          expect(await ids({ agent: 'athena' }, appId)).toEqual([b, a]);
          expect(await ids({ thread: 't1' }, appId)).toEqual([c, a]);
          expect(await ids({ status: 'delivered' }, appId)).toEqual([d, c, b]);
          expect(await ids({ agent: 'athena', status: 'delivered' }, appId)).toEqual([b]);
          expect(await ids({ agent: 'athena', thread: 't1', before: b }, appId)).toEqual([a]);
          expect(await ids({ agent: 'hermes' }, appId)).toEqual([]);
        }
      });
    });

    describe('writing a batch', () => {
      it('keeps every event of a large batch, and the changes made to them within it, in order', async () => {
        const store = await storeWithApp();
        const at = NOW + 72 * HOUR;
        // 19 new events: more than one statement's worth of rows, and some left over.
        const events = Array.from({ length: 19 }, (_, i) => event(at + i, { kind: 'agent', agent: 'athena', thread: `t${i}`, status: 'pending', channels: null, payload: JSON.stringify({ i }) }));
        const changed = events[9] as EventRecord;
        await store.writeEvents([
          ...events.map((e) => ({ type: 'insert' as const, event: e, timeline: [step(e.createdAt, 'accepted')] })),
          { type: 'update', id: changed.id, org: changed.org, appId: changed.appId, patch: { status: 'delivered', reply: '{"ok":true}', latencyMs: 7 }, timeline: [step(at + 100, 'replied', { status: 'delivered', latencyMs: 7, detail: { ms: 7 } })] },
        ]);
        const stored = await store.queryEvents('default', { limit: 100 });
        expect(stored.map((e) => e.id)).toEqual(events.map((e) => e.id).reverse());
        expect(stored.find((e) => e.thread === 't4')).toEqual(events[4]);
        expect(await store.getEvent(changed.id)).toEqual({ ...changed, status: 'delivered', reply: '{"ok":true}', latencyMs: 7 });
        expect((await store.listTimeline(changed.id)).map((t) => t.type)).toEqual(['accepted', 'replied']);
      });

      it('applies several updates of one event in order: each field as the last update that set it left it', async () => {
        const store = await storeWithApp();
        const at = NOW + 74 * HOUR;
        const e = event(at, { kind: 'agent', agent: 'athena', thread: 't', status: 'pending', channels: null });
        const accepted = step(at, 'accepted');
        const sent = step(at + 1, 'sent', { detail: { attempt: 1 } });
        const replied = step(at + 5, 'replied', { status: 'delivered', latencyMs: 5 });
        const acked = step(at + 9, 'acked', { status: 'delivered', latencyMs: 5 });
        await store.writeEvents([
          { type: 'insert', event: e, timeline: [accepted] },
          { type: 'update', id: e.id, org: e.org, appId: e.appId, patch: { attempt: 1 }, timeline: [sent] },
          { type: 'update', id: e.id, org: e.org, appId: e.appId, patch: { status: 'delivered', reply: '"hi"', outcomeAt: at + 5, latencyMs: 5 }, timeline: [replied] },
        ]);
        // Updates of an event of an earlier batch, beside a new event and its own update.
        const f = event(at + 8, { kind: 'agent', agent: 'athena', thread: 'u', status: 'pending', channels: null });
        const fAccepted = step(at + 8, 'accepted');
        const fSent = step(at + 9, 'sent');
        await store.writeEvents([
          { type: 'update', id: e.id, org: e.org, appId: e.appId, patch: { attempt: 2 }, timeline: [] },
          { type: 'insert', event: f, timeline: [fAccepted] },
          { type: 'update', id: e.id, org: e.org, appId: e.appId, patch: { ackedAt: at + 9, latencyMs: undefined }, timeline: [acked] },
          { type: 'update', id: f.id, org: f.org, appId: f.appId, patch: { attempt: 1 }, timeline: [fSent] },
        ]);
        expect(await store.getEvent(e.id)).toEqual({ ...e, status: 'delivered', attempt: 2, reply: '"hi"', outcomeAt: at + 5, latencyMs: 5, ackedAt: at + 9 });
        expect(await store.listTimeline(e.id)).toEqual([accepted, sent, replied, acked]);
        expect(await store.getEvent(f.id)).toEqual({ ...f, attempt: 1 });
        expect(await store.listTimeline(f.id)).toEqual([fAccepted, fSent]);
        expect(await store.listUnsettledEvents({ org: 'default' })).toEqual([{ ...f, attempt: 1 }]);
      });

      it('keeps payloads and names byte for byte, whatever characters they hold', async () => {
        const store = await storeWithApp();
        const at = NOW + 76 * HOUR;
        const payload = JSON.stringify({ quote: '"', backslash: '\\', braces: '{a,b}', comma: ',', null: 'NULL', emoji: '🚀', newline: 'a\nb', tab: '\t', nul: '\u0000' });
        const e = event(at, { payload, name: 'NULL', channels: ['private-{x}', 'a,b', '"q"'], socketId: '123.456', ref: '\\' });
        await store.writeEvents([{ type: 'insert', event: e, timeline: [step(at, 'published', { detail: { s: '{"}' } })] }]);
        expect(await store.getEvent(e.id)).toEqual(e);
        expect((await store.listTimeline(e.id))[0]?.detail).toEqual({ s: '{"}' });
      });

      it('writes nothing of a batch that fails', async () => {
        const store = await storeWithApp();
        const at = NOW + 78 * HOUR;
        const seq = step(at, 'published');
        const first = event(at);
        await store.writeEvents([{ type: 'insert', event: first, timeline: [seq] }]);
        const second = event(at + 1);
        // The same seq again: the timeline row cannot be written, so the event is not either.
        await expect(store.writeEvents([{ type: 'insert', event: second, timeline: [{ ...seq, at: at + 1 }] }])).rejects.toThrow();
        expect(await store.getEvent(second.id)).toBeNull();
        expect((await store.queryEvents('default', { limit: 10 })).map((x) => x.id)).toEqual([first.id]);
      });

      it('lists the agent events still owed to their app, oldest first', async () => {
        const store = await storeWithApp();
        const at = NOW + 80 * HOUR;
        const agentEvent = (i: number, fields: Partial<EventRecord>): EventRecord => event(at + i, { kind: 'agent', agent: 'athena', thread: 't', status: 'pending', channels: null, ...fields });
        const owed = [agentEvent(0, {}), agentEvent(1, { status: 'delivered', reply: '1' }), agentEvent(2, { status: 'failed', error: '{"code":"timeout"}' })];
        const settled = [agentEvent(3, { status: 'rejected' }), agentEvent(4, { status: 'delivered', ackedAt: at + 5 }), event(at + 5)];
        await store.writeEvents([...settled, ...owed].map((e) => ({ type: 'insert', event: e, timeline: [] })));
        expect(await store.listUnsettledEvents({ org: 'default' })).toEqual(owed);
        // Of one agent, of one app, of both; of another organization, none.
        await addApp(store, 'other-app');
        const other = [agentEvent(6, { agent: 'hermes' }), agentEvent(7, { appId: 'other-app', status: 'failed', error: '{}' })];
        await store.writeEvents(other.map((e) => ({ type: 'insert', event: e, timeline: [] })));
        expect(await store.listUnsettledEvents({ org: 'default', agent: 'athena' })).toEqual([...owed, other[1]]);
        expect(await store.listUnsettledEvents({ org: 'default', appId: 'other-app' })).toEqual([other[1]]);
        expect(await store.listUnsettledEvents({ org: 'default', agent: 'hermes', appId: 'acme-pm' })).toEqual([other[0]]);
        expect(await store.listUnsettledEvents({ org: 'elsewhere' })).toEqual([]);
      });
    });

    describe('changes by seq', () => {
      it('reads the changes after a seq, up to another, in order, each with the state it left its event in', async () => {
        const store = await storeWithApp();
        await addApp(store, 'billing');
        const at = NOW + 96 * HOUR;
        const a = event(at, { kind: 'agent', agent: 'athena', thread: 't1', status: 'pending', channels: null });
        const b = event(at + 1, { appId: 'billing', channels: ['news'] });
        const accepted = step(at, 'accepted');
        const published = step(at + 1, 'published', { status: 'delivered' });
        const replied = step(at + 5, 'replied', { latencyMs: 5 });
        const sent = step(at + 6, 'sent', { status: 'delivered', latencyMs: 5 });
        await store.writeEvents([
          { type: 'insert', event: a, timeline: [accepted] },
          { type: 'insert', event: b, timeline: [published] },
          { type: 'update', id: a.id, org: a.org, appId: a.appId, patch: { reply: '1', latencyMs: 5 }, timeline: [replied] },
          { type: 'update', id: a.id, org: a.org, appId: a.appId, patch: { status: 'delivered' }, timeline: [sent] },
        ]);
        const all = { after: accepted.seq - 1, upTo: sent.seq, limit: 100 };

        const changes = await store.listChanges('default', all);
        expect(changes.map((c) => [c.seq, c.type, c.status, c.latencyMs])).toEqual([
          [accepted.seq, 'accepted', 'pending', null],
          [published.seq, 'published', 'delivered', null],
          [replied.seq, 'replied', 'pending', 5],
          [sent.seq, 'sent', 'delivered', 5],
        ]);
        expect(changes[1]?.event).toEqual({ id: b.id, org: 'default', appId: 'billing', kind: 'channel', agent: null, thread: null, name: 'e', channels: ['news'], createdAt: b.createdAt });
        // The bounds: after is left out, upTo kept; a page at a time.
        expect((await store.listChanges('default', { ...all, after: accepted.seq, upTo: replied.seq })).map((c) => c.seq)).toEqual([published.seq, replied.seq]);
        expect((await store.listChanges('default', { ...all, limit: 2 })).map((c) => c.seq)).toEqual([accepted.seq, published.seq]);
        // The filters of events list; status is the one the change left.
        expect((await store.listChanges('default', { ...all, appId: 'billing' })).map((c) => c.type)).toEqual(['published']);
        expect((await store.listChanges('default', { ...all, agent: 'athena', thread: 't1' })).map((c) => c.type)).toEqual(['accepted', 'replied', 'sent']);
        expect(await store.listChanges('default', { ...all, thread: 'other' })).toEqual([]);
        expect((await store.listChanges('default', { ...all, status: 'delivered' })).map((c) => c.type)).toEqual(['published', 'sent']);
        expect(await store.listChanges('other-org', all)).toEqual([]);
      });

      it('knows the highest seq given, after its rows are pruned or purged and after a restart', async () => {
        const opened = await fresh();
        const store = opened.store;
        expect(await store.lastChangeSeq()).toBe(0);
        await store.insertOrg({ id: 'default', name: 'Default', createdAt: NOW }, null);
        await addApp(store, 'acme-pm');
        await addApp(store, 'billing');
        const at = NOW + 120 * HOUR;
        const old = event(at);
        const change = step(at, 'published', { status: 'delivered' });
        await store.writeEvents([{ type: 'insert', event: old, timeline: [change] }]);
        expect(await store.lastChangeSeq()).toBe(change.seq);
        expect(await store.pruneEvents(at + HOUR, 10)).toBe(1);
        expect(await store.lastChangeSeq()).toBe(change.seq);
        const purged = event(at + 1, { appId: 'billing' });
        const later = step(at + 1, 'published', { status: 'delivered' });
        await store.writeEvents([{ type: 'insert', event: purged, timeline: [later] }]);
        await store.setAppStatus('default', 'billing', 'inactive', audit('app.deactivate', 'billing'));
        expect(await store.deleteApp('default', 'billing', { at, purge: true }, audit('app.delete', 'billing'))).toMatchObject({ purgedEvents: 1 });
        expect(await store.lastChangeSeq()).toBe(later.seq);
        expect(await (await opened.reopen()).lastChangeSeq()).toBe(later.seq);
      });

      it('reserves blocks of seqs above every seq used or reserved, never the same one twice', async () => {
        const opened = await fresh();
        const store = opened.store;
        const first = await store.reserveChangeSeqs(100);
        expect(first).toBeGreaterThanOrEqual(1);
        expect(await store.reserveChangeSeqs(10)).toBe(first + 100);
        await store.insertOrg({ id: 'default', name: 'Default', createdAt: NOW }, null);
        await addApp(store, 'acme-pm');
        // A seq used beyond what was reserved: the next block starts above it.
        const used = first + 1000;
        await store.writeEvents([{ type: 'insert', event: event(NOW + 122 * HOUR), timeline: [{ ...step(NOW, 'published'), seq: used }] }]);
        expect(await store.reserveChangeSeqs(10)).toBe(used + 1);
        const blocks = await Promise.all(Array.from({ length: 8 }, () => store.reserveChangeSeqs(5)));
        const seqs = blocks.flatMap((b) => [0, 1, 2, 3, 4].map((i) => b + i));
        expect(new Set(seqs).size).toBe(40);
        expect(Math.min(...seqs)).toBe(used + 11);
      });

      it('follows from a seq: the changes after it from history, then live ones, each once and in order', async () => {
        const store = await storeWithApp();
        const log = new EventLog(store, (err) => {
          throw err;
        });
        await log.start();
        const at = NOW + 144 * HOUR;
        const publish = async (thread: string): Promise<EventRecord> => {
          const e = event(at, { kind: 'agent', agent: 'athena', thread, status: 'pending', channels: null });
          await log.write([{ type: 'insert', event: e, timeline: [log.change('default', { at, type: 'accepted', detail: null, status: 'pending', latencyMs: null }, () => toEvent(e))] }]);
          return e;
        };
        const first = await publish('t');
        const second = await publish('t');
        const seen = (await store.listChanges('default', { after: 0, upTo: Number.MAX_SAFE_INTEGER, limit: 1000 })).map((c) => c.seq);
        const firstSeq = seen.at(-2) as number;
        // A change held back (not yet written) when the follower comes is in its replay.
        log.hold(second, { ackedAt: at }, log.change('default', { at, type: 'acked', detail: null, status: 'pending', latencyMs: null }, () => toEvent(second)));
        const following = log.follow({ org: 'default', thread: 't' }, firstSeq);
        expect(following.after).toBe(firstSeq);
        const got: EventChange[] = [];
        let failed: unknown = null;
        following.start((c) => got.push(c), (err) => (failed = err));
        // Live while history is being read: after the replay, not before, not twice.
        const third = await publish('t');
        await publish('other');
        const last = await publish('t');
        await vi.waitFor(() => expect(got.at(-1)?.event.id).toBe(last.id));
        expect(failed).toBeNull();
        expect(got.map((c) => [c.event.id, c.type])).toEqual([
          [second.id, 'accepted'],
          [second.id, 'acked'],
          [third.id, 'accepted'],
          [last.id, 'accepted'],
        ]);
        expect(got.map((c) => c.seq)).toEqual([...got.map((c) => c.seq)].sort((x, y) => x - y));
        expect(got.map((c) => c.event.id)).not.toContain(first.id);
        // Nothing asked for, or a seq this history has not reached: live from the latest.
        expect(log.follow({ org: 'default' }, null).after).toBe(got.at(-1)?.seq);
        expect(log.follow({ org: 'default' }, 10 ** 9).after).toBe(got.at(-1)?.seq);
      });
    });

    describe('deleting an app', () => {
      async function appWithEverything(store: Store): Promise<{ events: EventRecord[] }> {
        await addAgent(store, 'athena');
        await store.changeAllowedAgents('default', 'acme-pm', { add: ['athena'], remove: [] }, audit('app.allow', 'acme-pm'));
        await store.insertApiToken(apiToken('api_a'), audit('token.create', 'api_a'));
        await store.insertWebhook(webhook('wh_1'), audit('webhook.create', 'wh_1'));
        await store.insertWebhookDeliveries([delivery('dlv_1', 'wh_1')]);
        const at = NOW + 200 * HOUR;
        const events = [event(at), event(at + 1)];
        await store.writeEvents(events.map((e) => ({ type: 'insert', event: e, timeline: [step(e.createdAt, 'published')] })));
        await store.setAppStatus('default', 'acme-pm', 'inactive', audit('app.deactivate', 'acme-pm'));
        return { events };
      }

      it('takes its tokens, webhooks, deliveries and allowlist with it, remembers it, and keeps its history', async () => {
        const store = await storeWithApp();
        await addApp(store, 'billing');
        const { events } = await appWithEverything(store);
        const result = await store.deleteApp('default', 'acme-pm', { at: NOW, purge: false }, audit('app.delete', 'acme-pm'));
        expect(result).toEqual({ deleted: { org: 'default', id: 'acme-pm', name: 'acme-pm', deletedAt: NOW, purgedAt: null }, purgedEvents: 0 });
        expect(await store.getApp('default', 'acme-pm')).toBeNull();
        expect(await store.getAppByChannelKey('k-acme-pm')).toBeNull();
        expect(await store.findValidAppTokens('acme-pm', NOW)).toEqual([]);
        expect(await store.getApiToken('api_a')).toBeNull();
        expect(await store.getWebhook('wh_1')).toBeNull();
        expect(await store.listPendingWebhookDeliveries()).toEqual([]);
        expect(await store.listAllowedAgents('default', 'acme-pm')).toEqual([]);
        expect(await store.appsAllowingAgent('default', 'athena')).toEqual([]);
        expect(await store.getDeletedApp('default', 'acme-pm')).toEqual(result?.deleted);
        expect(await store.getDeletedApp('default', 'billing')).toBeNull();
        // Its history stays, in the organization's too.
        expect((await store.queryEvents('default', { limit: 10 })).map((e) => e.id)).toEqual(events.map((e) => e.id).reverse());
        expect(await store.deleteApp('default', 'acme-pm', { at: NOW, purge: false }, audit('app.delete', 'acme-pm'))).toBeNull();
      });

      it('purges its history with the delete, or later, once', async () => {
        const store = await storeWithApp();
        await addApp(store, 'billing');
        const billingEvent = event(NOW + 201 * HOUR, { appId: 'billing' });
        await store.writeEvents([{ type: 'insert', event: billingEvent, timeline: [] }]);
        const { events } = await appWithEverything(store);
        await store.deleteApp('default', 'acme-pm', { at: NOW, purge: false }, audit('app.delete', 'acme-pm'));
        const purged = await store.purgeDeletedApp('default', 'acme-pm', NOW + 1, audit('app.purge', 'acme-pm'));
        expect(purged).toEqual({ deleted: { org: 'default', id: 'acme-pm', name: 'acme-pm', deletedAt: NOW, purgedAt: NOW + 1 }, purgedEvents: 2 });
        expect(await store.getEvent(events[0]?.id as string)).toBeNull();
        expect(await store.listTimeline(events[0]?.id as string)).toEqual([]);
        expect((await store.queryEvents('default', { limit: 10 })).map((e) => e.id)).toEqual([billingEvent.id]);
        expect(await store.purgeDeletedApp('default', 'nothing', NOW, audit('app.purge', 'nothing'))).toBeNull();

        // The id can be used again; deleting that app with purge takes its history at once.
        await addApp(store, 'acme-pm');
        const again = event(NOW + 202 * HOUR);
        await store.writeEvents([{ type: 'insert', event: again, timeline: [] }]);
        const deleted = await store.deleteApp('default', 'acme-pm', { at: NOW + 2, purge: true }, audit('app.delete', 'acme-pm'));
        expect(deleted).toEqual({ deleted: { org: 'default', id: 'acme-pm', name: 'acme-pm', deletedAt: NOW + 2, purgedAt: NOW + 2 }, purgedEvents: 1 });
        expect(await store.getDeletedApp('default', 'acme-pm')).toEqual(deleted?.deleted);
        expect((await store.queryEvents('default', { limit: 10 })).map((e) => e.id)).toEqual([billingEvent.id]);
      });
    });

    describe('webhooks', () => {
      it('lists webhooks oldest first, all or an app\'s, and reads them back as written', async () => {
        const store = await storeWithApp();
        await addApp(store, 'billing');
        const hooks = [webhook('wh_b', { createdAt: NOW + 1, events: ['channel_occupied', 'member_added'] }), webhook('wh_a', { createdAt: NOW + 1 }), webhook('wh_c', { appId: 'billing', createdAt: NOW })];
        for (const h of hooks) await store.insertWebhook(h, audit('webhook.create', h.id));
        expect((await store.listWebhooks(null)).map((h) => h.id)).toEqual(['wh_c', 'wh_a', 'wh_b']);
        expect((await store.listWebhooks({ org: 'default', appId: 'acme-pm' })).map((h) => h.id)).toEqual(['wh_a', 'wh_b']);
        expect(await store.listWebhooks({ org: 'other', appId: 'acme-pm' })).toEqual([]);
        expect(await store.getWebhook('wh_b')).toEqual(hooks[0]);
        expect(await store.getWebhook('wh_z')).toBeNull();
        expect((await store.listAudit(null, 10)).filter((a) => a.action === 'webhook.create')).toHaveLength(3);
      });

      it('keeps deliveries pending until an attempt settles them, soonest first, and records each attempt and the webhook\'s health', async () => {
        const store = await storeWithApp();
        await store.insertWebhook(webhook('wh_1'), audit('webhook.create', 'wh_1'));
        await store.insertWebhookDeliveries([]);
        await store.insertWebhookDeliveries([delivery('dlv_2', 'wh_1', { nextAttemptAt: NOW + 10 }), delivery('dlv_1', 'wh_1', { nextAttemptAt: NOW + 10 }), delivery('dlv_3', 'wh_1', { nextAttemptAt: null }), delivery('dlv_0', 'wh_1', { nextAttemptAt: NOW })]);
        expect((await store.listPendingWebhookDeliveries()).map((d) => d.id)).toEqual(['dlv_3', 'dlv_0', 'dlv_1', 'dlv_2']);

        const failedAttempt = { deliveryId: 'dlv_1', at: NOW + 10, statusCode: 500, durationMs: 12, error: 'HTTP 500', node: 'node-a' };
        await store.recordWebhookAttempt({
          attempt: failedAttempt,
          delivery: { id: 'dlv_1', status: 'pending', attempts: 1, nextAttemptAt: NOW + 1000, settledAt: null, claimedUntil: NOW + 10_010 },
          webhook: { id: 'wh_1', lastAttemptAt: NOW + 10, lastStatusCode: 500, lastError: 'HTTP 500', failuresInRow: 1 },
        });
        const okAttempt = { deliveryId: 'dlv_1', at: NOW + 1000, statusCode: 200, durationMs: 3, error: null, node: 'node-a' };
        await store.recordWebhookAttempt({
          attempt: okAttempt,
          delivery: { id: 'dlv_1', status: 'delivered', attempts: 2, nextAttemptAt: null, settledAt: NOW + 1000, claimedUntil: null },
          webhook: { id: 'wh_1', lastAttemptAt: NOW + 1000, lastStatusCode: 200, lastError: null, failuresInRow: 0 },
        });
        // An attempt whose delivery went meanwhile records nothing.
        await store.recordWebhookAttempt({
          attempt: { ...okAttempt, deliveryId: 'dlv_gone' },
          delivery: { id: 'dlv_gone', status: 'delivered', attempts: 1, nextAttemptAt: null, settledAt: NOW, claimedUntil: null },
          webhook: { id: 'wh_1', lastAttemptAt: NOW + 5000, lastStatusCode: 418, lastError: null, failuresInRow: 0 },
        });
        // Nor one made by a node that does not hold the delivery's claim.
        await store.recordWebhookAttempt({
          attempt: { ...okAttempt, deliveryId: 'dlv_2', node: 'node-b' },
          delivery: { id: 'dlv_2', status: 'delivered', attempts: 1, nextAttemptAt: null, settledAt: NOW, claimedUntil: null },
          webhook: { id: 'wh_1', lastAttemptAt: NOW + 5000, lastStatusCode: 418, lastError: null, failuresInRow: 0 },
        });
        expect(await store.getWebhook('wh_1')).toMatchObject({ lastAttemptAt: NOW + 1000, lastStatusCode: 200, lastError: null, failuresInRow: 0 });
        expect((await store.listPendingWebhookDeliveries()).map((d) => d.id)).toEqual(['dlv_3', 'dlv_0', 'dlv_2']);

        const listed = await store.listWebhookDeliveries('wh_1', 2);
        expect(listed.map((d) => d.delivery.id)).toEqual(['dlv_3', 'dlv_2']);
        expect(listed.every((d) => d.attempts.length === 0)).toBe(true);
        const all = await store.listWebhookDeliveries('wh_1', 10);
        const one = all.find((d) => d.delivery.id === 'dlv_1');
        expect(one).toEqual({ delivery: { ...delivery('dlv_1', 'wh_1'), status: 'delivered', attempts: 2, nextAttemptAt: null, settledAt: NOW + 1000, claimedUntil: null }, attempts: [failedAttempt, okAttempt] });
        expect(await store.listWebhookDeliveries('wh_none', 10)).toEqual([]);
      });

      it('prunes settled deliveries older than a time with their attempts, and deleting a webhook takes its deliveries', async () => {
        const store = await storeWithApp();
        await store.insertWebhook(webhook('wh_1'), audit('webhook.create', 'wh_1'));
        await store.insertWebhookDeliveries([
          delivery('dlv_1', 'wh_1', { status: 'delivered', settledAt: NOW, nextAttemptAt: null }),
          delivery('dlv_2', 'wh_1', { status: 'failed', settledAt: NOW + 1, nextAttemptAt: null }),
          delivery('dlv_3', 'wh_1', { status: 'delivered', settledAt: NOW + HOUR, nextAttemptAt: null }),
          delivery('dlv_4', 'wh_1'),
        ]);
        await store.recordWebhookAttempt({
          attempt: { deliveryId: 'dlv_1', at: NOW, statusCode: 200, durationMs: 1, error: null, node: 'node-a' },
          delivery: { id: 'dlv_1', status: 'delivered', attempts: 1, nextAttemptAt: null, settledAt: NOW, claimedUntil: null },
          webhook: { id: 'wh_1', lastAttemptAt: NOW, lastStatusCode: 200, lastError: null, failuresInRow: 0 },
        });
        expect(await store.pruneWebhookDeliveries(NOW + 2, 1)).toBe(1);
        expect(await store.pruneWebhookDeliveries(NOW + 2, 10)).toBe(1);
        expect(await store.pruneWebhookDeliveries(NOW + 2, 10)).toBe(0);
        expect((await store.listWebhookDeliveries('wh_1', 10)).map((d) => d.delivery.id)).toEqual(['dlv_4', 'dlv_3']);

        await store.deleteWebhook('wh_1', audit('webhook.delete', 'wh_1'));
        expect(await store.getWebhook('wh_1')).toBeNull();
        expect(await store.listWebhookDeliveries('wh_1', 10)).toEqual([]);
        expect(await store.listPendingWebhookDeliveries()).toEqual([]);
        expect((await store.listAudit(null, 1))[0]?.action).toBe('webhook.delete');
      });

      it('gives each due delivery to one claimer at a time, soonest due first, and never one whose claim is live', async () => {
        const store = await storeWithApp();
        await store.insertWebhook(webhook('wh_1'), audit('webhook.create', 'wh_1'));
        const free = { claimedBy: null, claimedUntil: null };
        await store.insertWebhookDeliveries([
          delivery('dlv_1', 'wh_1', { ...free, nextAttemptAt: NOW }),
          delivery('dlv_2', 'wh_1', { ...free, nextAttemptAt: NOW + 1000 }),
          delivery('dlv_3', 'wh_1', { ...free, nextAttemptAt: NOW + 60_000 }),
          delivery('dlv_4', 'wh_1', { ...free, nextAttemptAt: null }),
          delivery('dlv_5', 'wh_1', { claimedBy: 'node-z', claimedUntil: NOW + 5000 }),
          delivery('dlv_6', 'wh_1', { claimedBy: 'node-z', claimedUntil: NOW - 1, nextAttemptAt: NOW - 10 }),
          delivery('dlv_7', 'wh_1', { ...free, status: 'delivered', nextAttemptAt: null, settledAt: NOW }),
        ]);
        const claim = (node: string, limit: number, now = NOW) => store.claimWebhookDeliveries({ node, now, dueBy: now + 2000, until: NOW + 100_000, limit });
        const raced = await Promise.all(['node-a', 'node-b', 'node-c'].map((n) => claim(n, 2)));
        const ids = raced.flat().map((d) => d.id);
        // The due ones, the lapsed claim among them, each to one claimer only; not the live claim, the later one or the settled one.
        expect([...ids].sort()).toEqual(['dlv_1', 'dlv_2', 'dlv_4', 'dlv_6']);
        for (const [i, node] of ['node-a', 'node-b', 'node-c'].entries()) {
          for (const d of raced[i] ?? []) expect(d).toMatchObject({ claimedBy: node, claimedUntil: NOW + 100_000, status: 'pending' });
          expect(raced[i]?.map((d) => d.id)).toEqual([...(raced[i] ?? [])].sort((a, b) => (a.nextAttemptAt ?? -Infinity) - (b.nextAttemptAt ?? -Infinity)).map((d) => d.id));
        }
        expect(await claim('node-d', 10, NOW + 1)).toEqual([]);
        // Later: dlv_3 is due, dlv_5's claim has lapsed; soonest due first.
        expect((await claim('node-d', 10, NOW + 58_500)).map((d) => d.id)).toEqual(['dlv_5', 'dlv_3']);
      });

      it('never gives one delivery to two of many claimers racing for it', async () => {
        const store = await storeWithApp();
        await store.insertWebhook(webhook('wh_1'), audit('webhook.create', 'wh_1'));
        const ids = Array.from({ length: 60 }, (_, i) => `dlv_${String(i).padStart(2, '0')}`);
        await store.insertWebhookDeliveries(ids.map((id, i) => delivery(id, 'wh_1', { claimedBy: null, claimedUntil: null, nextAttemptAt: NOW + i })));
        const nodes = ['node-a', 'node-b', 'node-c', 'node-d', 'node-e', 'node-f'];
        const rounds = await Promise.all(nodes.flatMap((node) => [0, 1].map(() => store.claimWebhookDeliveries({ node, now: NOW, dueBy: NOW + 100, until: NOW + 10_000, limit: 7 }))));
        const claimed = rounds.flat();
        expect(claimed.length).toBe(new Set(claimed.map((d) => d.id)).size);
        expect(claimed.length).toBeLessThanOrEqual(60);
        const rest = await store.claimWebhookDeliveries({ node: 'node-z', now: NOW, dueBy: NOW + 100, until: NOW + 10_000, limit: 100 });
        expect([...claimed, ...rest].map((d) => d.id).sort()).toEqual(ids);
        // Each stored as claimed by the node that got it.
        const stored = new Map((await store.listPendingWebhookDeliveries()).map((d) => [d.id, d.claimedBy]));
        for (const d of [...claimed, ...rest]) expect(stored.get(d.id)).toBe(d.claimedBy);
      });

      it('renews a claim for its holder only, hands a lapsed one over, and frees the claims of a node that stops', async () => {
        const store = await storeWithApp();
        await store.insertWebhook(webhook('wh_1'), audit('webhook.create', 'wh_1'));
        await store.insertWebhookDeliveries([
          delivery('dlv_1', 'wh_1', { claimedBy: 'node-a', claimedUntil: NOW + 10_000 }),
          delivery('dlv_2', 'wh_1', { claimedBy: 'node-a', claimedUntil: NOW + 10_000 }),
          delivery('dlv_3', 'wh_1', { claimedBy: 'node-b', claimedUntil: NOW + 10_000 }),
        ]);
        const claim = (node: string, now: number) => store.claimWebhookDeliveries({ node, now, dueBy: now, until: now + 10_000, limit: 10 });
        expect((await store.renewWebhookClaims('node-a', ['dlv_1', 'dlv_2', 'dlv_3', 'dlv_none'], NOW + 20_000)).sort()).toEqual(['dlv_1', 'dlv_2']);
        expect(await store.renewWebhookClaims('node-a', [], NOW + 20_000)).toEqual([]);
        // Renewed: not free where the first claim would have lapsed; dlv_3 was not, and is.
        expect((await claim('node-c', NOW + 15_000)).map((d) => d.id)).toEqual(['dlv_3']);
        expect(await store.renewWebhookClaims('node-b', ['dlv_3'], NOW + 30_000)).toEqual([]);

        // An attempt that gives its claim up (its next try is left to the poll): no longer renewed, free at once.
        await store.recordWebhookAttempt({
          attempt: { deliveryId: 'dlv_2', at: NOW + 16_000, statusCode: 500, durationMs: 5, error: 'answered 500', node: 'node-a' },
          delivery: { id: 'dlv_2', status: 'pending', attempts: 1, nextAttemptAt: NOW + 30_000, settledAt: null, claimedUntil: null },
          webhook: { id: 'wh_1', lastAttemptAt: NOW + 16_000, lastStatusCode: 500, lastError: 'answered 500', failuresInRow: 1 },
        });
        expect(await store.renewWebhookClaims('node-a', ['dlv_1', 'dlv_2'], NOW + 22_000)).toEqual(['dlv_1']);
        expect((await store.claimWebhookDeliveries({ node: 'node-b', now: NOW + 16_000, dueBy: NOW + 30_000, until: NOW + 26_000, limit: 10 })).map((d) => d.id)).toEqual(['dlv_2']);

        // node-a stops renewing: dlv_1 lapses and goes to node-c; node-a's renewal and its late attempt no longer count.
        expect((await claim('node-c', NOW + 22_001)).map((d) => d.id)).toEqual(['dlv_1']);
        expect(await store.renewWebhookClaims('node-a', ['dlv_1'], NOW + 60_000)).toEqual([]);
        await store.recordWebhookAttempt({
          attempt: { deliveryId: 'dlv_1', at: NOW + 22_002, statusCode: 200, durationMs: 5, error: null, node: 'node-a' },
          delivery: { id: 'dlv_1', status: 'delivered', attempts: 1, nextAttemptAt: null, settledAt: NOW + 22_002, claimedUntil: null },
          webhook: { id: 'wh_1', lastAttemptAt: NOW + 22_002, lastStatusCode: 200, lastError: null, failuresInRow: 0 },
        });
        const byId = async (id: string) => (await store.listPendingWebhookDeliveries()).find((d) => d.id === id);
        expect(await byId('dlv_1')).toMatchObject({ status: 'pending', attempts: 0, claimedBy: 'node-c', claimedUntil: NOW + 32_001 });
        expect((await store.listWebhookDeliveries('wh_1', 10)).find((d) => d.delivery.id === 'dlv_1')?.attempts).toEqual([]);

        // A node that stops frees its own claims; on a store nobody else shares, a starting node frees everyone's.
        const later = (node: string) => store.claimWebhookDeliveries({ node, now: NOW + 23_000, dueBy: NOW + 60_000, until: NOW + 33_000, limit: 10 });
        await store.releaseWebhookClaims('node-c');
        expect((await later('node-d')).map((d) => d.id).sort()).toEqual(['dlv_1', 'dlv_3']);
        expect(await later('node-e')).toEqual([]);
        await store.releaseWebhookClaims(null);
        expect((await later('node-e')).map((d) => d.id).sort()).toEqual(['dlv_1', 'dlv_2', 'dlv_3']);
      });
    });

    describe('audit', () => {
      it('lists entries newest first (in the order written), since a time, up to a limit, as written', async () => {
        const store = await emptyStore();
        const entries = [
          audit('a.one', 'x', { at: NOW }),
          audit('a.two', 'x', { at: NOW + 10, org: null, details: { nested: { list: [1, 'two'] }, flag: true } }),
          // Written later with an earlier time: the order is the writing's.
          audit('a.three', 'x', { at: NOW + 5 }),
        ];
        for (const entry of entries) await store.insertAudit(entry);
        expect(await store.listAudit(null, 10)).toEqual([...entries].reverse());
        expect((await store.listAudit(NOW + 5, 10)).map((a) => a.action)).toEqual(['a.three', 'a.two']);
        expect((await store.listAudit(null, 1)).map((a) => a.action)).toEqual(['a.three']);
      });
    });

    describe('settings and nodes', () => {
      it('claims a setting once: the first value stays, and every claim returns it', async () => {
        const store = await emptyStore();
        expect(await store.claimSetting('master_key_fingerprint', 'aaa')).toBe('aaa');
        expect(await store.claimSetting('master_key_fingerprint', 'bbb')).toBe('aaa');
        const raced = await Promise.all(['c1', 'c2', 'c3', 'c4'].map((v) => store.claimSetting('other', v)));
        expect(new Set(raced).size).toBe(1);
        expect(['c1', 'c2', 'c3', 'c4']).toContain(raced[0]);
      });

      it('registers nodes and refreshes them, lists those heard from since a time, and drops the silent ones', async () => {
        const store = await emptyStore();
        await store.upsertNode(node('node-b', { heartbeatAt: NOW }));
        await store.upsertNode(node('node-a', { heartbeatAt: NOW - HOUR }));
        await store.upsertNode(node('node-c', { heartbeatAt: NOW - 2 * HOUR }));
        expect((await store.listNodes(0)).map((n) => n.id)).toEqual(['node-a', 'node-b', 'node-c']);
        const refreshed = node('node-a', { heartbeatAt: NOW + 1, connections: 42, url: 'http://10.0.0.1:7700', broker: 'memory', version: '1.1.0', startedAt: NOW - 1 });
        await store.upsertNode(refreshed);
        expect(await store.listNodes(NOW)).toEqual([refreshed, node('node-b', { heartbeatAt: NOW })]);
        expect((await store.pruneNodes(NOW)).sort()).toEqual(['node-c']);
        expect(await store.pruneNodes(NOW)).toEqual([]);
        await store.deleteNode('node-b');
        await store.deleteNode('node-z');
        expect((await store.listNodes(0)).map((n) => n.id)).toEqual(['node-a']);
      });

      it('gives a lease to one node at a time, extends it for its holder, and hands it over once it runs out', async () => {
        const store = await emptyStore();
        const raced = await Promise.all(['node-a', 'node-b', 'node-c'].map((n) => store.acquireLease('leader', n, NOW, NOW + 15_000)));
        expect(raced.filter(Boolean)).toHaveLength(1);
        const holder = ['node-a', 'node-b', 'node-c'][raced.indexOf(true)] as string;
        const other = holder === 'node-a' ? 'node-b' : 'node-a';
        expect(await store.acquireLease('leader', holder, NOW + 1000, NOW + 16_000)).toBe(true);
        expect(await store.acquireLease('leader', other, NOW + 15_500, NOW + 30_000)).toBe(false);
        expect(await store.acquireLease('agent:o:a', other, NOW, NOW + 15_000)).toBe(true);
        expect((await store.renewLeases(holder, NOW + 20_000)).sort()).toEqual(['leader']);
        expect(await store.acquireLease('leader', other, NOW + 19_000, NOW + 40_000)).toBe(false);
        // Silent past its expiry: the next node takes over, and the old holder's renewal no longer includes it.
        expect(await store.acquireLease('leader', other, NOW + 20_001, NOW + 40_000)).toBe(true);
        expect(await store.renewLeases(holder, NOW + 50_000)).toEqual([]);
        expect((await store.renewLeases(other, NOW + 50_000)).sort()).toEqual(['agent:o:a', 'leader']);
        await store.releaseLease('leader', holder);
        expect(await store.acquireLease('leader', holder, NOW + 21_000, NOW + 50_000)).toBe(false);
        await store.releaseLease('leader', other);
        expect(await store.acquireLease('leader', holder, NOW + 21_000, NOW + 50_000)).toBe(true);
        // A relayd that starts on a store none shares takes over what a crashed one held, at once.
        expect(await store.releaseOtherLeases(holder)).toEqual(['agent:o:a']);
        expect(await store.acquireLease('agent:o:a', holder, NOW + 22_000, NOW + 50_000)).toBe(true);
        expect(await store.releaseOtherLeases(holder)).toEqual([]);
      });
    });

    // ---- channel rules (issue 18) ----

    describe('channel rules', () => {
      let rules = 0;
      const rule = (fields: Partial<ChannelRuleRecord> = {}): ChannelRuleRecord => ({
        id: `chr_${String(++rules).padStart(26, '0')}`,
        org: 'default',
        appId: 'acme-pm',
        pattern: 'orders-*',
        schema: null,
        schemaEvent: null,
        clientEvents: null,
        history: null,
        retentionMs: null,
        maxMembers: null,
        createdAt: NOW,
        updatedAt: NOW,
        ...fields,
      });

      it('keeps an app’s rules with their settings, oldest first, each pattern once per app', async () => {
        const store = await storeWithApp();
        await addApp(store, 'billing');
        const orders = rule({ clientEvents: true, history: false, retentionMs: 30 * DAY, maxMembers: 5, schema: 'order', schemaEvent: 'created' });
        const exact = rule({ pattern: 'orders-1', clientEvents: false, history: true, createdAt: NOW + 1, updatedAt: NOW + 1 });
        await store.insertChannelRule(orders, audit('channel_rule.add', 'acme-pm'));
        await store.insertChannelRule(exact, audit('channel_rule.add', 'acme-pm'));
        // The same pattern in another app is that app's own.
        const theirs = rule({ appId: 'billing' });
        await store.insertChannelRule(theirs, audit('channel_rule.add', 'billing'));
        const again = store.insertChannelRule(rule(), audit('channel_rule.add', 'acme-pm', { id: 'aud_dup' }));
        await expect(again).rejects.toBeInstanceOf(RelayError);
        await expect(again).rejects.toMatchObject({ code: 'conflict' });

        expect(await store.listChannelRules('default', 'acme-pm')).toEqual([orders, exact]);
        expect(await store.listChannelRules('default', 'billing')).toEqual([theirs]);
        expect(await store.listChannelRules('default', 'nope')).toEqual([]);
        expect(await store.getChannelRule(orders.id)).toEqual(orders);
        expect(await store.getChannelRule('chr_missing')).toBeNull();
        // The refused insert left no audit entry behind.
        const actions = (await store.listAudit(null, 100)).filter((e) => e.action === 'channel_rule.add');
        expect(actions).toHaveLength(3);
        expect(actions.some((e) => e.id === 'aud_dup')).toBe(false);
      });

      it('updates what a patch gives (null resets a setting), refuses a taken pattern, and deletes', async () => {
        const store = await storeWithApp();
        const orders = rule({ history: false, retentionMs: DAY, maxMembers: 3 });
        const other = rule({ pattern: 'news' });
        await store.insertChannelRule(orders, audit('channel_rule.add', 'acme-pm'));
        await store.insertChannelRule(other, audit('channel_rule.add', 'acme-pm'));

        const updated = await store.updateChannelRule(orders.id, { history: null, maxMembers: 10, clientEvents: false }, NOW + HOUR, audit('channel_rule.update', 'acme-pm'));
        const expected = { ...orders, history: null, maxMembers: 10, clientEvents: false, updatedAt: NOW + HOUR };
        expect(updated).toEqual(expected);
        expect(await store.getChannelRule(orders.id)).toEqual(expected);
        await expect(store.updateChannelRule(orders.id, { pattern: 'news' }, NOW + 2 * HOUR, audit('channel_rule.update', 'acme-pm'))).rejects.toMatchObject({ code: 'conflict' });
        expect(await store.getChannelRule(orders.id)).toEqual(expected);
        expect(await store.updateChannelRule('chr_missing', { history: true }, NOW, audit('channel_rule.update', 'acme-pm'))).toBeNull();

        expect(await store.deleteChannelRule(orders.id, audit('channel_rule.remove', 'acme-pm'))).toEqual(expected);
        expect(await store.deleteChannelRule(orders.id, audit('channel_rule.remove', 'acme-pm'))).toBeNull();
        expect(await store.listChannelRules('default', 'acme-pm')).toEqual([other]);
        expect((await store.listAudit(null, 100)).map((e) => e.action).filter((a) => a.startsWith('channel_rule.'))).toEqual(
          expect.arrayContaining(['channel_rule.add', 'channel_rule.update', 'channel_rule.remove']),
        );
      });

      it('go with their app when it is deleted', async () => {
        const store = await storeWithApp();
        await store.insertChannelRule(rule(), audit('channel_rule.add', 'acme-pm'));
        await store.setAppStatus('default', 'acme-pm', 'inactive', audit('app.deactivate', 'acme-pm'));
        await store.deleteApp('default', 'acme-pm', { at: NOW, purge: false }, audit('app.delete', 'acme-pm'));
        expect(await store.listChannelRules('default', 'acme-pm')).toEqual([]);
      });

      it('prunes events written with their own expiry when it passes, and leaves them to it otherwise', async () => {
        const store = await storeWithApp();
        const at = NOW + 200 * HOUR;
        const short = event(at, { expiresAt: at + HOUR });
        const long = event(at + 1, { expiresAt: at + 100 * DAY });
        const plain = event(at + 2);
        await store.writeEvents([short, long, plain].map((e) => ({ type: 'insert', event: e, timeline: [step(e.createdAt, 'published', { status: 'delivered' })] })));

        // The daemon's retention (a day here) takes the plain event only: the long one keeps its 100 days.
        expect(await store.pruneEvents(at + 2 * DAY, 10)).toBe(1);
        expect(await store.getEvent(plain.id)).toBeNull();
        expect(await store.getEvent(long.id)).not.toBeNull();
        // Its own expiry takes the short one, with its timeline, before the daemon's retention would.
        expect(await store.pruneExpiredEvents(at + HOUR - 1, 10)).toBe(0);
        expect(await store.pruneExpiredEvents(at + HOUR + 1, 10)).toBe(1);
        expect(await store.getEvent(short.id)).toBeNull();
        expect(await store.listTimeline(short.id)).toEqual([]);
        expect(await store.getEvent(long.id)).not.toBeNull();

        // The pruner honours both.
        let now = at + 99 * DAY;
        const pruner = new HistoryPruner({ store, clock: { now: () => now }, retentionMs: DAY, everyMs: HOUR, onPruned: () => {}, onError: () => {} });
        expect(await pruner.prune()).toBe(0);
        now = at + 101 * DAY;
        expect(await pruner.prune()).toBe(1);
        expect(await store.getEvent(long.id)).toBeNull();
      });
    });

    // ---- encryption keys (issue 18) ----
    describe('encryption keys', () => {
      function key(id: string, fields: Partial<EncryptionKeyRecord> = {}): EncryptionKeyRecord {
        return { id, org: 'default', appId: 'acme-pm', state: 'active', material: `v1:sealed-${id}`, createdAt: NOW, rotatedAt: null, retiredAt: null, ...fields };
      }
      const K1 = `${ID_PREFIX.encryptionKey}${encodeTime(NOW, 10)}${'0'.repeat(15)}1`;
      const K2 = `${ID_PREFIX.encryptionKey}${encodeTime(NOW + 1000, 10)}${'0'.repeat(15)}2`;
      const K3 = `${ID_PREFIX.encryptionKey}${encodeTime(NOW + 2000, 10)}${'0'.repeat(15)}3`;

      it('keeps at most one active key per app: a second is a conflict, a rotation demotes the first in the same write', async () => {
        const store = await storeWithApp();
        expect(await store.insertEncryptionKey(key(K1), { rotate: false }, audit('key.create', 'acme-pm'))).toBeNull();
        const taken = audit('key.create', 'acme-pm');
        await expect(store.insertEncryptionKey(key(K2), { rotate: false }, taken)).rejects.toMatchObject({ code: 'conflict' });
        expect(await store.getEncryptionKey(K2)).toBeNull();
        expect((await store.listAudit(null, 10)).map((a) => a.id)).not.toContain(taken.id);

        const demoted = await store.insertEncryptionKey(key(K2, { createdAt: NOW + 1000 }), { rotate: true }, audit('key.rotate', 'acme-pm'));
        expect(demoted).toEqual(key(K1, { state: 'decrypt-only', rotatedAt: NOW + 1000 }));
        expect(await store.listEncryptionKeys('default', 'acme-pm')).toEqual([key(K1, { state: 'decrypt-only', rotatedAt: NOW + 1000 }), key(K2, { createdAt: NOW + 1000 })]);
        expect(await store.getEncryptionKey(K2)).toEqual(key(K2, { createdAt: NOW + 1000 }));
        // Another app's keys are its own.
        await addApp(store, 'billing');
        await store.insertEncryptionKey(key(K3, { appId: 'billing' }), { rotate: false }, audit('key.create', 'billing'));
        expect((await store.listEncryptionKeys('default', 'billing')).map((k) => k.id)).toEqual([K3]);
        expect((await store.listEncryptionKeys('default', 'acme-pm')).map((k) => k.id)).toEqual([K1, K2]);
      });

      it('retires a decrypt-only key by destroying its material, once (audited once), and never the active key', async () => {
        const store = await storeWithApp();
        await store.insertEncryptionKey(key(K1), { rotate: false }, audit('key.create', 'acme-pm'));
        await expect(store.retireEncryptionKey(K1, NOW + 5, audit('key.retire', 'acme-pm'))).rejects.toMatchObject({ code: 'conflict' });
        expect((await store.getEncryptionKey(K1))?.material).toBe(`v1:sealed-${K1}`);
        await store.insertEncryptionKey(key(K2, { createdAt: NOW + 1000 }), { rotate: true }, audit('key.rotate', 'acme-pm'));

        const retired = key(K1, { state: 'retired', material: null, rotatedAt: NOW + 1000, retiredAt: NOW + 2000 });
        expect(await store.retireEncryptionKey(K1, NOW + 2000, audit('key.retire', 'acme-pm', { at: NOW + 2000 }))).toEqual(retired);
        expect(await store.retireEncryptionKey(K1, NOW + 3000, audit('key.retire', 'acme-pm', { at: NOW + 3000 }))).toEqual(retired);
        expect((await store.listAudit(null, 10)).filter((a) => a.action === 'key.retire')).toHaveLength(1);
        expect(await store.retireEncryptionKey(K3, NOW, audit('key.retire', 'acme-pm'))).toBeNull();
      });

      it('stores the key id beside each event, and a purged app takes its keys with it', async () => {
        const store = await storeWithApp();
        await store.insertEncryptionKey(key(K1), { rotate: false }, audit('key.create', 'acme-pm'));
        const sealed = event(NOW, { keyId: K1, payload: `enc1:${K1}:AAAA` });
        await store.writeEvents([{ type: 'insert', event: sealed, timeline: [step(NOW, 'published')] }]);
        expect(await store.getEvent(sealed.id)).toEqual(sealed);
        await store.setAppStatus('default', 'acme-pm', 'inactive', audit('app.deactivate', 'acme-pm'));
        await store.deleteApp('default', 'acme-pm', { at: NOW, purge: false }, audit('app.delete', 'acme-pm'));
        // Kept with the history it reads...
        expect(await store.getEncryptionKey(K1)).not.toBeNull();
        await store.purgeDeletedApp('default', 'acme-pm', NOW + 1, audit('app.purge', 'acme-pm'));
        // ...and gone with it.
        expect(await store.getEncryptionKey(K1)).toBeNull();
        expect(await store.listEncryptionKeys('default', 'acme-pm')).toEqual([]);
      });
    });

    // ---- event schemas (issue 18) ----
    describe('event schemas', () => {
      const doc = (n: number): string => JSON.stringify({ type: 'object', properties: { n: { const: n } } });
      const version = (name: string, n: number, fields: Partial<SchemaVersionRecord> = {}): Omit<SchemaVersionRecord, 'version'> => ({
        org: 'default',
        appId: 'acme-pm',
        name,
        document: doc(n),
        createdAt: NOW + n,
        createdBy: 'admin:adm_1',
        ...fields,
      });

      it('adds version 1, numbers each update, keeps every version readable, and lists the latest of each by name', async () => {
        const store = await storeWithApp();
        expect(await store.insertSchemaVersion(version('order', 1), 'add', audit('schema.add', 'acme-pm/order'))).toEqual({ ...version('order', 1), version: 1 });
        await expect(store.insertSchemaVersion(version('order', 9), 'add', audit('schema.add', 'acme-pm/order'))).rejects.toMatchObject({ code: 'conflict' });
        expect(await store.insertSchemaVersion(version('nope', 1), 'update', audit('schema.update', 'acme-pm/nope'))).toBeNull();
        expect(await store.insertSchemaVersion(version('order', 2, { createdBy: 'token:tok_1' }), 'update', audit('schema.update', 'acme-pm/order'))).toMatchObject({ version: 2, createdBy: 'token:tok_1' });
        await store.insertSchemaVersion(version('invoice.v2', 5), 'add', audit('schema.add', 'acme-pm/invoice.v2'));
        expect(await store.getSchema('default', 'acme-pm', 'order')).toEqual({ latest: { ...version('order', 2, { createdBy: 'token:tok_1' }), version: 2 }, versions: 2, createdAt: NOW + 1 });
        expect(await store.getSchemaVersion('default', 'acme-pm', 'order', 1)).toEqual({ ...version('order', 1), version: 1 });
        expect(await store.getSchemaVersion('default', 'acme-pm', 'order', 3)).toBeNull();
        expect(await store.getSchema('default', 'billing', 'order')).toBeNull();
        expect((await store.listSchemas('default', 'acme-pm')).map((s) => [s.latest.name, s.latest.version, s.versions, s.latest.document])).toEqual([
          ['invoice.v2', 1, 1, doc(5)],
          ['order', 2, 2, doc(2)],
        ]);
        expect(await store.listSchemas('default', 'billing')).toEqual([]);
        const actions = (await store.listAudit(null, 10)).map((a) => [a.action, a.details.version]);
        expect(actions.slice(0, 3)).toEqual([['schema.add', 1], ['schema.update', 2], ['schema.add', 1]]);
      });

      it('binds agents to a schema, says who uses it, and unbinds them when it is deleted or its app is', async () => {
        const store = await storeWithApp();
        await addAgent(store, 'athena');
        await addAgent(store, 'zeus');
        await store.insertSchemaVersion(version('order', 1), 'add', audit('schema.add', 'acme-pm/order'));
        const bound = await store.updateAgent('default', 'athena', { schema: { appId: 'acme-pm', name: 'order' } }, audit('agent.update', 'athena'));
        expect(bound).toEqual(agentRecord('athena', { schema: { appId: 'acme-pm', name: 'order' } }));
        expect(await store.updateAgent('default', 'athena', { name: 'Athena', timeoutMs: 5000 }, audit('agent.update', 'athena'))).toEqual(
          agentRecord('athena', { name: 'Athena', timeoutMs: 5000, schema: { appId: 'acme-pm', name: 'order' } }),
        );
        expect(await store.updateAgent('default', 'ghost', { name: 'x' }, audit('agent.update', 'ghost'))).toBeNull();
        await store.updateAgent('default', 'zeus', { schema: { appId: 'acme-pm', name: 'order' } }, audit('agent.update', 'zeus'));
        expect(await store.agentsUsingSchema('default', 'acme-pm', 'order')).toEqual(['athena', 'zeus']);
        expect((await store.updateAgent('default', 'zeus', { schema: null }, audit('agent.update', 'zeus')))?.schema).toBeNull();
        expect(await store.agentsUsingSchema('default', 'acme-pm', 'order')).toEqual(['athena']);

        // Channel rules that bind it are unbound in the same write; a rule binding another schema is not.
        const ruleOf = (id: string, pattern: string, schema: string): ChannelRuleRecord => ({
          id, org: 'default', appId: 'acme-pm', pattern, schema, schemaEvent: schema === 'order' ? 'order-placed' : null,
          clientEvents: null, history: null, retentionMs: null, maxMembers: null, createdAt: NOW, updatedAt: NOW,
        });
        await store.insertChannelRule(ruleOf('chr_orders', 'orders-*', 'order'), audit('channel_rule.add', 'acme-pm'));
        await store.insertChannelRule(ruleOf('chr_invoices', 'invoices-*', 'invoice'), audit('channel_rule.add', 'acme-pm'));
        expect(await store.deleteSchema('default', 'acme-pm', 'order', audit('schema.remove', 'acme-pm/order'))).toEqual({ unboundAgents: ['athena'], unboundRules: ['chr_orders'] });
        expect(await store.getChannelRule('chr_orders')).toMatchObject({ schema: null, schemaEvent: null, pattern: 'orders-*' });
        expect(await store.getChannelRule('chr_invoices')).toMatchObject({ schema: 'invoice' });
        expect(await store.deleteSchema('default', 'acme-pm', 'order', audit('schema.remove', 'acme-pm/order'))).toBeNull();
        expect((await store.getAgent('default', 'athena'))?.schema).toBeNull();
        expect(await store.getSchema('default', 'acme-pm', 'order')).toBeNull();
        // Added again after removal: version 1 again.
        expect(await store.insertSchemaVersion(version('order', 7), 'add', audit('schema.add', 'acme-pm/order'))).toMatchObject({ version: 1, document: doc(7) });

        await store.updateAgent('default', 'athena', { schema: { appId: 'acme-pm', name: 'order' } }, audit('agent.update', 'athena'));
        await store.setAppStatus('default', 'acme-pm', 'inactive', audit('app.deactivate', 'acme-pm'));
        await store.deleteApp('default', 'acme-pm', { at: NOW, purge: false }, audit('app.delete', 'acme-pm'));
        expect(await store.getSchema('default', 'acme-pm', 'order')).toBeNull();
        expect((await store.getAgent('default', 'athena'))?.schema).toBeNull();
      });
    });

    // ---- edge functions (issue 19) ----
    describe('edge functions', () => {
      const MB = 1024 * 1024;
      const deploy = (name: string, n: number, fields: Partial<FunctionVersionRecord> = {}): Omit<FunctionVersionRecord, 'version'> => ({
        org: 'default',
        appId: 'acme-pm',
        name,
        source: `export default function (event) { return event; } // ${n}`,
        trigger: 'before-publish',
        channels: 'orders-*',
        event: null,
        agent: null,
        timeoutMs: 50,
        memoryBytes: 32 * MB,
        onError: 'reject',
        createdAt: NOW + n,
        createdBy: 'admin:adm_1',
        ...fields,
      });
      const NO_STATS: FunctionStats = { calls: 0, failures: 0, timeouts: 0, dropped: 0, lastFailureAt: null };
      const logLine = (name: string, n: number, fields: Partial<FunctionLogRecord> = {}): Omit<FunctionLogRecord, 'seq'> => ({
        org: 'default',
        appId: 'acme-pm',
        name,
        version: 1,
        at: NOW + n,
        node: 'node-a',
        level: 'log',
        message: `${name} line ${n}`,
        ...fields,
      });
      const messages = (logs: FunctionLogRecord[]): string[] => logs.map((l) => l.message);

      it('numbers each deploy, makes it active, keeps every version readable, and lists versions without their source', async () => {
        const store = await storeWithApp();
        const v1 = deploy('redact', 1);
        expect(await store.insertFunctionVersion(v1, audit('function.deploy', 'acme-pm/redact'))).toEqual({
          active: { ...v1, version: 1 },
          latestVersion: 1,
          versions: 1,
          createdAt: NOW + 1,
          stats: NO_STATS,
        });
        const v2 = deploy('redact', 2, { trigger: 'before-dispatch', channels: null, event: 'order.created', agent: 'athena', timeoutMs: 200, memoryBytes: 256 * MB, onError: 'pass', createdBy: 'token:tok_1' });
        expect(await store.insertFunctionVersion(v2, audit('function.deploy', 'acme-pm/redact'))).toMatchObject({ active: { ...v2, version: 2 }, latestVersion: 2, versions: 2 });
        const v3 = deploy('redact', 3, { source: 'export default (e) => ({ ...e, data: null });\n// ünïcødé ✓' });
        const third = await store.insertFunctionVersion(v3, audit('function.deploy', 'acme-pm/redact'));
        expect(third).toEqual({ active: { ...v3, version: 3 }, latestVersion: 3, versions: 3, createdAt: NOW + 1, stats: NO_STATS });
        expect(await store.getFunction('default', 'acme-pm', 'redact')).toEqual(third);

        expect(await store.getFunctionVersion('default', 'acme-pm', 'redact', 1)).toEqual({ ...v1, version: 1 });
        expect(await store.getFunctionVersion('default', 'acme-pm', 'redact', 2)).toEqual({ ...v2, version: 2 });
        expect(await store.getFunctionVersion('default', 'acme-pm', 'redact', 4)).toBeNull();
        expect(await store.listFunctionVersions('default', 'acme-pm', 'redact')).toEqual([
          { ...v1, version: 1, source: '' },
          { ...v2, version: 2, source: '' },
          { ...v3, version: 3, source: '' },
        ]);
        expect(await store.listFunctionVersions('default', 'acme-pm', 'nope')).toEqual([]);
        expect(await store.getFunction('default', 'acme-pm', 'nope')).toBeNull();
        expect(await store.getFunction('default', 'billing', 'redact')).toBeNull();
        const deploys = (await store.listAudit(null, 10)).filter((a) => a.action === 'function.deploy').map((a) => a.details.version);
        expect(deploys).toEqual([3, 2, 1]);
      });

      it('lists an app\'s functions oldest first, then by name, each with its active version', async () => {
        const store = await storeWithApp();
        await addApp(store, 'billing');
        await store.insertFunctionVersion(deploy('zeta', 10), audit('function.deploy', 'acme-pm/zeta'));
        await store.insertFunctionVersion(deploy('alpha', 20), audit('function.deploy', 'acme-pm/alpha'));
        await store.insertFunctionVersion(deploy('beta', 10), audit('function.deploy', 'acme-pm/beta'));
        // A later version does not move a function: it runs where its first deploy put it.
        await store.insertFunctionVersion(deploy('zeta', 30, { channels: 'invoices-*' }), audit('function.deploy', 'acme-pm/zeta'));
        await store.insertFunctionVersion(deploy('other', 1, { appId: 'billing' }), audit('function.deploy', 'billing/other'));
        const listed = await store.listFunctions('default', 'acme-pm');
        expect(listed.map((f) => [f.active.name, f.active.version, f.latestVersion, f.versions, f.createdAt, f.active.channels])).toEqual([
          ['beta', 1, 1, 1, NOW + 10, 'orders-*'],
          ['zeta', 2, 2, 2, NOW + 10, 'invoices-*'],
          ['alpha', 1, 1, 1, NOW + 20, 'orders-*'],
        ]);
        expect(listed[1]?.active.source).toBe(deploy('zeta', 30).source);
        expect((await store.listFunctions('default', 'billing')).map((f) => f.active.name)).toEqual(['other']);
        expect(await store.listFunctions('default', 'nope')).toEqual([]);
      });

      it('rolls back to an earlier version; the next deploy is numbered after the latest and runs', async () => {
        const store = await storeWithApp();
        for (const n of [1, 2, 3]) await store.insertFunctionVersion(deploy('redact', n), audit('function.deploy', 'acme-pm/redact'));
        const rolled = await store.setActiveFunctionVersion('default', 'acme-pm', 'redact', 1, audit('function.rollback', 'acme-pm/redact'));
        expect(rolled).toEqual({ active: { ...deploy('redact', 1), version: 1 }, latestVersion: 3, versions: 3, createdAt: NOW + 1, stats: NO_STATS });
        expect((await store.getFunction('default', 'acme-pm', 'redact'))?.active.version).toBe(1);
        expect((await store.listAudit(null, 1))[0]?.details).toMatchObject({ version: 1, previous: 3 });

        const missing = store.setActiveFunctionVersion('default', 'acme-pm', 'redact', 9, audit('function.rollback', 'acme-pm/redact'));
        await expect(missing).rejects.toBeInstanceOf(RelayError);
        await expect(missing).rejects.toMatchObject({ code: 'not_found', message: 'function "redact" of app "acme-pm" has no version 9' });
        expect(await store.setActiveFunctionVersion('default', 'acme-pm', 'ghost', 1, audit('function.rollback', 'acme-pm/ghost'))).toBeNull();
        expect((await store.listAudit(null, 10)).filter((a) => a.action === 'function.rollback')).toHaveLength(1);

        const fourth = await store.insertFunctionVersion(deploy('redact', 4), audit('function.deploy', 'acme-pm/redact'));
        expect(fourth).toMatchObject({ active: { version: 4, source: deploy('redact', 4).source }, latestVersion: 4, versions: 4 });
      });

      it('deletes a function with its versions and logs, once; deployed again, it starts at version 1', async () => {
        const store = await storeWithApp();
        await store.insertFunctionVersion(deploy('redact', 1), audit('function.deploy', 'acme-pm/redact'));
        const before = await store.insertFunctionVersion(deploy('redact', 2), audit('function.deploy', 'acme-pm/redact'));
        await store.insertFunctionVersion(deploy('keep', 1), audit('function.deploy', 'acme-pm/keep'));
        await store.insertFunctionLogs([logLine('redact', 1), logLine('keep', 2)], 100);

        expect(await store.deleteFunction('default', 'acme-pm', 'redact', audit('function.remove', 'acme-pm/redact'))).toEqual(before);
        expect(await store.getFunction('default', 'acme-pm', 'redact')).toBeNull();
        expect(await store.getFunctionVersion('default', 'acme-pm', 'redact', 1)).toBeNull();
        expect(await store.listFunctionVersions('default', 'acme-pm', 'redact')).toEqual([]);
        expect(await store.listFunctionLogs('default', 'acme-pm', 'redact', { after: null, limit: 10 })).toEqual([]);
        expect(await store.deleteFunction('default', 'acme-pm', 'redact', audit('function.remove', 'acme-pm/redact'))).toBeNull();
        expect((await store.listAudit(null, 10)).filter((a) => a.action === 'function.remove')).toHaveLength(1);
        // Another function of the app is untouched.
        expect(messages(await store.listFunctionLogs('default', 'acme-pm', 'keep', { after: null, limit: 10 }))).toEqual(['keep line 2']);
        expect((await store.listFunctions('default', 'acme-pm')).map((f) => f.active.name)).toEqual(['keep']);

        expect(await store.insertFunctionVersion(deploy('redact', 7), audit('function.deploy', 'acme-pm/redact'))).toMatchObject({ active: { version: 1 }, latestVersion: 1, versions: 1, createdAt: NOW + 7 });
      });

      it('adds up each node\'s counts, keeps the latest failure time, and skips a function removed meanwhile', async () => {
        const store = await storeWithApp();
        await store.insertFunctionVersion(deploy('redact', 1), audit('function.deploy', 'acme-pm/redact'));
        await store.insertFunctionVersion(deploy('filter', 1), audit('function.deploy', 'acme-pm/filter'));
        await store.insertFunctionVersion(deploy('gone', 1), audit('function.deploy', 'acme-pm/gone'));
        await store.deleteFunction('default', 'acme-pm', 'gone', audit('function.remove', 'acme-pm/gone'));
        const delta = (name: string, stats: Partial<FunctionStats>) => ({ org: 'default', appId: 'acme-pm', name, ...NO_STATS, ...stats });
        await store.addFunctionStats([
          delta('redact', { calls: 10, failures: 2, timeouts: 1, dropped: 3, lastFailureAt: NOW + 500 }),
          delta('filter', { calls: 4 }),
          delta('gone', { calls: 99, failures: 99, lastFailureAt: NOW }),
        ]);
        await store.addFunctionStats([
          delta('redact', { calls: 5, failures: 1, lastFailureAt: NOW + 100 }),
          delta('filter', { calls: 1, timeouts: 1, lastFailureAt: NOW + 900 }),
        ]);
        expect((await store.getFunction('default', 'acme-pm', 'redact'))?.stats).toEqual({ calls: 15, failures: 3, timeouts: 1, dropped: 3, lastFailureAt: NOW + 500 });
        expect((await store.getFunction('default', 'acme-pm', 'filter'))?.stats).toEqual({ calls: 5, failures: 0, timeouts: 1, dropped: 0, lastFailureAt: NOW + 900 });
        expect(await store.getFunction('default', 'acme-pm', 'gone')).toBeNull();
        await store.addFunctionStats([]);
        // Deployed again, it starts from nothing: the counts of the removed one were not kept.
        expect((await store.insertFunctionVersion(deploy('gone', 2), audit('function.deploy', 'acme-pm/gone'))).stats).toEqual(NO_STATS);

        // Counts span versions: a deploy or a rollback keeps them.
        await store.insertFunctionVersion(deploy('redact', 2), audit('function.deploy', 'acme-pm/redact'));
        await store.addFunctionStats([delta('redact', { calls: 1 })]);
        expect((await store.getFunction('default', 'acme-pm', 'redact'))?.stats).toEqual({ calls: 16, failures: 3, timeouts: 1, dropped: 3, lastFailureAt: NOW + 500 });
      });

      it('keeps only the newest lines of each function written to, and pages them by seq', async () => {
        const store = await storeWithApp();
        await store.insertFunctionVersion(deploy('redact', 1), audit('function.deploy', 'acme-pm/redact'));
        await store.insertFunctionVersion(deploy('filter', 1), audit('function.deploy', 'acme-pm/filter'));
        await store.insertFunctionLogs([1, 2, 3].map((n) => logLine('filter', n, { level: 'warn' })), 4);
        await store.insertFunctionLogs([1, 2, 3, 4, 5, 6].map((n) => logLine('redact', n, { node: n % 2 ? 'node-a' : 'node-b' })), 4);
        const redact = await store.listFunctionLogs('default', 'acme-pm', 'redact', { after: null, limit: 100 });
        expect(messages(redact)).toEqual(['redact line 3', 'redact line 4', 'redact line 5', 'redact line 6']);
        expect(redact[0]).toEqual({ ...logLine('redact', 3), seq: redact[0]?.seq, node: 'node-a' });
        expect(redact.every((l, i) => i === 0 || l.seq > (redact[i - 1] as FunctionLogRecord).seq)).toBe(true);
        // The other function's lines are not counted against it, nor trimmed.
        expect(messages(await store.listFunctionLogs('default', 'acme-pm', 'filter', { after: null, limit: 100 }))).toEqual(['filter line 1', 'filter line 2', 'filter line 3']);

        // A later batch: lines go on after the newest, and the oldest go.
        await store.insertFunctionLogs([logLine('redact', 7, { level: 'timeout', version: 2 }), logLine('filter', 4), logLine('filter', 5)], 4);
        const after = await store.listFunctionLogs('default', 'acme-pm', 'redact', { after: null, limit: 100 });
        expect(messages(after)).toEqual(['redact line 4', 'redact line 5', 'redact line 6', 'redact line 7']);
        expect(after[3]).toMatchObject({ level: 'timeout', version: 2 });
        expect(messages(await store.listFunctionLogs('default', 'acme-pm', 'filter', { after: null, limit: 100 }))).toEqual(['filter line 2', 'filter line 3', 'filter line 4', 'filter line 5']);

        // With after null, the newest `limit`; with after N, the first `limit` after it.
        const seqs = after.map((l) => l.seq);
        expect(messages(await store.listFunctionLogs('default', 'acme-pm', 'redact', { after: null, limit: 2 }))).toEqual(['redact line 6', 'redact line 7']);
        expect(messages(await store.listFunctionLogs('default', 'acme-pm', 'redact', { after: seqs[0] as number, limit: 2 }))).toEqual(['redact line 5', 'redact line 6']);
        expect(messages(await store.listFunctionLogs('default', 'acme-pm', 'redact', { after: 0, limit: 100 }))).toEqual(messages(after));
        expect(await store.listFunctionLogs('default', 'acme-pm', 'redact', { after: seqs[3] as number, limit: 10 })).toEqual([]);
        expect(await store.listFunctionLogs('default', 'acme-pm', 'ghost', { after: null, limit: 10 })).toEqual([]);
        await store.insertFunctionLogs([], 4);
      });

      it('goes with its app: functions, versions and logs', async () => {
        const store = await storeWithApp();
        await addApp(store, 'billing');
        await store.insertFunctionVersion(deploy('redact', 1), audit('function.deploy', 'acme-pm/redact'));
        await store.insertFunctionVersion(deploy('redact', 2, { appId: 'billing' }), audit('function.deploy', 'billing/redact'));
        await store.insertFunctionLogs([logLine('redact', 1), logLine('redact', 2, { appId: 'billing' })], 10);
        await store.setAppStatus('default', 'acme-pm', 'inactive', audit('app.deactivate', 'acme-pm'));
        await store.deleteApp('default', 'acme-pm', { at: NOW, purge: false }, audit('app.delete', 'acme-pm'));
        expect(await store.listFunctions('default', 'acme-pm')).toEqual([]);
        expect(await store.getFunctionVersion('default', 'acme-pm', 'redact', 1)).toBeNull();
        expect(await store.listFunctionLogs('default', 'acme-pm', 'redact', { after: null, limit: 10 })).toEqual([]);
        // Another app's function of the same name stays.
        expect((await store.getFunction('default', 'billing', 'redact'))?.active.version).toBe(1);
        expect(messages(await store.listFunctionLogs('default', 'billing', 'redact', { after: null, limit: 10 }))).toEqual(['redact line 2']);
        // An app registered again under the id starts without functions, and numbers from 1.
        await addApp(store, 'acme-pm');
        expect(await store.insertFunctionVersion(deploy('redact', 3), audit('function.deploy', 'acme-pm/redact'))).toMatchObject({ active: { version: 1 }, versions: 1 });
      });
    });

    describe('usage analytics', () => {
      const MINUTE = 60_000;
      /** A whole hour, for the rows' starts. */
      const H = NOW;
      const latency = (...head: number[]): number[] => emptyUsage().agentLatency.map((_, i) => head[i] ?? 0);
      const counts = (fields: Partial<UsageCounts> = {}): UsageCounts => ({ ...emptyUsage(), ...fields });
      const usage = (start: number, fields: Partial<Omit<UsageRecord, 'counts'>> = {}, c: Partial<UsageCounts> = {}): UsageRecord => ({
        org: 'default',
        appId: 'acme-pm',
        node: 'node-a',
        resolution: 'minute',
        start,
        ...fields,
        counts: counts(c),
      });
      const keys = (rows: UsageRecord[]): string[] => rows.map((r) => `${r.org}/${r.appId}/${r.resolution}/${r.start - H}/${r.node}`);
      /** What core's rollup does, in short: the rows of an app and hour become one row of that hour, across nodes. */
      const toHours = (rows: UsageRecord[]): UsageRecord[] => {
        const hours = new Map<string, UsageRecord>();
        for (const r of rows) {
          const start = r.start - (r.start % HOUR);
          const key = `${r.org}/${r.appId}/${start}`;
          const seen = hours.get(key);
          hours.set(key, { ...r, node: '', resolution: 'hour', start, counts: mergeUsageSideBySide(seen?.counts ?? emptyUsage(), r.counts) });
        }
        return [...hours.values()];
      };

      it('adds counts to their rows: sums add, peaks take the larger, latency histograms add bucket by bucket', async () => {
        const store = await storeWithApp();
        await store.addUsage([
          usage(H, {}, { publishedApi: 2, delivered: 10, connectionsPeak: 5, channelsPeak: 1, agentLatency: latency(1, 0, 3), bytesIn: 100 }),
          usage(H, { node: 'node-b' }, { publishedRest: 1, connectionsPeak: 9 }),
          usage(H + MINUTE, {}, { rateLimited: 4 }),
        ]);
        await store.addUsage([
          usage(H, {}, { publishedApi: 3, connectionsPeak: 4, channelsPeak: 6, agentLatency: latency(2, 1), bytesIn: 1 }),
          // The same key twice in one batch adds twice.
          usage(H, {}, { publishedApi: 1, connectionMinutes: 7, agentLatency: latency(0, 0, 0, 5) }),
          usage(H, { resolution: 'hour' }, { webhooksOk: 1 }),
        ]);
        await store.addUsage([]);
        expect(await store.listUsage('default', 'acme-pm', 'minute', H, H + HOUR)).toEqual([
          usage(H, {}, { publishedApi: 6, delivered: 10, connectionsPeak: 5, connectionMinutes: 7, channelsPeak: 6, agentLatency: latency(3, 1, 3, 5), bytesIn: 101 }),
          usage(H, { node: 'node-b' }, { publishedRest: 1, connectionsPeak: 9 }),
          usage(H + MINUTE, {}, { rateLimited: 4 }),
        ]);
        expect(await store.listUsage('default', 'acme-pm', 'hour', H, H + HOUR)).toEqual([usage(H, { resolution: 'hour' }, { webhooksOk: 1 })]);
      });

      it('lists one resolution of one app, or of every app of the organization, starting in [from, to), by start, then app and node', async () => {
        const store = await storeWithApp();
        await addApp(store, 'billing');
        await store.addUsage([
          usage(H + 2 * MINUTE, { appId: 'billing' }),
          usage(H + 2 * MINUTE, { node: 'node-b' }),
          usage(H + 2 * MINUTE),
          usage(H + MINUTE, { appId: 'billing', node: 'node-b' }),
          usage(H),
          usage(H - MINUTE),
          usage(H + 3 * MINUTE),
          usage(H + MINUTE, { resolution: 'hour' }),
          usage(H + MINUTE, { org: 'other', appId: 'acme-pm' }),
        ]);
        expect(keys(await store.listUsage('default', 'acme-pm', 'minute', H, H + 3 * MINUTE))).toEqual([
          'default/acme-pm/minute/0/node-a',
          'default/acme-pm/minute/120000/node-a',
          'default/acme-pm/minute/120000/node-b',
        ]);
        expect(keys(await store.listUsage('default', null, 'minute', H, H + 3 * MINUTE))).toEqual([
          'default/acme-pm/minute/0/node-a',
          'default/billing/minute/60000/node-b',
          'default/acme-pm/minute/120000/node-a',
          'default/acme-pm/minute/120000/node-b',
          'default/billing/minute/120000/node-a',
        ]);
        expect(keys(await store.listUsage('default', 'billing', 'minute', H - HOUR, H + HOUR))).toEqual(['default/billing/minute/60000/node-b', 'default/billing/minute/120000/node-a']);
        expect(keys(await store.listUsage('default', null, 'hour', H, H + HOUR))).toEqual(['default/acme-pm/hour/60000/node-a']);
        expect(keys(await store.listUsage('other', null, 'minute', H, H + HOUR))).toEqual(['other/acme-pm/minute/60000/node-a']);
        expect(await store.listUsage('default', 'nope', 'minute', H - HOUR, H + HOUR)).toEqual([]);
        expect(await store.listUsage('default', null, 'day', H - DAY, H + DAY)).toEqual([]);
      });

      it('rolls up: the oldest rows before the time go to combine, what it makes is added to the coarser rows, and the rows read go', async () => {
        const store = await storeWithApp();
        await addApp(store, 'billing');
        await store.addUsage([
          usage(H, {}, { publishedApi: 1, connectionsPeak: 3 }),
          usage(H, { node: 'node-b' }, { publishedApi: 2, connectionsPeak: 4 }),
          usage(H + MINUTE, {}, { publishedApi: 4, connectionsPeak: 5, agentLatency: latency(1) }),
          usage(H + MINUTE, { appId: 'billing' }, { delivered: 8 }),
          usage(H + HOUR, {}, { publishedApi: 16 }),
          // At the time given, not before it: stays.
          usage(H + 2 * HOUR, {}, { publishedApi: 32 }),
          // Another resolution: stays.
          usage(H, { resolution: 'day', node: '' }, { publishedApi: 64 }),
        ]);
        // A row of the hour already there (an earlier rollup, another node's): merged with.
        await store.addUsage([usage(H, { resolution: 'hour', node: '' }, { publishedApi: 100, connectionsPeak: 6, agentLatency: latency(2) })]);

        const handed: string[][] = [];
        const combine = (rows: UsageRecord[]): UsageRecord[] => {
          handed.push(keys(rows));
          return toHours(rows);
        };
        expect(await store.rollUpUsage('minute', H + 2 * HOUR, 2, combine)).toBe(2);
        expect(handed).toEqual([['default/acme-pm/minute/0/node-a', 'default/acme-pm/minute/0/node-b']]);
        expect(await store.listUsage('default', 'acme-pm', 'hour', H, H + HOUR)).toEqual([
          usage(H, { resolution: 'hour', node: '' }, { publishedApi: 103, connectionsPeak: 7, agentLatency: latency(2) }),
        ]);
        expect(await store.rollUpUsage('minute', H + 2 * HOUR, 10, combine)).toBe(3);
        expect(handed[1]).toEqual(['default/acme-pm/minute/60000/node-a', 'default/billing/minute/60000/node-a', 'default/acme-pm/minute/3600000/node-a']);
        expect(await store.rollUpUsage('minute', H + 2 * HOUR, 10, combine)).toBe(0);

        expect(await store.listUsage('default', null, 'hour', H - DAY, H + DAY)).toEqual([
          usage(H, { resolution: 'hour', node: '' }, { publishedApi: 107, connectionsPeak: 7, agentLatency: latency(3) }),
          usage(H, { resolution: 'hour', node: '', appId: 'billing' }, { delivered: 8 }),
          usage(H + HOUR, { resolution: 'hour', node: '' }, { publishedApi: 16 }),
        ]);
        expect(keys(await store.listUsage('default', null, 'minute', H - DAY, H + DAY))).toEqual(['default/acme-pm/minute/7200000/node-a']);
        expect(keys(await store.listUsage('default', null, 'day', H - DAY, H + DAY))).toEqual(['default/acme-pm/day/0/']);
      });

      it('rolls back the step when combine throws: the rows read stay, nothing is added', async () => {
        const store = await storeWithApp();
        await store.addUsage([usage(H, {}, { publishedApi: 1 }), usage(H, { resolution: 'hour', node: '' }, { publishedApi: 10 })]);
        const failing = store.rollUpUsage('minute', H + HOUR, 10, () => {
          throw new Error('combine failed');
        });
        await expect(failing).rejects.toThrow('combine failed');
        expect(await store.listUsage('default', 'acme-pm', 'minute', H, H + HOUR)).toEqual([usage(H, {}, { publishedApi: 1 })]);
        expect(await store.listUsage('default', 'acme-pm', 'hour', H, H + HOUR)).toEqual([usage(H, { resolution: 'hour', node: '' }, { publishedApi: 10 })]);
      });

      it('prunes the rows of one resolution that start before a time, and says how many', async () => {
        const store = await storeWithApp();
        const day = (start: number, appId = 'acme-pm'): UsageRecord => usage(start, { resolution: 'day', node: '', appId });
        await store.addUsage([day(H - 2 * DAY), day(H - DAY, 'billing'), day(H), day(H + DAY), usage(H - 2 * DAY)]);
        expect(await store.pruneUsage('day', H)).toBe(2);
        expect(await store.pruneUsage('day', H)).toBe(0);
        expect(keys(await store.listUsage('default', null, 'day', H - 3 * DAY, H + 3 * DAY))).toEqual(['default/acme-pm/day/0/', `default/acme-pm/day/${DAY}/`]);
        expect(keys(await store.listUsage('default', null, 'minute', H - 3 * DAY, H + 3 * DAY))).toEqual([`default/acme-pm/minute/${-2 * DAY}/node-a`]);
      });

      it('keeps its rows across a restart, with counts read back whole', async () => {
        const opened = await fresh();
        const row = usage(H, {}, { publishedClient: 3, connectionsPeak: 2 ** 40, agentLatency: latency(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9) });
        await opened.store.addUsage([row]);
        const store = await opened.reopen();
        expect(await store.listUsage('default', 'acme-pm', 'minute', H, H + MINUTE)).toEqual([row]);
      });

      it('goes with its app', async () => {
        const store = await storeWithApp();
        await addApp(store, 'billing');
        await store.addUsage([usage(H), usage(H, { resolution: 'day', node: '' }), usage(H, { appId: 'billing' })]);
        await store.setAppStatus('default', 'acme-pm', 'inactive', audit('app.deactivate', 'acme-pm'));
        await store.deleteApp('default', 'acme-pm', { at: NOW, purge: false }, audit('app.delete', 'acme-pm'));
        expect(await store.listUsage('default', 'acme-pm', 'minute', H - DAY, H + DAY)).toEqual([]);
        expect(await store.listUsage('default', 'acme-pm', 'day', H - DAY, H + DAY)).toEqual([]);
        expect(keys(await store.listUsage('default', null, 'minute', H - DAY, H + DAY))).toEqual(['default/billing/minute/0/node-a']);
        // An app registered again under the id starts with nothing.
        await addApp(store, 'acme-pm');
        expect(await store.listUsage('default', 'acme-pm', 'minute', H - DAY, H + DAY)).toEqual([]);
      });
    });
  });
}
