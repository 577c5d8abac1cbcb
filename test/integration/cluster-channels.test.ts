import { createHmac } from 'node:crypto';
import Pusher from 'pusher';
import { describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { startCluster } from '../helpers/cluster.js';
import type { Daemon } from '../helpers/daemon.js';
import { channelName, openRawSocket, registerChannelApp, type ChannelApp, type Frame, type RawSocket } from '../helpers/pusher.js';
import { servicesFor } from '../helpers/services.js';
import { startReceiver } from '../helpers/webhooks.js';

/**
 * The channel state of two real relayd on PostgreSQL + Redis, as their subscribers and the
 * app see it: counts, webhooks, cache channels, terminated users and the connection limit
 * are the cluster's, not each node's.
 */
const ready = await servicesFor(['postgres', 'redis'], 'the cluster channel tests (several relayd on PostgreSQL + Redis)');

const WITHIN = { timeout: 5000, interval: 50 };

/** Two nodes that may call a webhook receiver on 127.0.0.1, with no debounce (so that a vacated goes out at once). */
async function twoNodes(): Promise<[Daemon, Daemon]> {
  const cluster = await startCluster([]);
  for (const id of ['node-a', 'node-b']) await cluster.start(id, { args: ['--webhook-allow-private', '--webhook-debounce', '0s'] });
  return cluster.nodes as [Daemon, Daemon];
}

async function joined(node: Daemon, app: ChannelApp, name: string): Promise<RawSocket> {
  const socket = await openRawSocket(node, `/app/${app.key}?protocol=7`);
  const succeeded = socket.next((f) => f.event === 'pusher_internal:subscription_succeeded' && f.channel === name, `subscription_succeeded on ${name}`);
  socket.send({ event: 'pusher:subscribe', data: { channel: name } });
  await succeeded;
  return socket;
}

const countsOf = (socket: RawSocket): number[] =>
  socket.frames.filter((f: Frame) => f.event === 'pusher_internal:subscription_count').map((f) => (JSON.parse(f.data as string) as { subscription_count: number }).subscription_count);

describe.skipIf(!ready)('channels across two relayd nodes', () => {
  it('counts subscribers on both nodes, and sends channel_occupied and channel_vacated once for the cluster', async () => {
    const [a, b] = await twoNodes();
    const app = await registerChannelApp(a);
    const receiver = await startReceiver();
    expect((await relay(['webhooks', 'add', '--app', app.id, '--url', receiver.url, '--event', 'channel_occupied', '--event', 'channel_vacated'], { daemon: a })).exitCode).toBe(0);
    expect((await relay(['apps', 'update', app.id, '--subscription-count', 'on'], { daemon: a })).exitCode).toBe(0);
    const name = channelName();

    const onA = await joined(a, app, name);
    const onB = await joined(b, app, name);
    // B's join is counted with A's, and the count reaches A's subscriber too.
    await expect.poll(() => countsOf(onA), WITHIN).toEqual([1, 2]);
    await expect.poll(() => countsOf(onB), WITHIN).toEqual([2]);
    for (const node of [a, b]) {
      const listed = await relay(['channels', 'list', '--app', app.id, '--json'], { daemon: node });
      expect(listed.exitCode, listed.stderr).toBe(0);
      expect(listed.json<{ channels: unknown[] }>().channels).toEqual([{ name, subscriptionCount: 2, userCount: null }]);
    }
    const shown = await app.server.get({ path: `/channels/${name}`, params: { info: 'subscription_count' } });
    expect(await shown.json()).toEqual({ occupied: true, subscription_count: 2 });

    onA.ws.close();
    await expect.poll(() => countsOf(onB), WITHIN).toEqual([2, 1]);
    onB.ws.close();
    await receiver.waitFor((e) => e.name === 'channel_vacated' && e['channel'] === name, 5000, `channel_vacated of ${name}`);
    // Something behind it on node A: once its vacated is in, A has nothing more of the first channel to send.
    const marker = channelName();
    (await joined(a, app, marker)).ws.close();
    await receiver.waitFor((e) => e.name === 'channel_vacated' && e['channel'] === marker, 5000, `channel_vacated of ${marker}`);
    expect(receiver.events().filter((e) => e['channel'] === name).map((e) => e.name)).toEqual(['channel_occupied', 'channel_vacated']);
    const listed = await relay(['channels', 'list', '--app', app.id, '--json'], { daemon: b });
    expect(listed.json<{ channels: unknown[] }>().channels).toEqual([]);
  });

  it('gives a late subscriber on node B the cache channel event published through node A', async () => {
    const [a, b] = await twoNodes();
    const app = await registerChannelApp(a);
    const name = channelName('cache-');
    await app.server.trigger(name, 'price', { eur: 12 });
    const late = await openRawSocket(b, `/app/${app.key}?protocol=7`);
    const cached = late.next((f) => f.event === 'price' || f.event === 'pusher:cache_miss', 'the cached event or a miss');
    late.send({ event: 'pusher:subscribe', data: { channel: name } });
    expect(await cached).toEqual({ event: 'price', channel: name, data: JSON.stringify({ eur: 12 }) });
  });

  it('closes a user’s sockets on node B when the app terminates the user through node A', async () => {
    const [a, b] = await twoNodes();
    const app = await registerChannelApp(a);
    const socket = await openRawSocket(b, `/app/${app.key}?protocol=7`);
    const userData = JSON.stringify({ id: 'u-1' });
    const signature = createHmac('sha256', app.secret).update(`${socket.socketId}::user::${userData}`).digest('hex');
    const signedIn = socket.next((f) => f.event === 'pusher:signin_success', 'pusher:signin_success');
    socket.send({ event: 'pusher:signin', data: { auth: `${app.key}:${signature}`, user_data: userData } });
    await signedIn;
    const bystander = await openRawSocket(b, `/app/${app.key}?protocol=7`);

    const viaA = new Pusher({ appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1', port: new URL(a.url).port, useTLS: false });
    const answer = await viaA.terminateUserConnections('u-1');
    expect(answer.status).toBe(200);
    expect((await socket.closed).code).toBe(4009);
    expect(bystander.isOpen()).toBe(true);
  });

  it('applies an app’s connection limit to both nodes together', async () => {
    const [a, b] = await twoNodes();
    const app = await registerChannelApp(a);
    expect((await relay(['apps', 'update', app.id, '--limit', 'maxConnections=1'], { daemon: a })).exitCode).toBe(0);
    const first = await openRawSocket(a, `/app/${app.key}?protocol=7`);
    expect(first.frames[0]?.event).toBe('pusher:connection_established');
    const refused = await openRawSocket(b, `/app/${app.key}?protocol=7`);
    expect((await refused.closed).code).toBe(4004);
    first.ws.close();
    // The slot is free once node A has recorded the close: B takes the next connection.
    await expect
      .poll(async () => {
        const socket = await openRawSocket(b, `/app/${app.key}?protocol=7`);
        socket.ws.close();
        return socket.frames[0]?.event;
      }, WITHIN)
      .toBe('pusher:connection_established');
  });
});
