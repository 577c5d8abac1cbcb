import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { newEventId } from '../../daemon/core/events.js';
import { HistoryPruner } from '../../daemon/core/retention.js';
import { SqliteStore } from '../../daemon/store/sqlite/sqlite-store.js';
import type { EventRecord } from '../../daemon/store/store.js';

const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 11, 4, 12);
const dirs: string[] = [];
const stores: SqliteStore[] = [];

afterEach(async () => {
  for (const store of stores.splice(0)) await store.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function storeWithApp(): Promise<SqliteStore> {
  const dir = mkdtempSync(join(tmpdir(), 'relay-store-'));
  dirs.push(dir);
  const store = new SqliteStore(join(dir, 'relay.db'));
  stores.push(store);
  await store.insertOrg({ id: 'default', name: 'Default', createdAt: NOW - 10 * HOUR }, null);
  await addApp(store, 'acme-pm');
  return store;
}

async function addApp(store: SqliteStore, id: string, org = 'default'): Promise<void> {
  const app = {
    org,
    id,
    name: id,
    description: null,
    status: 'active' as const,
    createdAt: NOW - 10 * HOUR,
    lastConnectedAt: null,
    rateLimitProfile: 'api-heavy' as const,
    channelKey: `k-${id}`,
    channelSecretEnc: 's',
    clientEvents: false,
    subscriptionCount: false,
    channelLimits: {},
  };
  const token = { id: `tok_${id}`, org, appId: id, lookupId: null, hash: `h-${id}`, createdAt: app.createdAt, validUntil: null };
  const audit = { id: `aud_${id}`, at: app.createdAt, actor: 'test', action: 'app.register', org, targetType: 'app', targetId: id, details: {} };
  await store.insertApp(app, token, audit);
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
    ...fields,
  };
}

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
    await store.writeEvents([settled, owed, recent].map((e) => ({ type: 'insert', event: e, timeline: [{ at: e.createdAt, type: 'accepted', detail: null }] })));
    const pruner = new HistoryPruner({ store, clock: { now: () => now }, retentionMs: HOUR, everyMs: HOUR, onPruned: () => {}, onError: () => {} });
    expect(await pruner.prune()).toBe(1);
    const left = await store.queryEvents('default', { limit: 10 });
    expect(left.map((e) => e.id).sort()).toEqual([owed.id, recent.id].sort());
    expect(await store.listTimeline(settled.id)).toEqual([]);
    expect(await store.getEvent(settled.id)).toBeNull();
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
});

describe('writing a batch', () => {
  it('keeps every event of a large batch, and the changes made to them within it, in order', async () => {
    const store = await storeWithApp();
    const at = NOW + 72 * HOUR;
    // 19 new events: more than one statement's worth of rows, and some left over.
    const events = Array.from({ length: 19 }, (_, i) => event(at + i, { kind: 'agent', agent: 'athena', thread: `t${i}`, status: 'pending', channels: null, payload: JSON.stringify({ i }) }));
    const changed = events[9] as EventRecord;
    await store.writeEvents([
      ...events.map((e) => ({ type: 'insert' as const, event: e, timeline: [{ at: e.createdAt, type: 'accepted', detail: null }] })),
      { type: 'update', id: changed.id, patch: { status: 'delivered', reply: '{"ok":true}', latencyMs: 7 }, timeline: [{ at: at + 100, type: 'replied', detail: { ms: 7 } }] },
    ]);
    const stored = await store.queryEvents('default', { limit: 100 });
    expect(stored.map((e) => e.id)).toEqual(events.map((e) => e.id).reverse());
    expect(stored.find((e) => e.thread === 't4')).toEqual(events[4]);
    expect(await store.getEvent(changed.id)).toEqual({ ...changed, status: 'delivered', reply: '{"ok":true}', latencyMs: 7 });
    expect((await store.listTimeline(changed.id)).map((t) => t.type)).toEqual(['accepted', 'replied']);
  });
});

describe('registering', () => {
  it('reports an app registered twice as a conflict, and a broken reference as the error it is', async () => {
    const store = await storeWithApp();
    await expect(addApp(store, 'acme-pm')).rejects.toMatchObject({ code: 'conflict', message: 'app "acme-pm" exists already in organization "default"' });
    // Core checks the organization before it registers; were it missing, this is a bug to see, not a conflict.
    const orphan = addApp(store, 'orphan', 'no-such-org');
    await expect(orphan).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_FOREIGNKEY' });
  });
  it('keeps channel keys unique across organizations: a taken key is a conflict that names the key, on register and on update', async () => {
    const store = await storeWithApp();
    await store.insertOrg({ id: 'other', name: 'Other', createdAt: NOW }, null);
    // The same id in another organization is a new app, but addApp gives it the same key.
    await expect(addApp(store, 'acme-pm', 'other')).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('channel key "k-acme-pm" is already') });
    await addApp(store, 'flow', 'other');
    const audit = { id: 'aud_u', at: NOW, actor: 'test', action: 'app.update', org: 'other', targetType: 'app', targetId: 'flow', details: {} };
    await expect(store.updateApp('other', 'flow', { channelKey: 'k-acme-pm' }, audit)).rejects.toMatchObject({ code: 'conflict' });
    const updated = await store.updateApp('other', 'flow', { channelKey: '278d425bdf160c739803', channelSecretEnc: 'sealed' }, { ...audit, id: 'aud_v' });
    expect(updated).toMatchObject({ channelKey: '278d425bdf160c739803', channelSecretEnc: 'sealed', name: 'flow' });
    expect((await store.getAppByChannelKey('278d425bdf160c739803'))?.id).toBe('flow');
    expect(await store.getAppByChannelKey('k-flow')).toBeNull();
  });
});
