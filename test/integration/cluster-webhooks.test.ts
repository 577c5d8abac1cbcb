import { describe, expect, it } from 'vitest';
import type { Webhook, WebhookDelivery } from '../../src/shared/api.js';
import { relay } from '../helpers/cli.js';
import { startCluster } from '../helpers/cluster.js';
import type { Daemon } from '../helpers/daemon.js';
import { channelName, openRawSocket, registerChannelApp, type ChannelApp, type RawSocket } from '../helpers/pusher.js';
import { servicesFor } from '../helpers/services.js';
import { startReceiver, type HookEvent, type Receiver } from '../helpers/webhooks.js';
import { eventually } from '../helpers/ws.js';

/**
 * Webhook delivery by two real relayd on PostgreSQL + Redis: each delivery is attempted by
 * one node at a time (the one holding its claim), a killed node's deliveries are taken over
 * by the other, and the debounce of channel_vacated and member_removed holds across nodes.
 */
const ready = await servicesFor(['postgres', 'redis'], 'the cluster webhook tests (several relayd on PostgreSQL + Redis)');

const flags = (debounce: string) => ({ args: ['--webhook-allow-private', '--webhook-debounce', debounce] });

async function twoNodes(debounce: string): Promise<[Daemon, Daemon]> {
  const cluster = await startCluster([]);
  for (const id of ['node-a', 'node-b']) await cluster.start(id, flags(debounce));
  return cluster.nodes as [Daemon, Daemon];
}

async function addWebhook(node: Daemon, app: ChannelApp, url: string, events: string[]): Promise<Webhook> {
  const added = await relay(['webhooks', 'add', '--app', app.id, '--url', url, ...events.flatMap((e) => ['--event', e]), '--json'], { daemon: node });
  expect(added.exitCode, added.stderr).toBe(0);
  return added.json<{ webhook: Webhook }>().webhook;
}

async function deliveries(node: Daemon, webhookId: string): Promise<WebhookDelivery[]> {
  const listed = await relay(['webhooks', 'deliveries', webhookId, '--limit', '100', '--json'], { daemon: node });
  expect(listed.exitCode, listed.stderr).toBe(0);
  return listed.json<{ deliveries: WebhookDelivery[] }>().deliveries;
}

async function subscribe(socket: RawSocket, app: ChannelApp, name: string, userId?: string): Promise<void> {
  const succeeded = socket.next((f) => f.event === 'pusher_internal:subscription_succeeded' && f.channel === name, `subscription_succeeded on ${name}`);
  const auth = userId === undefined ? {} : app.server.authorizeChannel(socket.socketId, name, { user_id: userId });
  socket.send({ event: 'pusher:subscribe', data: { channel: name, ...auth } });
  await succeeded;
}

async function joined(node: Daemon, app: ChannelApp, name: string, userId?: string): Promise<RawSocket> {
  const socket = await openRawSocket(node, `/app/${app.key}?protocol=7`);
  await subscribe(socket, app, name, userId);
  return socket;
}

const about = (channel: string) => (e: HookEvent) => e['channel'] === channel;
const deliveryIds = (receiver: Receiver, status?: number): string[] =>
  receiver.requests.filter((r) => status === undefined || r.status === status).map((r) => String(r.headers['x-relay-delivery']));

