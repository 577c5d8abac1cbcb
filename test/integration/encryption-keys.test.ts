import Database from 'better-sqlite3';
import Pusher from 'pusher';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { EncryptionKey } from '../../src/shared/api.js';
import { expectFrame, sendEvent, showEvent } from '../helpers/agent-relay.js';
import { relay } from '../helpers/cli.js';
import { startSharedDaemon, type Daemon } from '../helpers/daemon.js';
import { channelName, connected, next, port, subscribed, subscriberClient, type ChannelApp } from '../helpers/pusher.js';
import { connectOk } from '../helpers/ws.js';
import { startCluster } from '../helpers/cluster.js';
import { servicesFor } from '../helpers/services.js';

const clusterReady = await servicesFor(['postgres', 'redis'], 'the encryption key cluster test (two relayd on PostgreSQL + Redis)');

type Key = EncryptionKey;

/** The relayd of every test on one node: one start for the file, each test with apps and an agent of its own. */
let shared: Daemon;
beforeAll(async () => {
  shared = await startSharedDaemon();
});

let tests = 0;

/** Ids of the test's own on the shared relayd. */
function ids(): { appId: string; otherId: string; agentId: string } {
  const n = ++tests;
  return { appId: `acme-pm-${n}`, otherId: `other-${n}`, agentId: `athena-${n}` };
}

async function registerApp(daemon: Daemon, id: string): Promise<string> {
  const registered = await relay(['apps', 'register', '--id', id, '--name', id, '-q'], { daemon });
  expect(registered.exitCode, registered.stderr).toBe(0);
  return registered.stdout.trim();
}

async function apiToken(daemon: Daemon, app: string, scopes: string[]): Promise<string> {
  const created = await relay(['tokens', 'create', '--app', app, '--name', `t-${randomBytes(3).toString('hex')}`, ...scopes.flatMap((s) => ['--scope', s]), '-q'], { daemon });
  expect(created.exitCode, created.stderr).toBe(0);
  return created.stdout.trim();
}

