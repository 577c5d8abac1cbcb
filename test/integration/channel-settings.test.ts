import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { relay } from '../helpers/cli.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';

interface Frame {
  event: string;
  channel?: string;
  data?: unknown;
}

/** A raw Pusher-protocol socket that records frames and its close code. */
async function subscriber(daemon: Daemon, key: string): Promise<{ ws: WebSocket; frames: Frame[]; closed: Promise<number> }> {
  const ws = new WebSocket(`${daemon.url.replace('http', 'ws')}/app/${key}?protocol=7&client=test&version=1`);
  const frames: Frame[] = [];
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  ws.on('message', (data) => frames.push(JSON.parse(data.toString()) as Frame));
  await new Promise<void>((resolve, reject) => {
    ws.once('message', () => resolve());
    ws.once('error', reject);
  });
  return { ws, frames, closed };
}

async function registerApp(daemon: Daemon): Promise<{ key: string; token: string }> {
  expect((await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon })).exitCode).toBe(0);
  const { key } = (await relay(['apps', 'credentials', 'acme-pm', '--json'], { daemon })).json<{ key: string }>();
  const token = (await relay(['tokens', 'create', '--app', 'acme-pm', '--name', 'ci', '-q'], { daemon })).stdout.trim();
  return { key, token };
}

describe('channel settings of an app', () => {
  it('are shown, changed with apps update, enforced at once, kept across a restart, and reset with =default', async () => {
    const daemon = await startDaemon();
    const { key, token } = await registerApp(daemon);

    const before = (await relay(['apps', 'show', 'acme-pm', '--json'], { daemon })).json<{ app: Record<string, unknown> }>().app;
    expect(before).toMatchObject({
      clientEvents: false,
      channelConnections: 0,
      channelLimits: { maxConnections: null, maxEventBytes: 10240, maxPresenceMembers: 100, maxPresenceUserInfoBytes: 1024, clientEventsPerSecond: 10, maxSubscriptionsPerConnection: 500 },
    });

    const updated = await relay(['apps', 'update', 'acme-pm', '--client-events', 'on', '--limit', 'maxConnections=1', '--limit', 'maxEventBytes=100', '--json'], { daemon });
    expect(updated.exitCode, updated.stderr).toBe(0);
    expect(updated.json<{ app: Record<string, unknown> }>().app).toMatchObject({ clientEvents: true, channelLimits: { maxConnections: 1, maxEventBytes: 100 } });

    // One connection is the limit: the second is refused with 4004, the first stays.
    const first = await subscriber(daemon, key);
    expect(first.frames[0]?.event).toBe('pusher:connection_established');
    const second = await subscriber(daemon, key);
    expect(second.frames[0]).toMatchObject({ event: 'pusher:error', data: { code: 4004 } });
    expect(await second.closed).toBe(4004);
    expect((await relay(['apps', 'show', 'acme-pm', '--json'], { daemon })).json<{ app: { channelConnections: number } }>().app.channelConnections).toBe(1);

    // Published data over the app's own limit is refused, and nothing is stored.
    const publish = (data: string) =>
      fetch(`${daemon.url}/api/v1/apps/acme-pm/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'e', channel: 'news', data }),
      });
    const big = await publish('x'.repeat(101));
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { message: string } }).error.message).toMatch(/101 bytes; the limit is 100 bytes/);
    expect((await publish('x'.repeat(100))).status).toBe(200);
    const history = (await relay(['events', 'list', '--app', 'acme-pm', '--json'], { daemon })).json<{ events: unknown[] }>();
    expect(history.events).toHaveLength(1);
    first.ws.close();
    await first.closed;

    await daemon.stop();
    const again = await startDaemon({ dataDir: daemon.dataDir });
    const kept = (await relay(['apps', 'show', 'acme-pm', '--json'], { daemon: again })).json<{ app: Record<string, unknown> }>().app;
    expect(kept).toMatchObject({ clientEvents: true, channelLimits: { maxConnections: 1, maxEventBytes: 100 } });

    const reset = await relay(['apps', 'update', 'acme-pm', '--limit', 'maxConnections=default', '--client-events', 'off', '--json'], { daemon: again });
    expect(reset.json<{ app: Record<string, unknown> }>().app).toMatchObject({ clientEvents: false, channelLimits: { maxConnections: null, maxEventBytes: 100 } });
    const a = await subscriber(again, key);
    const b = await subscriber(again, key);
    expect(a.frames[0]?.event).toBe('pusher:connection_established');
    expect(b.frames[0]?.event).toBe('pusher:connection_established');
    a.ws.close();
    b.ws.close();
  });

  it('lists occupied channels with their counts, and an unknown app exits 3', async () => {
    const daemon = await startDaemon();
    const { key } = await registerApp(daemon);
    const empty = await relay(['channels', 'list', '--app', 'acme-pm'], { daemon });
    expect(empty.exitCode).toBe(0);
    expect(empty.stderr).toMatch(/No occupied channels in app acme-pm/);

    const s = await subscriber(daemon, key);
    for (const channel of ['news', 'news-eu', 'sport']) s.ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel } }));
    const t = await subscriber(daemon, key);
    t.ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'news' } }));
    await expect.poll(() => t.frames.some((f) => f.event === 'pusher_internal:subscription_succeeded')).toBe(true);
    await expect.poll(() => s.frames.filter((f) => f.event === 'pusher_internal:subscription_succeeded').length).toBe(3);

    const listed = await relay(['channels', 'list', '--app', 'acme-pm', '--prefix', 'news', '--json'], { daemon });
    expect(listed.json()).toEqual({
      channels: [
        { name: 'news', subscriptionCount: 2, userCount: null },
        { name: 'news-eu', subscriptionCount: 1, userCount: null },
      ],
    });
    const plain = await relay(['channels', 'list', '--app', 'acme-pm'], { daemon });
    expect(plain.stdout).toBe('news\t2\t-\nnews-eu\t1\t-\nsport\t1\t-\n');

    const connections = (await relay(['connections', 'list', '--app', 'acme-pm', '--json'], { daemon })).json<{ connections: { role: string; socketId: string }[] }>();
    expect(connections.connections).toHaveLength(2);
    for (const c of connections.connections) expect(c).toMatchObject({ role: 'channel', socketId: expect.stringMatching(/^\d+\.\d+$/) });

    const unknown = await relay(['channels', 'list', '--app', 'nope'], { daemon });
    expect(unknown.exitCode).toBe(3);
    expect(unknown.stderr).toMatch(/app "nope" not found/);
    s.ws.close();
    t.ws.close();
  });
});
