import { describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { connectOk } from '../helpers/ws.js';

async function setUp(): Promise<{ daemon: Daemon; token: string; appToken: string }> {
  const daemon = await startDaemon();
  const appToken = (await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon })).stdout.trim();
  const token = (await relay(['tokens', 'create', '--app', 'acme-pm', '--name', 'all', '-q'], { daemon })).stdout.trim();
  return { daemon, token, appToken };
}

function api(daemon: Daemon, token: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${daemon.url}/api/v1/apps/acme-pm${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

describe('the public HTTP API', () => {
  it('publishes single events and batches, answered once stored, and pages through history newest first', async () => {
    const { daemon, token } = await setUp();
    const single = await api(daemon, token, 'POST', '/events', { name: 'order-shipped', channel: 'orders', data: { id: 1 } });
    expect(single.status).toBe(200);
    const { id } = (await single.json()) as { id: string };
    const batch = await api(daemon, token, 'POST', '/batch_events', {
      batch: [
        { name: 'a', channel: 'c1', data: 'x' },
        { name: 'b', channel: 'c2', data: 'y' },
        { name: 'c', channel: 'c3', data: 'z' },
      ],
    });
    expect(batch.status).toBe(200);
    const { ids } = (await batch.json()) as { ids: string[] };
    expect(ids).toHaveLength(3);

    const first = (await (await api(daemon, token, 'GET', '/history?limit=2')).json()) as { events: { id: string; name: string; kind: string; channels: string[] }[]; next: string };
    expect(first.events.map((e) => e.name)).toEqual(['c', 'b']);
    expect(first.events[0]).toMatchObject({ kind: 'channel', channels: ['c3'] });
    const second = (await (await api(daemon, token, 'GET', `/history?limit=2&before=${first.next}`)).json()) as { events: { id: string; name: string }[]; next: string | null };
    expect(second.events.map((e) => e.id)).toEqual([ids[0], id]);
    expect(second.next).toBeNull();

    const shown = await relay(['apps', 'show', 'acme-pm', '--json'], { daemon });
    expect(shown.json<{ recentEvents: { id: string }[] }>().recentEvents.map((e) => e.id)).toEqual([ids[2], ids[1], ids[0], id]);
  });

  it('enforces Pusher\'s limits with clear messages', async () => {
    const { daemon, token } = await setUp();
    const cases: [unknown, number, RegExp][] = [
      [{ name: 'e', channel: 'c', data: 'x'.repeat(10 * 1024 + 1) }, 413, /10240 bytes/],
      [{ name: 'e', channels: Array.from({ length: 101 }, (_, i) => `c${i}`), data: 'x' }, 400, /at most 100 channels/],
      [{ name: 'e', channel: 'c'.repeat(165), data: 'x' }, 400, /at most 164 characters/],
      [{ name: 'e', channel: 'bad name', data: 'x' }, 400, /may contain only/],
    ];
    for (const [body, status, message] of cases) {
      const res = await api(daemon, token, 'POST', '/events', body);
      expect(res.status).toBe(status);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(message);
    }
    const tooMany = await api(daemon, token, 'POST', '/batch_events', { batch: Array.from({ length: 11 }, () => ({ name: 'e', channel: 'c', data: 'x' })) });
    expect(tooMany.status).toBe(400);
    expect(((await tooMany.json()) as { error: { message: string } }).error.message).toMatch(/at most 10 events/);
    expect(((await (await api(daemon, token, 'GET', '/history')).json()) as { events: unknown[] }).events).toEqual([]);
  });

  it('reads and changes the app, lists and closes its connections', async () => {
    const { daemon, token, appToken } = await setUp();
    const app = (await (await api(daemon, token, 'GET', '')).json()) as { app: { id: string; status: string } };
    expect(app.app).toMatchObject({ id: 'acme-pm', status: 'active' });
    const patched = await api(daemon, token, 'PATCH', '', { description: 'project management' });
    expect(patched.status).toBe(200);
    expect(((await patched.json()) as { app: { description: string } }).app.description).toBe('project management');

    const socket = await connectOk(daemon, appToken);
    const list = (await (await api(daemon, token, 'GET', '/connections')).json()) as { connections: { id: string; role: string }[] };
    expect(list.connections).toEqual([expect.objectContaining({ id: socket.welcome.connectionId, role: 'app' })]);
    const closed = await api(daemon, token, 'DELETE', `/connections/${String(socket.welcome.connectionId)}`);
    expect(closed.status).toBe(200);
    expect((await socket.closed).code).toBe(4009);
    expect((await api(daemon, token, 'DELETE', '/connections/conn_nope')).status).toBe(404);
  });

  it('answers channel queries (empty until subscribers land)', async () => {
    const { daemon, token } = await setUp();
    expect(await (await api(daemon, token, 'GET', '/channels')).json()).toEqual({ channels: [] });
    expect(await (await api(daemon, token, 'GET', '/channels/presence-room')).json()).toMatchObject({ name: 'presence-room', occupied: false });
    expect(await (await api(daemon, token, 'GET', '/channels/presence-room/users')).json()).toEqual({ users: [] });
    expect((await api(daemon, token, 'GET', '/channels/public-room/users')).status).toBe(400);
  });

  it('refuses tokens of deactivated apps with the same plain 401', async () => {
    const { daemon, token } = await setUp();
    expect((await api(daemon, token, 'GET', '')).status).toBe(200);
    await relay(['apps', 'deactivate', 'acme-pm', '--yes'], { daemon });
    const refused = await api(daemon, token, 'GET', '');
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({ error: { code: 'unauthorized', message: 'invalid token' } });
    await relay(['apps', 'activate', 'acme-pm'], { daemon });
    expect((await api(daemon, token, 'GET', '')).status).toBe(200);
  });
});