function api(daemon: Daemon, token: string, app: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${daemon.url}/api/v1/apps/${app}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function createKey(daemon: Daemon, app: string): Promise<{ key: Key; secret: string }> {
  const created = await relay(['keys', 'create', '--app', app, '--json'], { daemon });
  expect(created.exitCode, created.stderr).toBe(0);
  return created.json<{ key: Key; secret: string }>();
}

async function listKeys(daemon: Daemon, app: string): Promise<Key[]> {
  const listed = await relay(['keys', 'list', '--app', app, '--json'], { daemon });
  expect(listed.exitCode, listed.stderr).toBe(0);
  return listed.json<{ keys: Key[] }>().keys;
}

/** The app as a channel backend sees it: its credentials, and the `pusher` SDK holding its encryption key. */
async function channelApp(daemon: Daemon, id: string, encryptionMasterKeyBase64: string): Promise<ChannelApp> {
  const { key, secret } = (await relay(['apps', 'credentials', id, '--json'], { daemon })).json<{ key: string; secret: string }>();
  const server = new Pusher({ appId: id, key, secret, host: '127.0.0.1', port: String(port(daemon)), useTLS: false, encryptionMasterKeyBase64 });
  return { id, key, secret, server };
}

/** Every text value of every table in the daemon's SQLite database, and the raw bytes of its files (the WAL included). */
function databaseText(daemon: Daemon): string {
  const db = new Database(join(daemon.dataDir, 'relay.db'), { readonly: true, fileMustExist: true });
  try {
    const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").all();
    const rows = tables.flatMap(({ name }) => db.prepare(`SELECT * FROM "${name}"`).all());
    const files = readdirSync(daemon.dataDir)
      .filter((f) => f.startsWith('relay.db'))
      .map((f) => readFileSync(join(daemon.dataDir, f)).toString('latin1'));
    return [JSON.stringify(rows), ...files].join('\n');
  } finally {
    db.close();
  }
}

describe('relay keys', () => {
  it('creates (shown once, -q, --import), lists without the key, rotates, and retires idempotently', async () => {
    const daemon = shared;
    const { appId } = ids();
    await registerApp(daemon, appId);

    const none = await relay(['keys', 'list', '--app', appId, '--json'], { daemon });
    expect(none.json()).toEqual({ keys: [] });

    const quiet = await relay(['keys', 'create', '--app', appId, '-q'], { daemon });
    expect(quiet.exitCode, quiet.stderr).toBe(0);
    const secret = quiet.stdout.trim();
    expect(Buffer.from(secret, 'base64')).toHaveLength(32);

    const again = await relay(['keys', 'create', '--app', appId], { daemon });
    expect(again.exitCode).toBe(5);
    expect(again.stderr).toContain('relay keys rotate');

    const [first] = await listKeys(daemon, appId);
    expect(first).toEqual({ id: expect.stringMatching(/^key_[0-9A-Z]{26}$/), appId, state: 'active', createdAt: expect.any(String), rotatedAt: null, retiredAt: null });
    const human = await relay(['keys', 'list', '--app', appId], { daemon });
    expect(human.stdout).toContain(first!.id);
    expect(human.stdout + human.stderr).not.toContain(secret);

    const rotated = await relay(['keys', 'rotate', '--app', appId, '--json'], { daemon });
    expect(rotated.exitCode, rotated.stderr).toBe(0);
    const { key: second, secret: secondSecret } = rotated.json<{ key: Key; secret: string }>();
    expect(Object.keys(rotated.json())).toEqual(['key', 'secret']);
    expect(second.state).toBe('active');
    expect(Buffer.from(secondSecret, 'base64')).toHaveLength(32);
    expect(secondSecret).not.toBe(secret);
    const afterRotate = await listKeys(daemon, appId);
    expect(afterRotate.map((k) => [k.id, k.state])).toEqual([
      [first!.id, 'decrypt-only'],
      [second.id, 'active'],
    ]);
    expect(afterRotate[0]!.rotatedAt).toEqual(expect.any(String));
    const quietRotate = await relay(['keys', 'rotate', '--app', appId, '-q'], { daemon });
    expect(Buffer.from(quietRotate.stdout.trim(), 'base64')).toHaveLength(32);

    // Destructive: --yes without a TTY.
    const unconfirmed = await relay(['keys', 'retire', first!.id], { daemon });
    expect(unconfirmed.exitCode).toBe(2);
    expect(unconfirmed.stderr).toContain('--yes');

    const retired = await relay(['keys', 'retire', first!.id, '--yes', '--json'], { daemon });
    expect(retired.exitCode, retired.stderr).toBe(0);
    expect(retired.json()).toEqual({ key: { ...afterRotate[0], state: 'retired', retiredAt: expect.any(String) }, changed: true });
    const twice = await relay(['keys', 'retire', first!.id, '--yes'], { daemon });
    expect(twice.exitCode).toBe(0);
    expect(twice.stderr).toContain('already retired');

    const active = (await listKeys(daemon, appId)).find((k) => k.state === 'active')!;
    const activeRetire = await relay(['keys', 'retire', active.id, '--yes'], { daemon });
    expect(activeRetire.exitCode).toBe(5);
    expect(activeRetire.stderr).toContain('rotate first');

    const unknown = await relay(['keys', 'retire', 'key_01J00000000000000000000000', '--yes'], { daemon });
    expect(unknown.exitCode).toBe(3);
    const malformed = await relay(['keys', 'retire', 'not-a-key', '--yes'], { daemon });
    expect(malformed.exitCode).toBe(2);
    const unknownApp = await relay(['keys', 'list', '--app', 'nope'], { daemon });
    expect(unknownApp.exitCode).toBe(3);

    // The audit log has every change, never a key.
    const audit = await relay(['audit', '--json'], { daemon });
    const actions = audit.json<{ entries: { action: string; targetId: string }[] }>().entries.filter((e) => e.targetId === appId).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['key.create', 'key.rotate', 'key.retire']));
    expect(audit.stdout).not.toContain(secret);
    expect(audit.stdout).not.toContain(secondSecret);
  });

  it('imports a base64 key from stdin and refuses one that is not 32 bytes (exit 2), echoing neither', async () => {
    const daemon = shared;
    const { appId } = ids();
    await registerApp(daemon, appId);
    const short = randomBytes(16).toString('base64');
    const refused = await relay(['keys', 'create', '--app', appId, '--import'], { daemon, input: short });
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain('32 bytes');
    expect(refused.stderr).not.toContain(short);
    expect((await relay(['keys', 'create', '--app', appId, '--import'], { daemon, input: 'not base64 at all!' })).exitCode).toBe(2);
    expect(await listKeys(daemon, appId)).toEqual([]);

    const mine = randomBytes(32).toString('base64');
    const imported = await relay(['keys', 'create', '--app', appId, '--import', '--json'], { daemon, input: `${mine}\n` });
    expect(imported.exitCode, imported.stderr).toBe(0);
    expect(imported.json<{ secret: string }>().secret).toBe(mine);
    expect(imported.json<{ key: Key }>().key.state).toBe('active');
  });

  it('guards every keys route of the public API with encryption:manage (403 without it)', async () => {
    const daemon = shared;
    const { appId, otherId } = ids();
    await registerApp(daemon, appId);
    const without = await apiToken(daemon, appId, ['events:publish', 'app:read']);
    const routes: [string, string, unknown?][] = [
      ['GET', '/keys'],
      ['POST', '/keys', {}],
      ['POST', '/keys/rotate'],
      ['DELETE', '/keys/key_01J00000000000000000000000'],
    ];
    for (const [method, path, body] of routes) {
      const refused = await api(daemon, without, appId, method, path, body);
      expect(refused.status, `${method} ${path}`).toBe(403);
      expect(((await refused.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'insufficient_scope', message: expect.stringContaining('encryption:manage') });
    }

    const token = await apiToken(daemon, appId, ['encryption:manage']);
    expect(await (await api(daemon, token, appId, 'GET', '/keys')).json()).toEqual({ keys: [] });
    const created = await api(daemon, token, appId, 'POST', '/keys', {});
    expect(created.status).toBe(201);
    const { key: first } = (await created.json()) as { key: Key; secret: string };
    const rotated = await api(daemon, token, appId, 'POST', '/keys/rotate');
    expect(rotated.status).toBe(201);
    const retired = await api(daemon, token, appId, 'DELETE', `/keys/${first.id}`);
    expect(retired.status).toBe(200);
    expect(((await retired.json()) as { key: Key }).key.state).toBe('retired');
    // Another app's key is not this token's to see.
    await registerApp(daemon, otherId);
    const foreign = (await createKey(daemon, otherId)).key;
    expect((await api(daemon, token, appId, 'DELETE', `/keys/${foreign.id}`)).status).toBe(404);
    expect((await api(daemon, token, otherId, 'GET', '/keys')).status).toBe(403);
  });
});

