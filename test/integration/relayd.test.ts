import { execa } from 'execa';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { ROOT, cleanEnv, startDaemon } from '../helpers/daemon.js';
import { connectOk, eventually } from '../helpers/ws.js';

describe('relayd', () => {
  it('--help gives every setting its default and its variable', async () => {
    const help = await execa(process.execPath, [join(ROOT, 'bin/relayd.js'), '--help'], { env: cleanEnv(), extendEnv: false });
    const text = help.stdout.replace(/\s+/g, ' ');
    const expected: [string, string][] = [
      ['--host <host>', '(default 127.0.0.1; env RELAY_HOST)'],
      ['--port <port>', '(default 7420; env RELAY_PORT)'],
      ['--history-retention <duration>', '(default 30d; env RELAY_HISTORY_RETENTION)'],
      ['--webhook-allow-private', '(default off; env RELAY_WEBHOOK_ALLOW_PRIVATE: true/false/1/0)'],
    ];
    for (const [flag, shown] of expected) {
      expect(text).toContain(flag);
      expect(text.slice(text.indexOf(flag))).toContain(shown);
    }
    expect(text).toMatch(/--data-dir <dir> .*\(default \/\S+; env RELAY_DATA_DIR\)/);
  });

  it('answers /healthz, keeps its admin token in a 0600 file and never logs it', async () => {
    const daemon = await startDaemon();
    const res = await fetch(`${daemon.url}/healthz`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status: string; version: string };
    expect(body).toEqual({ status: 'ok', version: expect.stringMatching(/^\d+\.\d+\.\d+/) as unknown as string });
    expect(daemon.adminToken).toMatch(/^rlo_[0-9A-Za-z]{40}$/);
    expect(statSync(join(daemon.dataDir, 'admin-token')).mode & 0o777).toBe(0o600);
    expect(statSync(join(daemon.dataDir, 'master.key')).mode & 0o777).toBe(0o600);
    const logs = daemon.logs().join('\n');
    expect(logs).toContain(join(daemon.dataDir, 'admin-token'));
    expect(logs).not.toContain(daemon.adminToken);
    for (const line of daemon.logs()) expect(() => JSON.parse(line)).not.toThrow();
  });

  it('keeps its state across a restart and keeps the admin token', async () => {
    const daemon = await startDaemon();
    const registered = await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon });
    expect(registered.exitCode, registered.stderr).toBe(0);
    expect(await daemon.stop()).toBe(0);
    const again = await startDaemon({ dataDir: daemon.dataDir });
    expect(again.adminToken).toBe(daemon.adminToken);
    const list = await relay(['apps', 'list', '--json'], { daemon: again });
    expect(list.json<{ apps: { id: string }[] }>().apps.map((a) => a.id)).toEqual(['acme-pm']);
    expect((await connectOk(again, registered.stdout.trim())).welcome.type).toBe('welcome');
  });

  it('on SIGTERM closes WebSockets with 1001 and exits 0', async () => {
    const daemon = await startDaemon();
    const secret = (await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon })).stdout.trim();
    const socket = await connectOk(daemon, secret);
    const [code, closed] = await Promise.all([daemon.stop(), socket.closed]);
    expect(closed.code).toBe(1001);
    expect(code).toBe(0);
  });

  it('drops a peer that stops answering pings', async () => {
    const daemon = await startDaemon({ args: ['--ping-interval', '1s'] });
    const secret = (await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon })).stdout.trim();
    const live = await connectOk(daemon, secret);
    const silent = await connectOk(daemon, secret, { autoPong: false });
    const closed = await silent.closed;
    expect(closed.code).toBe(1006);
    // The peer that answers stays.
    live.ws.send(JSON.stringify({ type: 'ping' }));
    expect(await live.nextFrame()).toEqual({ type: 'pong' });
    const status = await relay(['status', '--json'], { daemon });
    expect(status.json<{ connections: number }>().connections).toBe(1);
  });

  it('answers malformed frames with an error frame and keeps the connection', async () => {
    const daemon = await startDaemon();
    const secret = (await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon })).stdout.trim();
    const socket = await connectOk(daemon, secret);
    for (const frame of ['not json', '[]', '{"no":"type"}', '{"type":"warp"}', '42']) {
      socket.ws.send(frame);
      const answer = await socket.nextFrame();
      expect(answer).toMatchObject({ type: 'error', error: { code: 'invalid_request' } });
    }
    socket.ws.send(JSON.stringify({ type: 'ping' }));
    expect(await socket.nextFrame()).toEqual({ type: 'pong' });
  });

  it('copies its write-ahead log into the database file in the background while it runs', async () => {
    const daemon = await startDaemon();
    await daemon.admin('POST', '/admin/v1/orgs/default/apps', { id: 'acme-pm', name: 'Acme PM' });
    const token = await daemon.admin<{ secret: string }>('POST', '/admin/v1/orgs/default/apps/acme-pm/tokens', {
      name: 'ci',
      scopes: ['events:publish'],
      rateLimit: '100000/min,burst=100000',
    });
    const dbFile = join(daemon.dataDir, 'relay.db');
    const before = statSync(dbFile).size;
    // 2 MB of history: far below the 40 MB at which SQLite would copy it by itself.
    for (let i = 0; i < 250; i++) {
      const res = await fetch(`${daemon.url}/api/v1/apps/acme-pm/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token.body.secret}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'e', channels: ['c'], data: `${i}`.padEnd(8000, 'x') }),
      });
      expect(res.status).toBe(200);
    }
    await eventually(async () => statSync(dbFile).size > before + 1_500_000, 5_000, 'the database file to take the writes');
    expect(await daemon.stop()).toBe(0);
  });

  it('a burst of handshakes with one token costs one bcrypt comparison', async () => {
    const daemon = await startDaemon();
    const secret = (await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon })).stdout.trim();
    const sockets = await Promise.all(Array.from({ length: 50 }, () => connectOk(daemon, secret)));
    expect(sockets.every((s) => s.welcome.type === 'welcome')).toBe(true);
    const status = await relay(['status', '--json'], { daemon });
    expect(status.exitCode, status.stderr).toBe(0);
    const body = status.json<{ connections: number; counters: { bcryptCompares: number; handshakesAccepted: number } }>();
    expect(body.counters.bcryptCompares).toBe(1);
    expect(body.counters.handshakesAccepted).toBe(50);
    expect(body.connections).toBe(50);
  });
});

describe('the admin API under bad input', () => {
  it('answers malformed bodies with 400 and the error shape, writes nothing, and keeps running', async () => {
    const daemon = await startDaemon();
    const url = `${daemon.url}/admin/v1/orgs/default/apps`;
    const auth = { authorization: `Bearer ${daemon.adminToken}` };
    const cases: { body: string; type?: string; status: number; match: RegExp }[] = [
      { body: '{', status: 400, match: /invalid JSON/ },
      { body: '[]', status: 400, match: /^the body must be an object \(got a list\)$/ },
      { body: '{"id":"ok-id"}', status: 400, match: /name/ },
      { body: '{"id":5,"name":"x"}', status: 400, match: /id/ },
      { body: '{"id":"Bad","name":"x"}', status: 400, match: /may contain only lowercase letters, digits and hyphens/ },
      { body: '{"id":"ok-id","name":"x","extra":1}', status: 400, match: /extra/ },
      { body: '{"id":"ok-id","name":"x"}', type: 'text/plain', status: 400, match: /Content-Type: application\/json/ },
      { body: JSON.stringify({ id: 'ok-id', name: 'x'.repeat(100_000) }), status: 413, match: /over/ },
    ];
    for (const c of cases) {
      const res = await fetch(url, { method: 'POST', headers: { ...auth, 'content-type': c.type ?? 'application/json' }, body: c.body });
      expect(res.status, c.body.slice(0, 40)).toBe(c.status);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.message).toMatch(c.match);
      expect(typeof body.error.code).toBe('string');
    }
    const noAuth = await fetch(url);
    expect(noAuth.status).toBe(401);
    expect(noAuth.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect((await fetch(`${daemon.url}/admin/v1/nope`, { headers: auth })).status).toBe(404);
    expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
    const list = await relay(['apps', 'list', '--json'], { daemon });
    expect(list.json<{ apps: unknown[] }>().apps).toEqual([]);
    const audit = await relay(['audit', '--json'], { daemon });
    expect(audit.json<{ entries: unknown[] }>().entries).toEqual([]);
  });
});

describe('relay against an unreachable daemon', () => {
  it('exits 6 within 2 s with a hint to start relayd', async () => {
    const started = Date.now();
    const result = await relay(['apps', 'list'], { env: { RELAY_URL: 'http://127.0.0.1:9' } });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toMatch(/relayd/);
    expect(result.stdout).toBe('');
  });
});

describe('the audit log', () => {
  it('records who changed what and when', async () => {
    const daemon = await startDaemon();
    await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon });
    await relay(['apps', 'deactivate', 'acme-pm', '--yes'], { daemon });
    await relay(['apps', 'rotate', 'acme-pm', '-q'], { daemon });
    const audit = await relay(['audit', '--json', '--since', '1h'], { daemon });
    expect(audit.exitCode, audit.stderr).toBe(0);
    const entries = audit.json<{ entries: { action: string; actor: string; targetId: string; at: string }[] }>().entries;
    expect(entries.map((e) => e.action)).toEqual(['app.rotate', 'app.deactivate', 'app.register']);
    expect(entries.every((e) => e.actor.startsWith('admin:') && e.targetId === 'acme-pm')).toBe(true);
    const limited = await relay(['audit', '--json', '--limit', '1'], { daemon });
    expect(limited.json<{ entries: unknown[] }>().entries).toHaveLength(1);
  });
});
