import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { historyIds, publishUnderLoad } from '../helpers/load.js';

interface Created {
  secret: string;
  token: { id: string };
}

async function setUp(daemon: Daemon, scopes: string[] = []): Promise<string> {
  await daemon.admin('POST', '/admin/v1/orgs/default/apps', { id: 'acme-pm', name: 'Acme PM' });
  const created = await daemon.admin<Created>('POST', '/admin/v1/orgs/default/apps/acme-pm/tokens', { name: 'fuzz', scopes, rateLimit: '100000/min,burst=100000' });
  return created.body.secret;
}

async function history(daemon: Daemon, token: string): Promise<string[]> {
  const res = await fetch(`${daemon.url}/api/v1/apps/acme-pm/history?limit=1000`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { events: { id: string }[] }).events.map((e) => e.id);
}

/** A raw request, so that any bytes and headers can be sent; resolves with the status. */
function send(url: string, path: string, headers: Record<string, string>, body: string | Buffer, method = 'POST'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url + path, { method, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      // The server may close the connection after answering an oversized body.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') resolve(-1);
      else reject(err);
    });
    req.end(body);
  });
}

/** Deterministic pseudo-random generator, so that a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function malformed(next: () => number, token: string): { path: string; headers: Record<string, string>; body: string } {
  const pick = <T>(items: T[]): T => items[Math.floor(next() * items.length)] as T;
  const json = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  const wrongTypes = [
    { name: 5, channel: 'c', data: 'x' },
    { name: 'e', channels: 'not-a-list', data: 'x' },
    { name: 'e', channels: [1, 2], data: 'x' },
    { name: 'e', data: 'x' },
    { name: 'e', channel: 'c', channels: ['c'], data: 'x' },
    { name: '', channel: 'c', data: 'x' },
    { name: 'e', channel: 'bad channel!', data: 'x' },
    { name: 'e', channel: 'c'.repeat(165), data: 'x' },
    { name: 'e', channels: Array.from({ length: 101 }, (_, i) => `c${i}`), data: 'x' },
    { name: 'e', channel: 'c', data: 'x', socket_id: 'nope' },
    { name: 'e', channel: 'c', data: 'x', surprise: true },
    { batch: 'no' },
    { batch: [] },
    { batch: Array.from({ length: 11 }, () => ({ name: 'e', channel: 'c', data: 'x' })) },
    { batch: [{ name: 'e', channels: ['c'], data: 'x' }] },
    null,
    [],
    'string',
    42,
  ];
  const kind = Math.floor(next() * 7);
  const path = pick(['/api/v1/apps/acme-pm/events', '/api/v1/apps/acme-pm/batch_events']);
  switch (kind) {
    case 0:
      return { path, headers: json, body: JSON.stringify(pick(wrongTypes)) };
    case 1: {
      const good = JSON.stringify({ name: 'e', channel: 'c', data: 'x' });
      return { path, headers: json, body: good.slice(0, Math.floor(next() * (good.length - 1))) };
    }
    case 2:
      return { path, headers: json, body: JSON.stringify({ name: 'e', channel: 'c', data: 'x'.repeat(10_241 + Math.floor(next() * 300_000)) }) };
    case 3: {
      const bad = pick([
        '',
        'Bearer',
        'Bearer ',
        `Bearer ${token.slice(0, -1)}`,
        `Bearer ${token.slice(0, 20)}`,
        `Bearer ${token}x`,
        `Bearer ${token.slice(0, 10)}${token[10] === 'A' ? 'B' : 'A'}${token.slice(11)}`,
        'Basic dXNlcjpwYXNz',
        `Bearer rly_${'0'.repeat(36)}`,
        `Bearer rlk_acme-pm_${'a'.repeat(32)}`,
      ]);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (bad) headers.authorization = bad;
      return { path, headers, body: JSON.stringify({ name: 'e', channel: 'c', data: 'x' }) };
    }
    case 4:
      return { path, headers: { ...json, 'content-type': pick(['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx']) }, body: 'name=e&channel=c' };
    case 5:
      return { path: pick(['/api/v1/apps/other-app/events', '/api/v1/apps/acme-pm/nope', '/api/v1/apps/%zz/events']), headers: json, body: '{}' };
    default: {
      const bytes = Buffer.alloc(1 + Math.floor(next() * 2000));
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(next() * 256);
      return { path, headers: json, body: bytes.toString('latin1') };
    }
  }
}

describe('the public API under malformed input', () => {
  it('answers 1000 generated malformed requests with 4xx only, stays up, and writes nothing', async () => {
    const daemon = await startDaemon();
    const token = await setUp(daemon);
    const before = await history(daemon, token);
    const next = rng(20261122);
    const statuses = new Map<number, number>();
    for (let i = 0; i < 1000; i += 20) {
      const results = await Promise.all(
        Array.from({ length: 20 }, async () => {
          const r = malformed(next, token);
          return send(daemon.url, r.path, r.headers, r.body);
        }),
      );
      for (const status of results) statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
    const unexpected = [...statuses.keys()].filter((s) => s !== -1 && (s < 400 || s >= 500));
    expect(unexpected, JSON.stringify(Object.fromEntries(statuses))).toEqual([]);
    expect(statuses.get(400)).toBeGreaterThan(100);
    expect(statuses.get(401)).toBeGreaterThan(50);
    expect(statuses.get(413)).toBeGreaterThan(50);

    expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
    expect(await history(daemon, token)).toEqual(before);
    const ok = await fetch(`${daemon.url}/api/v1/apps/acme-pm/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'e', channel: 'c', data: 'x' }),
    });
    expect(ok.status).toBe(200);
    expect(daemon.process.exitCode).toBeNull();
  });
});

describe('durability', () => {
  it('every publish answered with an id is in history after SIGKILL and a restart', async () => {
    const daemon = await startDaemon();
    const token = await setUp(daemon);
    const load = publishUnderLoad(daemon.url, 'acme-pm', token);
    const { acknowledged } = load;
    while (acknowledged.length < 300) await new Promise((r) => setTimeout(r, 5));
    await daemon.kill();
    await load.stop();

    const restarted = await startDaemon({ dataDir: daemon.dataDir });
    const stored = await historyIds(restarted.url, 'acme-pm', token);
    const lost = acknowledged.filter((id) => !stored.has(id));
    expect(lost).toEqual([]);
    expect(acknowledged.length).toBeGreaterThanOrEqual(300);
  });
});