describe('end-to-end encrypted channels', () => {
  it('encrypts a public API publish to a private-encrypted- channel as the pusher SDK does: pusher-js decrypts it', async () => {
    const daemon = shared;
    const { appId } = ids();
    await registerApp(daemon, appId);
    const { secret } = await createKey(daemon, appId);
    const app = await channelApp(daemon, appId, secret);
    const token = await apiToken(daemon, appId, ['events:publish', 'events:batch']);
    const client = subscriberClient(daemon, app);
    await connected(client);
    const name = channelName('private-encrypted-');
    const channel = await subscribed(client, name);

    const single = next(channel, 'order-shipped');
    const published = await api(daemon, token, appId, 'POST', '/events', { name: 'order-shipped', channel: name, data: { order: 42, note: 'fragile' } });
    expect(published.status).toBe(200);
    expect(await single).toEqual({ order: 42, note: 'fragile' });

    const batched = next(channel, 'batched');
    const batch = await api(daemon, token, appId, 'POST', '/batch_events', { batch: [{ name: 'batched', channel: name, data: 'plain text' }] });
    expect(batch.status).toBe(200);
    expect(await batched).toBe('plain text');

    // The Pusher REST API is passed through: the SDK encrypts for itself, and relayd does not encrypt again.
    const viaSdk = next(channel, 'from-sdk');
    await app.server.trigger(name, 'from-sdk', { via: 'sdk' });
    expect(await viaSdk).toEqual({ via: 'sdk' });

    // What travelled and what history keeps is ciphertext.
    const shown = await showEvent(daemon, ((await published.json()) as { id: string }).id);
    expect(JSON.parse(shown.payload as string)).toEqual({ nonce: expect.any(String), ciphertext: expect.any(String) });
  });

  it('refuses such a publish when the app has no key, and sends nothing', async () => {
    const daemon = shared;
    const { appId } = ids();
    await registerApp(daemon, appId);
    const token = await apiToken(daemon, appId, ['events:publish', 'events:batch']);
    const name = channelName('private-encrypted-');
    const refused = await api(daemon, token, appId, 'POST', '/events', { name: 'e', channel: name, data: 'secret plans' });
    expect(refused.status).toBe(409);
    const error = ((await refused.json()) as { error: { message: string; hint?: string } }).error;
    expect(JSON.stringify(error)).toContain(`relay keys create --app ${appId}`);
    const batch = await api(daemon, token, appId, 'POST', '/batch_events', { batch: [{ name: 'ok', channel: 'public-one', data: '1' }, { name: 'e', channel: name, data: '2' }] });
    expect(batch.status).toBe(409);
    // Nothing was recorded (so nothing was sent): history has none of them.
    const listed = await relay(['events', 'list', '--app', appId, '--json'], { daemon });
    expect(listed.json()).toEqual({ events: [], next: null });
  });
});

