import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import Pusher from 'pusher';
import { afterEach, describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { startCluster } from '../helpers/cluster.js';
import type { Daemon } from '../helpers/daemon.js';
import { channelName, collect, openRawSocket, registerChannelApp, subscribed, subscriberClient, type ChannelApp } from '../helpers/pusher.js';
import { createTestDatabase, servicesFor } from '../helpers/services.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { historyIds, publishUnderLoad } from '../helpers/load.js';
import { connectOk } from '../helpers/ws.js';

/**
 * Two (or three) real relayd on one PostgreSQL database and one Redis, driven as a user would
 * drive them: the CLI against either node, pusher-js subscribers on one and the `pusher` SDK
 * publishing on the other. Outside CI these are skipped, with one line, when a service is down.
 */
const ready = await servicesFor(['postgres', 'redis'], 'the cluster tests (several relayd on PostgreSQL + Redis)');

const WITHIN = { timeout: 5000, interval: 50 };

/** An API token of the app, made through the CLI on `node`. */
async function apiToken(node: Daemon, appId: string, extra: string[] = []): Promise<{ id: string; secret: string }> {
  const created = await relay(['tokens', 'create', '--app', appId, '--name', 'backend', '--scope', 'events:publish', ...extra, '--json'], { daemon: node });
  expect(created.exitCode, created.stderr).toBe(0);
  const { token, secret } = created.json<{ token: { id: string }; secret: string }>();
  return { id: token.id, secret };
}

/** The `pusher` server SDK pointed at one node. */
function serverOn(node: Daemon, app: ChannelApp): Pusher {
  return new Pusher({ appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1', port: new URL(node.url).port, useTLS: false });
}

function publish(node: Daemon, appId: string, secret: string, channel = 'orders'): Promise<Response> {
  return fetch(`${node.url}/api/v1/apps/${appId}/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'order-shipped', channel, data: '{"id":1}' }),
  });
}

describe.skipIf(!ready)('several relayd as one, on PostgreSQL and Redis', () => {
  it('delivers what the pusher SDK publishes on node A to a pusher-js subscriber on node B, in order', async () => {
    const { nodes } = await startCluster();
    const [a, b] = nodes as [Daemon, Daemon];
    const app = await registerChannelApp(a);
    const name = channelName();
    const channel = await subscribed(subscriberClient(b, app), name);
    const seen = collect<{ n: number }>(channel, 'tick');
    for (let n = 1; n <= 20; n++) await app.server.trigger(name, 'tick', { n });
    await expect.poll(() => seen.length, WITHIN).toBe(20);
    expect(seen.map((d) => d.n)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('keeps one presence member list for the cluster: each member once, on both nodes and in the users endpoint', async () => {
    const { nodes } = await startCluster();
    const [a, b] = nodes as [Daemon, Daemon];
    const app = await registerChannelApp(a);
    const name = channelName('presence-');
    const onA = await subscribed(subscriberClient(a, app, { user_id: 'ann', user_info: { name: 'Ann' } }), name);
    const addedOnA = collect<{ id: string }>(onA, 'pusher:member_added');
    const onB = (await subscribed(subscriberClient(b, app, { user_id: 'bob' }), name)) as unknown as { members: { count: number; get(id: string): { info: unknown } | null } };
    // Bob, joining on B, is told of Ann (who is on A) in his subscription_succeeded.
    expect(onB.members.count).toBe(2);
    expect(onB.members.get('ann')?.info).toEqual({ name: 'Ann' });
    await expect.poll(() => addedOnA.map((m) => m.id), WITHIN).toEqual(['bob']);
    // A second socket of Ann's, on B, adds no member.
    const annAgain = (await subscribed(subscriberClient(b, app, { user_id: 'ann', user_info: { name: 'Ann' } }), name)) as unknown as { members: { count: number } };
    expect(annAgain.members.count).toBe(2);
    for (const node of [a, b]) {
      const users = await serverOn(node, app).get({ path: `/channels/${name}/users` });
      expect(users.status).toBe(200);
      expect(((await users.json()) as { users: { id: string }[] }).users.map((u) => u.id).sort()).toEqual(['ann', 'bob']);
    }
    expect(addedOnA.map((m) => m.id)).toEqual(['bob']);
  });

  it('refuses on node B, at its next request, a token revoked through node A', async () => {
    const { nodes } = await startCluster();
    const [a, b] = nodes as [Daemon, Daemon];
    await registerChannelApp(a);
    const token = await apiToken(a, 'acme-pm');
    expect((await publish(b, 'acme-pm', token.secret)).status).toBe(200);
    const revoked = await relay(['tokens', 'revoke', token.id, '--yes'], { daemon: a });
    expect(revoked.exitCode, revoked.stderr).toBe(0);
    expect((await publish(b, 'acme-pm', token.secret)).status).toBe(401);
  });

  it('closes with 4003 the sockets on node B of an app deactivated through node A', async () => {
    const { nodes } = await startCluster();
    const [a, b] = nodes as [Daemon, Daemon];
    const app = await registerChannelApp(a);
    const socket = await openRawSocket(b, `/app/${app.key}?protocol=7`);
    expect(socket.socketId).not.toBe('');
    const off = await relay(['apps', 'deactivate', app.id, '--yes'], { daemon: a });
    expect(off.exitCode, off.stderr).toBe(0);
    expect((await socket.closed).code).toBe(4003);
    // And B refuses new sockets of it at once.
    expect((await (await openRawSocket(b, `/app/${app.key}?protocol=7`)).closed).code).toBe(4003);
  });

  it('gives a token limited to 10 requests a minute exactly 10, however they are spread over the nodes', async () => {
    const { nodes } = await startCluster();
    const [a, b] = nodes as [Daemon, Daemon];
    await registerChannelApp(a);
    const token = await apiToken(a, 'acme-pm', ['--rate-limit', '10/min,burst=10']);
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await publish(i % 2 === 0 ? a : b, 'acme-pm', token.secret)).status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(10);
  });

  it('lists every node\'s sockets with their node, against either node, and closes one on the other node', async () => {
    const { nodes } = await startCluster();
    const [a, b] = nodes as [Daemon, Daemon];
    const app = await registerChannelApp(a);
    const onA = await openRawSocket(a, `/app/${app.key}?protocol=7`);
    const onB = await openRawSocket(b, `/app/${app.key}?protocol=7`);
    for (const node of [a, b]) {
      const listed = await relay(['connections', 'list', '--app', app.id, '--json'], { daemon: node });
      expect(listed.exitCode, listed.stderr).toBe(0);
      const connections = listed.json<{ connections: { id: string; socketId: string; node: string }[] }>().connections;
      expect(connections.map((c) => [c.socketId, c.node]).sort()).toEqual([
        [onA.socketId, 'node-a'],
        [onB.socketId, 'node-b'],
      ].sort());
    }
    const listed = (await relay(['connections', 'list', '--app', app.id, '--json'], { daemon: a })).json<{ connections: { id: string; node: string }[] }>();
    const remote = listed.connections.find((c) => c.node === 'node-b') as { id: string };
    const closed = await relay(['connections', 'close', remote.id, '--yes'], { daemon: a });
    expect(closed.exitCode, closed.stderr).toBe(0);
    expect((await onB.closed).code).toBe(4009);
    expect(onA.isOpen()).toBe(true);
  });

  it('ends a grace period on every node from the leader: rotated through node B, which dies, old sockets on A and C are closed 4001', async () => {
    const { nodes } = await startCluster(['node-a', 'node-b', 'node-c']);
    const [a, b, c] = nodes as [Daemon, Daemon, Daemon];
    const registered = await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon: a });
    expect(registered.exitCode, registered.stderr).toBe(0);
    const old = registered.stdout.trim();
    const [oldOnA, oldOnC] = await Promise.all([connectOk(a, old), connectOk(c, old)]);
    // Through a node that does not lead (A started first and leads), which then dies: the leader must have been told.
    const rotated = await relay(['apps', 'rotate', 'acme-pm', '--grace', '2s', '-q'], { daemon: b });
    expect(rotated.exitCode, rotated.stderr).toBe(0);
    await b.kill();
    const fresh = await connectOk(c, rotated.stdout.trim());
    const [onA, onC] = await Promise.all([oldOnA.closed, oldOnC.closed]);
    expect([onA.code, onC.code]).toEqual([4001, 4001]);
    fresh.send({ type: 'ping' });
    expect(await fresh.nextFrame()).toEqual({ type: 'pong' });
  });

  it('moves the background jobs to node B when the leader is killed: a grace period rotated through the leader still ends there', async () => {
    const { nodes } = await startCluster();
    const [a, b] = nodes as [Daemon, Daemon];
    const registered = await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon: a });
    expect(registered.exitCode, registered.stderr).toBe(0);
    const oldOnB = await connectOk(b, registered.stdout.trim());
    const rotated = await relay(['apps', 'rotate', 'acme-pm', '--grace', '1s', '-q'], { daemon: a });
    expect(rotated.exitCode, rotated.stderr).toBe(0);
    // A leads and armed the end; it dies before it comes. B takes the lead once A's lease lapses, and ends it.
    await a.kill();
    expect((await oldOnB.closed).code).toBe(4001);
  }, 40_000);

  it('loses no publish a killed node answered: SIGKILL node A under load, and node B\'s history holds every one', async () => {
    const { nodes } = await startCluster();
    const [a, b] = nodes as [Daemon, Daemon];
    await a.admin('POST', '/admin/v1/orgs/default/apps', { id: 'acme-pm', name: 'Acme PM' });
    const created = await a.admin<{ secret: string }>('POST', '/admin/v1/orgs/default/apps/acme-pm/tokens', { name: 'load', scopes: [], rateLimit: '100000/min,burst=100000' });
    const token = created.body.secret;
    const load = publishUnderLoad(a.url, 'acme-pm', token);
    const { acknowledged } = load;
    while (acknowledged.length < 300) await new Promise((r) => setTimeout(r, 5));
    await a.kill();
    await load.stop();
    const stored = await historyIds(b.url, 'acme-pm', token);
    expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
  });

  it('lists the nodes in relay status, and refuses a node with another master key, a node id in use, or the memory broker', async () => {
    const cluster = await startCluster();
    const [a] = cluster.nodes as [Daemon, Daemon];
    const status = await relay(['status', '--json'], { daemon: a });
    expect(status.exitCode, status.stderr).toBe(0);
    const body = status.json<{ node: string; nodes: { id: string; connections: number }[] }>();
    expect(body.node).toBe('node-a');
    expect(body.nodes.map((n) => n.id)).toEqual(['node-a', 'node-b']);

    const human = await relay(['status'], { daemon: a });
    expect(human.stdout).toMatch(/node-b/);

    const otherKey = await cluster.startExpectingExit('node-c', { env: { RELAY_MASTER_KEY: Buffer.alloc(32, 7).toString('base64') } });
    expect(otherKey.exitCode).toBe(1);
    expect(otherKey.stderr).toContain("this node's master key (RELAY_MASTER_KEY) is not the one the store's channel secrets are sealed with");

    const taken = await cluster.startExpectingExit('node-b');
    expect(taken.exitCode).toBe(1);
    expect(taken.entries.find((e) => e.level >= 50)?.msg).toMatch(/another relayd runs as node "node-b" .*its heartbeat lapses within 15s/);

    const memory = await cluster.startExpectingExit('node-d', { args: ['--broker', 'memory'] });
    expect(memory.exitCode).toBe(1);
    expect(memory.entries.find((e) => e.level >= 50)?.msg).toMatch(/node "node-[ab]" .* is alive on this store, and this node has the memory broker/);
  });

  it('runs the migrations once when nodes start together on an empty database', async () => {
    const cluster = await startCluster([]);
    await Promise.all(['node-x', 'node-y', 'node-z'].map((id) => cluster.start(id)));
    const status = (await relay(['status', '--json'], { daemon: cluster.nodes[0] as Daemon })).json<{ nodes: { id: string }[] }>();
    expect(status.nodes.map((n) => n.id).sort()).toEqual(['node-x', 'node-y', 'node-z']);
  });
});

/** A Redis server of the test's own, on a free port, that the test can stop and start again. */
class PrivateRedis {
  #process: ChildProcess | null = null;
  readonly port: number;

  constructor(port: number) {
    this.port = port;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.#process = child;
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
      child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('Ready to accept connections') && resolve());
    });
  }

  async stop(): Promise<void> {
    const child = this.#process;
    this.#process = null;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const redises: PrivateRedis[] = [];
afterEach(async () => {
  for (const redis of redises.splice(0)) await redis.stop();
});

describe.skipIf(!ready)('Redis going away under a trickle of publishes', () => {
  it('answers 503 while Redis is down, stays up with its sockets, and delivers again once Redis is back', async () => {
    const redis = new PrivateRedis(await freePort());
    redises.push(redis);
    await redis.start();
    const cluster = await startCluster([]);
    const a = await cluster.start('node-a', { args: ['--broker', redis.url] });
    const b = await cluster.start('node-b', { args: ['--broker', redis.url] });
    const app = await registerChannelApp(a);
    const token = await apiToken(a, app.id);
    const name = channelName();
    const channel = await subscribed(subscriberClient(b, app), name);
    const seen = collect<{ n: number }>(channel, 'tick');
    const send = (n: number): Promise<Response> =>
      fetch(`${a.url}/api/v1/apps/${app.id}/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token.secret}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'tick', channel: name, data: JSON.stringify({ n }) }),
      });
    expect((await send(1)).status).toBe(200);
    await expect.poll(() => seen.map((d) => d.n), WITHIN).toEqual([1]);

    await redis.stop();
    const during: { status: number; body: { error?: { code: string; message: string } } }[] = [];
    for (let n = 2; n <= 6; n++) {
      const res = await send(n);
      during.push({ status: res.status, body: (await res.json()) as { error?: { code: string; message: string } } });
    }
    expect(during.map((d) => d.status)).toEqual([503, 503, 503, 503, 503]);
    expect(during[0]?.body.error?.code).toBe('unavailable');
    expect(a.process.exitCode).toBeNull();
    expect(b.process.exitCode).toBeNull();

    await redis.start();
    // Both nodes reconnect and B resubscribes its channel by itself: a publish gets through again.
    await expect.poll(async () => (await send(7)).status, { timeout: 15_000, interval: 250 }).toBe(200);
    await expect.poll(() => seen.map((d) => d.n).includes(7), { timeout: 10_000, interval: 100 }).toBe(true);
    const last = await send(8);
    expect(last.status).toBe(200);
    await expect.poll(() => seen.at(-1)?.n, WITHIN).toBe(8);
    expect(seen.map((d) => d.n).filter((n) => n >= 2 && n <= 6)).toEqual([]);
  });
});


describe.skipIf(!ready)('PostgreSQL going away', () => {
  it('answers 503 while the store is unreachable, stays up, and serves again once it is back', async () => {
    const db = await createTestDatabase();
    const proxy = await TcpProxy.start(db.url);
    try {
      const cluster = await startCluster([]);
      const node = await cluster.start('node-a', { args: ['--store', proxy.urlFor(db.url)] });
      await registerChannelApp(node);
      const token = await apiToken(node, 'acme-pm');
      expect((await publish(node, 'acme-pm', token.secret)).status).toBe(200);

      proxy.cut();
      const during = await publish(node, 'acme-pm', token.secret);
      expect(during.status).toBe(503);
      expect(((await during.json()) as { error: { code: string } }).error.code).toBe('unavailable');
      const listed = await relay(['apps', 'list', '--json'], { daemon: node });
      expect(listed.exitCode).toBe(1);
      expect(listed.stderr).toMatch(/unavailable|store/i);
      expect(node.process.exitCode).toBeNull();

      proxy.restore();
      await expect.poll(async () => (await publish(node, 'acme-pm', token.secret)).status, { timeout: 15_000, interval: 250 }).toBe(200);
    } finally {
      await proxy.close();
      await db.drop();
    }
  });
});