describe.skipIf(!ready)('webhooks across two relayd nodes', () => {
  it('deliver each event once, each attempt by one node, retries included, also to a node that starts while deliveries are pending', async () => {
    const cluster = await startCluster([]);
    const a = await cluster.start('node-a', flags('0s'));
    const app = await registerChannelApp(a);
    const receiver = await startReceiver();
    // Every attempt fails at first: the retries go through the claims (kept by their node, or left to either node's poll).
    receiver.status = 500;
    const webhook = await addWebhook(a, app, receiver.url, ['channel_occupied', 'channel_vacated']);
    const names = Array.from({ length: 8 }, () => channelName());
    for (const socket of await Promise.all(names.slice(0, 4).map((name) => joined(a, app, name)))) socket.ws.close();
    await eventually(async () => {
      const listed = await deliveries(a, webhook.id);
      return listed.flatMap((d) => d.events).length === 8 && listed.every((d) => d.attempts.length >= 1) ? true : undefined;
    }, 10_000, 'node A\'s deliveries pending');
    // Node B starts while they are pending: it leaves alone what A holds.
    const b = await cluster.start('node-b', flags('0s'));
    for (const socket of await Promise.all(names.slice(4).map((name) => joined(b, app, name)))) socket.ws.close();

    const all = await eventually(async () => {
      const listed = await deliveries(b, webhook.id);
      const events = listed.flatMap((d) => d.events).length;
      return events === 2 * names.length && listed.every((d) => d.attempts.length >= 2) ? listed : undefined;
    }, 15_000, 'every delivery failed twice');
    receiver.status = 200;
    await eventually(async () => ((await deliveries(a, webhook.id)).every((d) => d.status === 'delivered') ? true : undefined), 15_000, 'every delivery delivered');

    // Something behind them on each node: once it is in, nothing of the first channels is still on its way.
    for (const node of [a, b]) {
      const marker = channelName();
      (await joined(node, app, marker)).ws.close();
      await receiver.waitFor((e) => e.name === 'channel_vacated' && about(marker)(e), 10_000, `channel_vacated of ${marker}`);
    }

    const accepted = receiver.requests.filter((r) => r.status === 200).flatMap((r) => r.body.events);
    // Retried deliveries keep no order between them: each event once is what counts.
    for (const name of names) expect(accepted.filter(about(name)).map((e) => e.name).sort()).toEqual(['channel_occupied', 'channel_vacated']);
    const delivered = deliveryIds(receiver, 200);
    expect(new Set(delivered).size).toBe(delivered.length);
    const done = await deliveries(b, webhook.id);
    for (const d of done.filter((x) => all.some((y) => y.id === x.id))) {
      // The log and the receiver agree: each attempt was one request, made by one node of the two.
      expect(deliveryIds(receiver).filter((id) => id === d.id)).toHaveLength(d.attempts.length);
      expect(d.attempts.map((x) => x.statusCode)).toEqual([...d.attempts.slice(0, -1).map(() => 500), 200]);
      for (const x of d.attempts) expect(['node-a', 'node-b']).toContain(x.node);
    }
    // Both nodes made attempts: each attempts what it stores.
    expect(new Set(done.flatMap((d) => d.attempts.map((x) => x.node)))).toEqual(new Set(['node-a', 'node-b']));

    const table = await relay(['webhooks', 'deliveries', webhook.id, '--limit', '100'], { daemon: a });
    expect(table.exitCode, table.stderr).toBe(0);
    // Piped, a line per attempt with the node last (the attempts were made by two nodes).
    const lastFields = table.stdout.trim().split('\n').map((line) => line.split('\t').at(-1));
    expect(new Set(lastFields)).toEqual(new Set(['node-a', 'node-b']));
  });

  it('hand the deliveries of a node killed with SIGKILL over to the other node, each sent once', async () => {
    const [a, b] = await twoNodes('0s');
    const app = await registerChannelApp(a);
    // The receiver is down: connections to its port are refused.
    const receiver = await startReceiver({ listening: false });
    const webhook = await addWebhook(a, app, receiver.url, ['channel_occupied']);
    const names = Array.from({ length: 5 }, () => channelName());
    for (const name of names) await joined(a, app, name);

    const held = await eventually(async () => {
      const listed = await deliveries(b, webhook.id);
      const channels = listed.flatMap((d) => d.channels).sort();
      return channels.join() === [...names].sort().join() && listed.every((d) => d.status === 'pending' && d.attempts.length >= 1) ? listed : undefined;
    }, 10_000, 'pending deliveries with a failed attempt');
    for (const d of held) expect(d.attempts[0]).toMatchObject({ node: 'node-a', statusCode: null, error: expect.stringContaining('ECONNREFUSED') });

    await a.kill();
    await receiver.reopen();
    for (const name of names) await receiver.waitFor(about(name), 25_000, `channel_occupied of ${name} from node B`);
    const done = await eventually(async () => {
      const listed = await deliveries(b, webhook.id);
      return listed.every((d) => d.status === 'delivered') ? listed : undefined;
    }, 5_000, 'the deliveries delivered');
    expect(done.map((d) => d.id).sort()).toEqual(held.map((d) => d.id).sort());
    for (const d of done) expect(d.attempts.at(-1)).toMatchObject({ node: 'node-b', statusCode: 200, error: null });
    // Something behind them on node B: once it is in, every delivery has been sent that will be.
    const marker = channelName();
    await joined(b, app, marker);
    await receiver.waitFor(about(marker), 10_000, 'the marker channel occupied');
    const ids = deliveryIds(receiver).filter((id) => held.some((d) => d.id === id));
    expect(ids.sort()).toEqual(held.map((d) => d.id).sort());
  });

  it('drop a channel_vacated and member_removed held on node A when the subscriber is back on node B within the debounce', async () => {
    const [a, b] = await twoNodes('1s');
    const app = await registerChannelApp(a);
    const receiver = await startReceiver();
    await addWebhook(a, app, receiver.url, ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed']);
    const news = channelName();
    const room = channelName('presence-');
    const onA = await joined(a, app, news);
    await subscribe(onA, app, room, 'ann');
    await receiver.waitFor((e) => e.name === 'member_added' && about(room)(e));
    await receiver.waitFor((e) => e.name === 'channel_occupied' && about(news)(e));

    // A page reload that lands on the other node: gone from A, back on B within the second.
    onA.ws.close();
    await onA.closed;
    const onB = await joined(b, app, news);
    await subscribe(onB, app, room, 'ann');

    // Later events of each node: A's held events would go before A's marker, B's decided ones before B's marker.
    const markerA = channelName();
    (await joined(a, app, markerA)).ws.close();
    const markerB = channelName();
    await joined(b, app, markerB);
    await receiver.waitFor((e) => e.name === 'channel_vacated' && about(markerA)(e), 10_000, `channel_vacated of ${markerA}`);
    await receiver.waitFor((e) => e.name === 'channel_occupied' && about(markerB)(e), 10_000, `channel_occupied of ${markerB}`);
    const told = (channel: string): string[] => receiver.events().filter(about(channel)).map((e) => e.name);
    expect(told(news)).toEqual(['channel_occupied']);
    expect(told(room).sort()).toEqual(['channel_occupied', 'member_added']);

    // Gone for good: the vacated and removed come, from B.
    onB.ws.close();
    await receiver.waitFor((e) => e.name === 'channel_vacated' && about(news)(e), 10_000, `channel_vacated of ${news}`);
    await receiver.waitFor((e) => e.name === 'member_removed' && about(room)(e), 10_000, `member_removed of ${room}`);
    await receiver.waitFor((e) => e.name === 'channel_vacated' && about(room)(e), 10_000, `channel_vacated of ${room}`);
  });
});