describe('history encrypted at rest', () => {
  it('keeps no plain payload or reply in the database, reads them back, and erases them with a retired key', async () => {
    const daemon = shared;
    const { appId, agentId } = ids();
    const appToken = await registerApp(daemon, appId);
    const agentToken = (await relay(['agents', 'register', '--id', agentId, '--name', 'Athena', '-q'], { daemon })).stdout.trim();
    const token = await apiToken(daemon, appId, ['events:publish', 'app:read']);

    // Written before the app had a key: stays as it is, and reads as it was.
    const before = (await (await api(daemon, token, appId, 'POST', '/events', { name: 'early', channel: 'news', data: 'from before the key' })).json()) as { id: string };

    const { key: firstKey } = await createKey(daemon, appId);
    const marker = `marker-${randomBytes(8).toString('hex')}`;
    const published = await api(daemon, token, appId, 'POST', '/events', { name: 'note', channel: 'news', data: { text: `${marker}-channel` } });
    expect(published.status).toBe(200);
    const channelEvent = ((await published.json()) as { id: string }).id;

    const app = await connectOk(daemon, appToken);
    const agent = await connectOk(daemon, agentToken);
    const agentEvent = await sendEvent(app, { agent: agentId, thread: 't1', payload: { ask: `${marker}-payload` } });
    const delivered = await expectFrame(agent, 'event');
    expect(delivered.payload).toEqual({ ask: `${marker}-payload` });
    agent.send({ type: 'reply', eventId: agentEvent, payload: { answer: `${marker}-reply` } });
    expect((await expectFrame(app, 'reply')).payload).toEqual({ answer: `${marker}-reply` });

    // Readers allowed to read get the plain values.
    const shownAgent = await showEvent(daemon, agentEvent);
    expect(shownAgent).toMatchObject({ payload: { ask: `${marker}-payload` }, reply: { answer: `${marker}-reply` }, erased: null });
    expect((await showEvent(daemon, channelEvent)).payload).toBe(JSON.stringify({ text: `${marker}-channel` }));
    expect(await showEvent(daemon, before.id)).toMatchObject({ payload: 'from before the key', erased: null });
    const history = await api(daemon, token, appId, 'GET', '/history');
    expect(((await history.json()) as { events: { id: string }[] }).events.map((e) => e.id)).toEqual(expect.arrayContaining([channelEvent, agentEvent]));

    // The database holds none of them in plain text: not in any table, not in the files.
    const stored = databaseText(daemon);
    expect(stored).toContain(channelEvent);
    expect(stored).not.toContain(marker);
    expect(stored).toContain('from before the key');

    // After a rotation, what the old key sealed still reads.
    const { key: secondKey } = (await relay(['keys', 'rotate', '--app', appId, '--json'], { daemon })).json<{ key: Key }>();
    const later = (await (await api(daemon, token, appId, 'POST', '/events', { name: 'note', channel: 'news', data: `${marker}-later` })).json()) as { id: string };
    expect((await showEvent(daemon, agentEvent)).reply).toEqual({ answer: `${marker}-reply` });
    expect((await showEvent(daemon, later.id)).payload).toBe(`${marker}-later`);

    // Retiring the old key erases what it sealed, for good, and says so.
    expect((await relay(['keys', 'retire', firstKey.id, '--yes'], { daemon })).exitCode).toBe(0);
    const erased = await showEvent(daemon, agentEvent);
    expect(erased).toMatchObject({ payload: null, reply: null, erased: { keyId: firstKey.id, retiredAt: expect.any(String) } });
    const text = await relay(['events', 'show', channelEvent], { daemon });
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toContain(`erased with its key ${firstKey.id}`);
    expect(text.stdout).not.toContain(marker);
    // Written under the new key, or before any key: untouched.
    expect(await showEvent(daemon, later.id)).toMatchObject({ payload: `${marker}-later`, erased: null });
    expect(secondKey.state).toBe('active');
    expect(await showEvent(daemon, before.id)).toMatchObject({ payload: 'from before the key', erased: null });
  });
});

