import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventLog, newEventId, toEvent } from '../../daemon/core/events.js';
import { HistoryPruner } from '../../daemon/core/retention.js';
import { SqliteStore } from '../../daemon/store/sqlite/sqlite-store.js';
import type { EventChange } from '../../src/shared/api.js';
import type { EventRecord, TimelineRecord } from '../../daemon/store/store.js';

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

/** Changes are numbered by EventLog; these tests number their own, increasing across the file as they must be within a store. */
let lastSeq = 0;
function step(at: number, type: string, state: Partial<Pick<TimelineRecord, 'status' | 'latencyMs' | 'detail'>> = {}): TimelineRecord {
  return { seq: ++lastSeq, at, type, detail: null, status: 'pending', latencyMs: null, ...state };
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
    await store.writeEvents([settled, owed, recent].map((e) => ({ type: 'insert', event: e, timeline: [step(e.createdAt, 'accepted')] })));
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
      ...events.map((e) => ({ type: 'insert' as const, event: e, timeline: [step(e.createdAt, 'accepted')] })),
      { type: 'update', id: changed.id, patch: { status: 'delivered', reply: '{"ok":true}', latencyMs: 7 }, timeline: [step(at + 100, 'replied', { status: 'delivered', latencyMs: 7, detail: { ms: 7 } })] },
    ]);
    const stored = await store.queryEvents('default', { limit: 100 });
    expect(stored.map((e) => e.id)).toEqual(events.map((e) => e.id).reverse());
    expect(stored.find((e) => e.thread === 't4')).toEqual(events[4]);
    expect(await store.getEvent(changed.id)).toEqual({ ...changed, status: 'delivered', reply: '{"ok":true}', latencyMs: 7 });
    expect((await store.listTimeline(changed.id)).map((t) => t.type)).toEqual(['accepted', 'replied']);
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
      { type: 'update', id: a.id, patch: { reply: '1', latencyMs: 5 }, timeline: [replied] },
      { type: 'update', id: a.id, patch: { status: 'delivered' }, timeline: [sent] },
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
    expect((await store.listChanges('default', { ...all, thread: 'other' }))).toEqual([]);
    expect((await store.listChanges('default', { ...all, status: 'delivered' })).map((c) => c.type)).toEqual(['published', 'sent']);
    expect(await store.listChanges('other-org', all)).toEqual([]);
  });

  it('knows the highest seq given, after its rows are pruned and after a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'relay-store-'));
    dirs.push(dir);
    const open = async (): Promise<SqliteStore> => {
      const store = new SqliteStore(join(dir, 'relay.db'));
      stores.push(store);
      return store;
    };
    const store = await open();
    expect(await store.lastChangeSeq()).toBe(0);
    await store.insertOrg({ id: 'default', name: 'Default', createdAt: NOW }, null);
    await addApp(store, 'acme-pm');
    const at = NOW + 120 * HOUR;
    const old = event(at);
    const change = step(at, 'published', { status: 'delivered' });
    await store.writeEvents([{ type: 'insert', event: old, timeline: [change] }]);
    expect(await store.lastChangeSeq()).toBe(change.seq);
    expect(await store.pruneEvents(at + HOUR, 10)).toBe(1);
    expect(await store.lastChangeSeq()).toBe(change.seq);
    await store.close();
    stores.splice(stores.indexOf(store), 1);
    expect(await (await open()).lastChangeSeq()).toBe(change.seq);
  });

  it('follows from a seq: the changes after it from history, then live ones, each once and in order', async () => {
    const store = await storeWithApp();
    // Numbering goes on from what history holds.
    lastSeq = await store.lastChangeSeq();
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
    log.hold(second.id, { ackedAt: at }, log.change('default', { at, type: 'acked', detail: null, status: 'pending', latencyMs: null }, () => toEvent(second)));
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
