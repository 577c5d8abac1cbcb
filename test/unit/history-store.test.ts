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
  const app = {
    org: 'default',
    id: 'acme-pm',
    name: 'Acme PM',
    description: null,
    status: 'active' as const,
    createdAt: NOW - 10 * HOUR,
    lastConnectedAt: null,
    rateLimitProfile: 'api-heavy' as const,
    channelKey: 'k',
    channelSecretEnc: 's',
    clientEvents: false,
    subscriptionCount: false,
    channelLimits: {},
  };
  const token = { id: 'tok_1', org: 'default', appId: 'acme-pm', hash: 'h', createdAt: app.createdAt, validUntil: null };
  const audit = { id: 'aud_1', at: app.createdAt, actor: 'test', action: 'app.register', org: 'default', targetType: 'app', targetId: 'acme-pm', details: {} };
  await store.insertApp(app, token, audit);
  return store;
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