describe('erasure of events still waiting', () => {
  it('fails an agent event whose key was retired before its agent got it (payload_erased), and delivers the next', async () => {
    const daemon = shared;
    const { appId, agentId } = ids();
    const appToken = await registerApp(daemon, appId);
    const agentToken = (await relay(['agents', 'register', '--id', agentId, '--name', 'Athena', '-q'], { daemon })).stdout.trim();
    const { key: first } = await createKey(daemon, appId);
    const app = await connectOk(daemon, appToken);
    // The agent is offline: the event waits in history, sealed with the first key.
    const waiting = await sendEvent(app, { agent: agentId, thread: 't1', payload: { forget: 'me' } });
    expect((await relay(['keys', 'rotate', '--app', appId], { daemon })).exitCode).toBe(0);
    expect((await relay(['keys', 'retire', first.id, '--yes'], { daemon })).exitCode).toBe(0);

    const agent = await connectOk(daemon, agentToken);
    const failed = await expectFrame(app, 'failed');
    expect(failed).toMatchObject({ eventId: waiting, error: { code: 'payload_erased', message: expect.stringContaining(first.id) } });
    // The next event of the thread is the first thing the agent gets.
    const nextOne = await sendEvent(app, { agent: agentId, thread: 't1', payload: { keep: 'me' } });
    expect(await expectFrame(agent, 'event')).toMatchObject({ eventId: nextOne, payload: { keep: 'me' } });
    expect(await showEvent(daemon, waiting)).toMatchObject({ status: 'failed', payload: null, erased: { keyId: first.id }, error: { code: 'payload_erased' } });
  });

  it('tells an app that reconnects that a reply it had not acknowledged was erased with its key', async () => {
    const daemon = shared;
    const { appId, agentId } = ids();
    const appToken = await registerApp(daemon, appId);
    const agentToken = (await relay(['agents', 'register', '--id', agentId, '--name', 'Athena', '-q'], { daemon })).stdout.trim();
    const { key: first } = await createKey(daemon, appId);
    const app = await connectOk(daemon, appToken);
    const agent = await connectOk(daemon, agentToken);
    const id = await sendEvent(app, { agent: agentId, thread: 't1', payload: 1 });
    await expectFrame(agent, 'event');
    agent.send({ type: 'reply', eventId: id, payload: { secret: 'answer' } });
    expect((await expectFrame(app, 'reply')).payload).toEqual({ secret: 'answer' });
    // Not acknowledged: it is sent again on the next connection, unless its key is gone by then.
    app.ws.close();
    await app.closed;
    expect((await relay(['keys', 'rotate', '--app', appId], { daemon })).exitCode).toBe(0);
    expect((await relay(['keys', 'retire', first.id, '--yes'], { daemon })).exitCode).toBe(0);
    const again = await connectOk(daemon, appToken);
    expect(await expectFrame(again, 'failed')).toMatchObject({ eventId: id, error: { code: 'payload_erased' } });
  });
});

describe.skipIf(!clusterReady)('encryption keys across two relayd nodes', () => {
  it('uses a key created, rotated or retired through node A for node B\'s very next publish and read', async () => {
    const cluster = await startCluster(['node-a', 'node-b']);
    const [a, b] = cluster.nodes as [Daemon, Daemon];
    await registerApp(a, 'acme-pm');
    const token = await apiToken(a, 'acme-pm', ['events:publish']);
    const name = channelName('private-encrypted-');

    // B learns that the app has no key (and would keep that for CACHE_TTL_MS without the control message).
    expect((await api(b, token, 'acme-pm', 'POST', '/events', { name: 'e', channel: name, data: 'x' })).status).toBe(409);
    const { key: first, secret } = await createKey(a, 'acme-pm');
    const app = await channelApp(a, 'acme-pm', secret);
    const client = subscriberClient(b, app);
    await connected(client);
    const channel = await subscribed(client, name);
    const arrived = next(channel, 'e');
    const published = await api(b, token, 'acme-pm', 'POST', '/events', { name: 'e', channel: name, data: { n: 1 } });
    expect(published.status).toBe(200);
    expect(await arrived).toEqual({ n: 1 });
    const sealedByFirst = ((await published.json()) as { id: string }).id;

    // Rotated through A: B seals its next event with the new key, so retiring the old one leaves it readable...
    expect((await relay(['keys', 'rotate', '--app', 'acme-pm'], { daemon: a })).exitCode).toBe(0);
    const afterRotate = ((await (await api(b, token, 'acme-pm', 'POST', '/events', { name: 'n', channel: 'news', data: 'after rotate' })).json()) as { id: string }).id;
    expect((await showEvent(b, sealedByFirst)).erased).toBeNull();
    expect((await relay(['keys', 'retire', first.id, '--yes'], { daemon: a })).exitCode).toBe(0);
    expect(await showEvent(b, afterRotate)).toMatchObject({ payload: 'after rotate', erased: null });
    // ...and B forgets the retired key at once: what it sealed is erased on B too.
    expect(await showEvent(b, sealedByFirst)).toMatchObject({ payload: null, erased: { keyId: first.id } });
  });
});
