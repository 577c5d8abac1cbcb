import Pusher from 'pusher';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Webhook, WebhookDelivery as Delivery } from '../../src/shared/api.js';
import { relay } from '../helpers/cli.js';
import { startDaemon, startSharedDaemon, type Daemon, type StartOptions } from '../helpers/daemon.js';
import { channelName, sleep } from '../helpers/pusher.js';
import { startReceiver, type HookEvent, type ReceivedRequest, type Receiver } from '../helpers/webhooks.js';
import { connectOk, eventually, type OpenSocket } from '../helpers/ws.js';

interface App {
  id: string;
  key: string;
  secret: string;
  /** The app's relay-protocol token (from `apps register -q`). */
  token: string;
  /** The `pusher` server SDK with the app's credentials: authorizes channels and checks webhooks. */
  pusher: Pusher;
}

/** A relayd that may call the receivers, which listen on 127.0.0.1 (a loopback address, refused by default). */
function startHooked(options: StartOptions = {}): Promise<Daemon> {
  return startDaemon({ ...options, args: ['--webhook-allow-private', ...(options.args ?? [])] });
}

/**
 * The relayd of the tests that need no setting of their own, no restart and no fresh data dir:
 * one start for the file. Each test brings its own app. No debounce: what a test waits for comes
 * at once (the debounce has a test of its own).
 */
let hooked: Daemon;
/** The apps registered on `hooked`, whose webhooks are removed after each test (see below). */
const sharedApps = new Set<string>();

/** Unique app ids, for the apps of every test to live side by side on `hooked`. */
let appCount = 0;

async function registerApp(daemon: Daemon, id = `acme-pm-${++appCount}`): Promise<App> {
  if (daemon === hooked) sharedApps.add(id);
  const registered = await relay(['apps', 'register', '--id', id, '--name', 'Acme PM', '-q'], { daemon });
  expect(registered.exitCode, registered.stderr).toBe(0);
  const { key, secret } = (await relay(['apps', 'credentials', id, '--json'], { daemon })).json<{ key: string; secret: string }>();
  return { id, key, secret, token: registered.stdout.trim(), pusher: new Pusher({ appId: id, key, secret, host: '127.0.0.1' }) };
}

async function addWebhook(daemon: Daemon, app: App, url: string, events: string[] = []): Promise<Webhook> {
  const added = await relay(['webhooks', 'add', '--app', app.id, '--url', url, ...events.flatMap((e) => ['--event', e]), '--json'], { daemon });
  expect(added.exitCode, added.stderr).toBe(0);
  return added.json<{ webhook: Webhook }>().webhook;
}

async function listWebhooks(daemon: Daemon, app: App): Promise<Webhook[]> {
  const listed = await relay(['webhooks', 'list', '--app', app.id, '--json'], { daemon });
  expect(listed.exitCode, listed.stderr).toBe(0);
  return listed.json<{ webhooks: Webhook[] }>().webhooks;
}

async function deliveries(daemon: Daemon, webhookId: string): Promise<Delivery[]> {
  const listed = await relay(['webhooks', 'deliveries', webhookId, '--json'], { daemon });
  expect(listed.exitCode, listed.stderr).toBe(0);
  return listed.json<{ deliveries: Delivery[] }>().deliveries;
}

/** Every body is signed as Pusher signs it: the `pusher` SDK accepts it, and refuses it changed by one byte. */
function expectSigned(app: App, request: ReceivedRequest): void {
  expect(request.method).toBe('POST');
  expect(request.headers['content-type']).toBe('application/json');
  expect(request.headers['x-pusher-key']).toBe(app.key);
  expect(request.headers['x-pusher-signature']).toMatch(/^[0-9a-f]{64}$/);
  expect(request.headers['x-relay-delivery']).toMatch(/^whd_/);
  const hook = app.pusher.webhook({ headers: request.headers as Record<string, string>, rawBody: request.rawBody });
  expect(hook.isValid(), request.rawBody).toBe(true);
  expect(hook.getEvents()).toEqual(request.body.events);
  expect(hook.getTime().getTime()).toBe(request.body.time_ms);
  const altered = request.rawBody.replace(/"time_ms":(\d)/, (_m, d: string) => `"time_ms":${(Number(d) + 1) % 10}`);
  expect(altered).not.toBe(request.rawBody);
  expect(altered).toHaveLength(request.rawBody.length);
  expect(app.pusher.webhook({ headers: request.headers as Record<string, string>, rawBody: altered }).isValid()).toBe(false);
  const otherSecret = new Pusher({ appId: app.id, key: app.key, secret: 'not-the-secret', host: '127.0.0.1' });
  expect(otherSecret.webhook({ headers: request.headers as Record<string, string>, rawBody: request.rawBody }).isValid()).toBe(false);
}

interface ChannelSocket {
  ws: WebSocket;
  socketId: string;
  frames: { event: string; channel?: string; data?: unknown }[];
  subscribe(channel: string, user?: { user_id: string; user_info?: Record<string, unknown> }): Promise<void>;
  send(frame: unknown): void;
  close(): Promise<void>;
}

/** A raw Pusher-protocol socket; private and presence channels are authorized by the `pusher` SDK. */
async function channelSocket(daemon: Daemon, app: App): Promise<ChannelSocket> {
  const ws = new WebSocket(`${daemon.wsUrl}/app/${app.key}?protocol=7&client=test&version=1`);
  const frames: ChannelSocket['frames'] = [];
  const closed = new Promise<void>((resolve) => ws.on('close', () => resolve()));
  ws.on('message', (data) => frames.push(JSON.parse(data.toString()) as ChannelSocket['frames'][number]));
  await new Promise<void>((resolve, reject) => {
    ws.once('message', () => resolve());
    ws.once('error', reject);
  });
  expect(frames[0]?.event).toBe('pusher:connection_established');
  const socketId = (JSON.parse(frames[0]!.data as string) as { socket_id: string }).socket_id;
  const send = (frame: unknown): void => ws.send(JSON.stringify(frame));
  return {
    ws,
    socketId,
    frames,
    send,
    subscribe: async (channel, user) => {
      const data: Record<string, unknown> = { channel };
      if (channel.startsWith('presence-')) Object.assign(data, app.pusher.authorizeChannel(socketId, channel, user));
      else if (channel.startsWith('private-')) Object.assign(data, app.pusher.authorizeChannel(socketId, channel));
      send({ event: 'pusher:subscribe', data });
      await expect
        .poll(() => frames.find((f) => f.channel === channel && (f.event === 'pusher_internal:subscription_succeeded' || f.event === 'pusher:error' || f.event === 'pusher:subscription_error')))
        .toMatchObject({ event: 'pusher_internal:subscription_succeeded' });
    },
    close: async () => {
      ws.close();
      await closed;
    },
  };
}

const named = (name: string, channel?: string) => (e: HookEvent) => e.name === name && (channel === undefined || e.channel === channel);

/** The request that carried an event. */
const requestOf = (receiver: Receiver, event: HookEvent): ReceivedRequest => receiver.requests.find((r) => r.body.events.includes(event))!;

describe('webhooks', () => {
  beforeAll(async () => {
    hooked = await startSharedDaemon({ args: ['--webhook-allow-private', '--webhook-debounce', '0s'] });
  });

  // A webhook left behind would keep retrying what its closed receiver missed, to a port that a
  // later test's receiver may be given; removing it drops its pending deliveries.
  afterEach(async () => {
    for (const app of sharedApps) {
      const listed = await hooked.admin<{ webhooks: Webhook[] }>('GET', `/admin/v1/orgs/default/apps/${app}/webhooks`);
      expect(listed.status).toBe(200);
      for (const webhook of listed.body.webhooks) expect((await hooked.admin('DELETE', `/admin/v1/webhooks/${webhook.id}`)).status).toBe(200);
    }
    sharedApps.clear();
  });

  it('deliver channel_occupied, member_added, client_event, member_removed and channel_vacated, signed so the pusher SDK accepts them', async () => {
    const daemon = hooked;
    const app = await registerApp(daemon);
    expect((await relay(['apps', 'update', app.id, '--client-events', 'on'], { daemon })).exitCode).toBe(0);
    const receiver = await startReceiver();
    const webhook = await addWebhook(daemon, app, receiver.url);
    expect(webhook).toMatchObject({ id: expect.stringMatching(/^wh_/), appId: app.id, org: 'default', url: receiver.url, events: [], status: 'new', failuresInRow: 0, lastAttemptAt: null });

    const channel = channelName('presence-');
    const ann = await channelSocket(daemon, app);
    const bob = await channelSocket(daemon, app);
    const before = Date.now();
    await ann.subscribe(channel, { user_id: 'ann', user_info: { name: 'Ann' } });
    expect(await receiver.waitFor(named('channel_occupied', channel))).toEqual({ name: 'channel_occupied', channel });
    expect(await receiver.waitFor(named('member_added', channel))).toEqual({ name: 'member_added', channel, user_id: 'ann' });

    await bob.subscribe(channel, { user_id: 'bob' });
    expect(await receiver.waitFor((e) => e.name === 'member_added' && e.user_id === 'bob')).toEqual({ name: 'member_added', channel, user_id: 'bob' });

    ann.send({ event: 'client-typing', channel, data: { text: 'hi' } });
    const clientEvent = await receiver.waitFor(named('client_event', channel));
    expect(clientEvent).toEqual({ name: 'client_event', channel, event: 'client-typing', data: expect.any(String), socket_id: ann.socketId, user_id: 'ann' });
    expect(JSON.parse(clientEvent.data as string)).toEqual({ text: 'hi' });

    ann.send({ event: 'pusher:unsubscribe', data: { channel } });
    expect(await receiver.waitFor(named('member_removed', channel))).toEqual({ name: 'member_removed', channel, user_id: 'ann' });
    await bob.close();
    expect(await receiver.waitFor((e) => e.name === 'member_removed' && e.user_id === 'bob')).toEqual({ name: 'member_removed', channel, user_id: 'bob' });
    expect(await receiver.waitFor(named('channel_vacated', channel))).toEqual({ name: 'channel_vacated', channel });

    // Exactly these, once each; a presence channel raises no subscription_count.
    expect(receiver.events().map((e) => `${e.name}${e.user_id ? `:${String(e.user_id)}` : ''}`).sort()).toEqual(
      ['channel_occupied', 'member_added:ann', 'member_added:bob', 'client_event:ann', 'member_removed:ann', 'member_removed:bob', 'channel_vacated'].sort(),
    );
    for (const request of receiver.requests) {
      expectSigned(app, request);
      expect(request.path).toBe('/hooks');
      expect(request.body.time_ms).toBeGreaterThanOrEqual(before - 1000);
      expect(request.body.time_ms).toBeLessThanOrEqual(request.at + 1000);
    }
    // One delivery per body, each with its own id.
    const ids = receiver.requests.map((r) => r.headers['x-relay-delivery']);
    expect(new Set(ids).size).toBe(ids.length);

    const log = await eventually(async () => {
      const all = await deliveries(daemon, webhook.id);
      return all.length === ids.length && all.every((d) => d.status === 'delivered') ? all : undefined;
    }, 10_000, 'every delivery logged as delivered');
    expect(log.map((d) => d.id).sort()).toEqual([...ids].sort());
    for (const d of log) {
      expect(d).toMatchObject({ webhookId: webhook.id, status: 'delivered', nextAttemptAt: null, attempts: [{ statusCode: 200, error: null }] });
      expect(d.events).toEqual(receiver.requests.find((r) => r.headers['x-relay-delivery'] === d.id)!.body.events.map((e) => e.name));
    }
    // Newest first.
    expect([...log].sort((a, b) => b.createdAt.localeCompare(a.createdAt)).map((d) => d.id)).toEqual(log.map((d) => d.id));
    expect((await listWebhooks(daemon, app))[0]).toMatchObject({ id: webhook.id, status: 'ok', lastStatusCode: 200, failuresInRow: 0, lastError: null, lastAttemptAt: expect.any(String) });
    await ann.close();
  });

  it('hold channel_vacated and member_removed back for --webhook-debounce, and drop them with their occupied and added when the channel or user is back', async () => {
    const daemon = await startHooked({ args: ['--webhook-debounce', '1s'] });
    const app = await registerApp(daemon);
    const receiver = await startReceiver();
    await addWebhook(daemon, app, receiver.url, ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed']);
    const room = channelName('presence-');
    const news = channelName('public-');
    const socket = await channelSocket(daemon, app);
    await socket.subscribe(room, { user_id: 'ann' });
    await socket.subscribe(news);
    await receiver.waitFor(named('member_added', room));
    await receiver.waitFor(named('channel_occupied', news));

    // A page reload: gone and back within the second. No webhook says so.
    const succeeded = (channel: string) => socket.frames.filter((f) => f.event === 'pusher_internal:subscription_succeeded' && f.channel === channel).length;
    for (const channel of [room, news]) socket.send({ event: 'pusher:unsubscribe', data: { channel } });
    socket.send({ event: 'pusher:subscribe', data: { channel: news } });
    socket.send({ event: 'pusher:subscribe', data: { channel: room, ...app.pusher.authorizeChannel(socket.socketId, room, { user_id: 'ann' }) } });
    await expect.poll(() => [succeeded(room), succeeded(news)]).toEqual([2, 2]);
    await sleep(1500);
    const names = () => receiver.events().map((e) => `${e.name} ${String(e.channel)}`).sort();
    expect(names()).toEqual([`channel_occupied ${news}`, `channel_occupied ${room}`, `member_added ${room}`].sort());

    // Gone for good: they come, a second later.
    const left = Date.now();
    await socket.close();
    const vacated = await receiver.waitFor(named('channel_vacated', room));
    expect(requestOf(receiver, vacated).at - left).toBeGreaterThanOrEqual(900);
    await receiver.waitFor(named('channel_vacated', news));
    await receiver.waitFor(named('member_removed', room));
    expect(names()).toEqual(
      [`channel_occupied ${news}`, `channel_occupied ${room}`, `member_added ${room}`, `member_removed ${room}`, `channel_vacated ${room}`, `channel_vacated ${news}`].sort(),
    );
  });

  it('send cache_miss once when subscribers find a cache channel empty, and not once it has an event', async () => {
    const daemon = hooked;
    const app = await registerApp(daemon);
    const receiver = await startReceiver();
    await addWebhook(daemon, app, receiver.url, ['cache_miss']);
    const empty = channelName('cache-');
    const filled = channelName('cache-');
    const server = new Pusher({ appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1', port: new URL(daemon.url).port, useTLS: false });
    expect((await server.trigger(filled, 'price', { v: 1 })).status).toBe(200);
    const first = await channelSocket(daemon, app);
    const second = await channelSocket(daemon, app);
    for (const socket of [first, second]) {
      await socket.subscribe(empty);
      await socket.subscribe(filled);
    }
    for (const socket of [first, second]) {
      await expect.poll(() => socket.frames.filter((f) => f.channel === empty).map((f) => f.event)).toEqual(['pusher_internal:subscription_succeeded', 'pusher:cache_miss']);
      await expect.poll(() => socket.frames.filter((f) => f.channel === filled).map((f) => f.event)).toEqual(['pusher_internal:subscription_succeeded', 'price']);
    }
    expectSigned(app, requestOf(receiver, await receiver.waitFor(named('cache_miss', empty))));
    await sleep(300);
    expect(receiver.events()).toEqual([{ name: 'cache_miss', channel: empty }]);
    await first.close();
    await second.close();
  });

  it('batch events raised together into one body, and send subscription_count for public channels once the app counts subscriptions', async () => {
    const daemon = hooked;
    const app = await registerApp(daemon);
    const receiver = await startReceiver();
    await addWebhook(daemon, app, receiver.url);
    // Off by default, as Pusher's subscription counting.
    const uncounted = channelName('public-');
    const socket = await channelSocket(daemon, app);
    await socket.subscribe(uncounted);
    await receiver.waitFor(named('channel_occupied', uncounted));
    expect((await relay(['apps', 'update', app.id, '--subscription-count', 'on'], { daemon })).exitCode).toBe(0);
    const channel = channelName('public-');
    await socket.subscribe(channel);
    const occupied = await receiver.waitFor(named('channel_occupied', channel));
    const count = await receiver.waitFor(named('subscription_count', channel));
    expect(count).toEqual({ name: 'subscription_count', channel, subscription_count: 1 });
    // Raised in the same moment: one body, in the order raised.
    expect(requestOf(receiver, occupied)).toBe(requestOf(receiver, count));
    expect(requestOf(receiver, occupied).body.events).toEqual([occupied, count]);
    expectSigned(app, requestOf(receiver, occupied));
    expect(receiver.events().filter(named('subscription_count', uncounted))).toEqual([]);
    await socket.close();
    await receiver.waitFor(named('channel_vacated', channel));
    expect(receiver.events().filter(named('subscription_count', channel)).map((e) => e.subscription_count)).toEqual([1, 0]);
  });

  it('deliver event_delivered, event_failed, event_rejected and connection_opened/closed from the agent relay', async () => {
    const daemon = hooked;
    const app = await registerApp(daemon);
    const agentToken = (await relay(['agents', 'register', '--id', 'athena', '--name', 'Athena', '-q'], { daemon })).stdout.trim();
    const receiver = await startReceiver();
    await addWebhook(daemon, app, receiver.url);

    const appSocket = await connectOk(daemon, app.token);
    const agent = await connectOk(daemon, agentToken);
    expect(await receiver.waitFor((e) => e.name === 'connection_opened' && e.role === 'app')).toEqual({
      name: 'connection_opened',
      connection_id: appSocket.welcome.connectionId,
      role: 'app',
      app_id: app.id,
    });
    expect(await receiver.waitFor((e) => e.name === 'connection_opened' && e.role === 'agent')).toEqual({
      name: 'connection_opened',
      connection_id: agent.welcome.connectionId,
      role: 'agent',
      agent: 'athena',
    });

    const send = async (socket: OpenSocket, frame: Record<string, unknown>): Promise<string> => {
      socket.send({ type: 'event', ...frame });
      const answer = await socket.nextFrame();
      expect(answer.type, JSON.stringify(answer)).toBe('accepted');
      return answer.eventId as string;
    };

    const ok = await send(appSocket, { agent: 'athena', thread: 'task-1', name: 'task.created', payload: { title: 'Ship it' } });
    expect(await agent.nextFrame()).toMatchObject({ type: 'event', eventId: ok });
    agent.send({ type: 'reply', eventId: ok, payload: { summary: 'done' } });
    const reply = await appSocket.nextFrame();
    expect(reply).toMatchObject({ type: 'reply', eventId: ok });
    const delivered = await receiver.waitFor(named('event_delivered'));
    expect(delivered).toEqual({ name: 'event_delivered', event_id: ok, app_id: app.id, agent: 'athena', thread: 'task-1', event: 'task.created', attempt: 1, latency_ms: expect.any(Number) });
    expect(delivered.latency_ms).toBeGreaterThanOrEqual(0);

    const broken = await send(appSocket, { agent: 'athena', thread: 'task-2', name: 'task.summarize', payload: {} });
    expect(await agent.nextFrame()).toMatchObject({ type: 'event', eventId: broken });
    agent.send({ type: 'error', eventId: broken, error: { message: 'model overloaded' } });
    expect(await appSocket.nextFrame()).toMatchObject({ type: 'failed', eventId: broken });
    expect(await receiver.waitFor(named('event_failed'))).toEqual({
      name: 'event_failed',
      event_id: broken,
      app_id: app.id,
      agent: 'athena',
      thread: 'task-2',
      event: 'task.summarize',
      error: { code: 'agent_error', message: 'model overloaded' },
      attempt: 1,
      latency_ms: expect.any(Number),
    });

    appSocket.send({ type: 'event', ref: 'r', agent: 'ghost', thread: 't', name: 'task.created', payload: 1 });
    const rejectedFrame = await appSocket.nextFrame();
    expect(rejectedFrame).toMatchObject({ type: 'rejected', error: { code: 'agent_not_found' } });
    expect(await receiver.waitFor(named('event_rejected'))).toMatchObject({
      name: 'event_rejected',
      event_id: rejectedFrame.eventId,
      app_id: app.id,
      agent: 'ghost',
      thread: 't',
      event: 'task.created',
      error: { code: 'agent_not_found', message: expect.any(String) },
    });

    agent.ws.close();
    expect(await receiver.waitFor((e) => e.name === 'connection_closed' && e.role === 'agent')).toEqual({
      name: 'connection_closed',
      connection_id: agent.welcome.connectionId,
      role: 'agent',
      agent: 'athena',
    });
    appSocket.ws.close();
    expect(await receiver.waitFor((e) => e.name === 'connection_closed' && e.role === 'app')).toEqual({
      name: 'connection_closed',
      connection_id: appSocket.welcome.connectionId,
      role: 'app',
      app_id: app.id,
    });
    for (const request of receiver.requests) expectSigned(app, request);
  });

  it('retry a delivery answered 500 twice, with backoff and the same delivery id, and log all three attempts', async () => {
    const daemon = hooked;
    const app = await registerApp(daemon);
    const receiver = await startReceiver();
    receiver.queue = [500, 500];
    const webhook = await addWebhook(daemon, app, receiver.url, ['channel_occupied']);
    const channel = channelName('public-');
    const socket = await channelSocket(daemon, app);
    await socket.subscribe(channel);

    const first = (await receiver.waitForRequests(1))[0]!;
    const pending = await eventually(async () => {
      const [d] = await deliveries(daemon, webhook.id);
      return d && d.attempts.length === 1 ? d : undefined;
    }, 5_000, 'the first failed attempt in the log');
    expect(pending).toMatchObject({ id: first.headers['x-relay-delivery'], status: 'pending', events: ['channel_occupied'], nextAttemptAt: expect.any(String), attempts: [{ statusCode: 500 }] });

    // After the second 500 (and before the third try, ~2 s later): failing, twice in a row.
    const failing = await eventually(async () => {
      const [w] = await listWebhooks(daemon, app);
      return w && w.failuresInRow === 2 ? w : undefined;
    }, 5_000, 'failuresInRow 2');
    expect(failing).toMatchObject({ id: webhook.id, status: 'failing', lastStatusCode: 500, failuresInRow: 2, lastAttemptAt: expect.any(String) });
    expect(receiver.requests).toHaveLength(2);

    const [a, b, c] = await receiver.waitForRequests(3, 8_000);
    expect([a!.status, b!.status, c!.status]).toEqual([500, 500, 200]);
    const id = a!.headers['x-relay-delivery'];
    expect(id).toMatch(/^whd_/);
    expect([b!.headers['x-relay-delivery'], c!.headers['x-relay-delivery']]).toEqual([id, id]);
    // The same body each time (stored before the first attempt), each signed.
    expect(b!.rawBody).toBe(a!.rawBody);
    expect(c!.rawBody).toBe(a!.rawBody);
    for (const r of [a!, b!, c!]) expectSigned(app, r);
    expect(c!.body.events).toEqual([{ name: 'channel_occupied', channel }]);
    // Backoff: ~1 s, then ~2 s (±25 %).
    expect(b!.at - a!.at).toBeGreaterThanOrEqual(700);
    expect(b!.at - a!.at).toBeLessThan(2_000);
    expect(c!.at - b!.at).toBeGreaterThanOrEqual(1_450);
    expect(c!.at - b!.at).toBeLessThan(3_500);

    const done = await eventually(async () => {
      const [d] = await deliveries(daemon, webhook.id);
      return d?.status === 'delivered' ? d : undefined;
    }, 5_000, 'the delivery delivered');
    expect(done).toMatchObject({ id, webhookId: webhook.id, status: 'delivered', events: ['channel_occupied'], nextAttemptAt: null });
    expect(done.attempts.map((x) => x.statusCode)).toEqual([500, 500, 200]);
    expect(done.attempts.map((x) => x.error)[2]).toBeNull();
    expect(done.attempts.map((x) => Date.parse(x.at))).toEqual([...done.attempts.map((x) => Date.parse(x.at))].sort((x, y) => x - y));
    for (const x of done.attempts) expect(x.durationMs).toEqual(expect.any(Number));
    expect((await deliveries(daemon, webhook.id)).filter((d) => d.id === id)).toHaveLength(1);

    const [healthy] = await listWebhooks(daemon, app);
    expect(healthy).toMatchObject({ status: 'ok', failuresInRow: 0, lastStatusCode: 200 });

    const plain = await relay(['webhooks', 'deliveries', webhook.id], { daemon });
    expect(plain.exitCode, plain.stderr).toBe(0);
    expect(plain.stdout).toContain(String(id));
    await socket.close();
  });

  it('give a delivery up as failed once the retry period has passed', async () => {
    const daemon = await startHooked({ args: ['--webhook-retry-for', '3s'] });
    const app = await registerApp(daemon);
    const receiver = await startReceiver();
    receiver.status = 500;
    const webhook = await addWebhook(daemon, app, receiver.url, ['channel_occupied']);
    const socket = await channelSocket(daemon, app);
    await socket.subscribe(channelName('public-'));

    const failed = await eventually(async () => {
      const [d] = await deliveries(daemon, webhook.id);
      return d?.status === 'failed' ? d : undefined;
    }, 10_000, 'the delivery failed');
    expect(failed).toMatchObject({ webhookId: webhook.id, status: 'failed', nextAttemptAt: null, events: ['channel_occupied'] });
    expect(failed.attempts.length).toBeGreaterThanOrEqual(2);
    for (const attempt of failed.attempts) expect(attempt.statusCode).toBe(500);
    // No attempt starts after the retry period (3 s from the delivery's creation; a last one may be due at its very end).
    const created = Date.parse(failed.createdAt);
    for (const attempt of failed.attempts) expect(Date.parse(attempt.at) - created).toBeLessThan(3_000 + 250);
    expect(receiver.requests).toHaveLength(failed.attempts.length);
    expect(new Set(receiver.requests.map((r) => r.headers['x-relay-delivery']))).toEqual(new Set([failed.id]));
    expect((await listWebhooks(daemon, app))[0]).toMatchObject({ status: 'failing', failuresInRow: failed.attempts.length, lastStatusCode: 500 });
    await socket.close();
  });

  it('count an attempt without an answer within --webhook-timeout as failed, and retry it', async () => {
    const daemon = await startHooked({ args: ['--webhook-timeout', '1s'] });
    const app = await registerApp(daemon);
    const receiver = await startReceiver();
    receiver.queue = [0];
    const webhook = await addWebhook(daemon, app, receiver.url, ['channel_occupied']);
    const socket = await channelSocket(daemon, app);
    await socket.subscribe(channelName('public-'));

    const [hung, answered] = await receiver.waitForRequests(2, 8_000);
    expect(answered!.headers['x-relay-delivery']).toBe(hung!.headers['x-relay-delivery']);
    expect(answered!.rawBody).toBe(hung!.rawBody);
    const done = await eventually(async () => {
      const [d] = await deliveries(daemon, webhook.id);
      return d?.status === 'delivered' ? d : undefined;
    }, 5_000, 'the delivery delivered');
    expect(done.attempts).toHaveLength(2);
    expect(done.attempts[0]).toMatchObject({ statusCode: null, error: 'no answer within 1s' });
    expect(done.attempts[0]!.durationMs).toBeGreaterThanOrEqual(950);
    expect(done.attempts[0]!.durationMs).toBeLessThan(3_000);
    expect(done.attempts[1]).toMatchObject({ statusCode: 200, error: null });
    await socket.close();
  });

  it('resume pending deliveries after relayd is killed with SIGKILL and restarted', async () => {
    // The receiver is down: its port is free, and connections to it are refused.
    const receiver = await startReceiver({ listening: false });
    const daemon = await startHooked({ args: ['--webhook-debounce', '0s'] });
    const app = await registerApp(daemon);
    const webhook = await addWebhook(daemon, app, receiver.url, ['channel_occupied', 'channel_vacated']);
    const channel = channelName('public-');
    const socket = await channelSocket(daemon, app);
    await socket.subscribe(channel);
    socket.send({ event: 'pusher:unsubscribe', data: { channel } });

    const pending = await eventually(async () => {
      const all = await deliveries(daemon, webhook.id);
      const events = all.flatMap((d) => d.events).sort();
      return events.join() === 'channel_occupied,channel_vacated' && all.every((d) => d.status === 'pending' && d.attempts.length >= 1) ? all : undefined;
    }, 10_000, 'pending deliveries with a failed attempt');
    for (const d of pending) {
      expect(d.nextAttemptAt).toEqual(expect.any(String));
      expect(d.attempts[0]).toMatchObject({ statusCode: null, error: expect.any(String) });
    }
    expect((await listWebhooks(daemon, app))[0]).toMatchObject({ status: 'failing', lastStatusCode: null, lastError: expect.any(String) });

    await daemon.kill();
    await receiver.reopen();
    const again = await startHooked({ dataDir: daemon.dataDir });

    await receiver.waitFor(named('channel_vacated', channel), 15_000);
    await receiver.waitFor(named('channel_occupied', channel), 15_000);
    expect(receiver.events()).toEqual(expect.arrayContaining([{ name: 'channel_occupied', channel }, { name: 'channel_vacated', channel }]));
    expect(receiver.events()).toHaveLength(2);
    expect(new Set(receiver.requests.map((r) => r.headers['x-relay-delivery']))).toEqual(new Set(pending.map((d) => d.id)));
    for (const request of receiver.requests) expectSigned(app, request);

    const done = await eventually(async () => {
      const all = await deliveries(again, webhook.id);
      return all.every((d) => d.status === 'delivered') ? all : undefined;
    }, 5_000, 'the deliveries delivered');
    expect(done.map((d) => d.id).sort()).toEqual(pending.map((d) => d.id).sort());
    for (const d of done) {
      expect(d.attempts.length).toBeGreaterThanOrEqual(2);
      expect(d.attempts.at(-1)).toMatchObject({ statusCode: 200, error: null });
    }
    expect((await listWebhooks(again, app))[0]).toMatchObject({ status: 'ok', failuresInRow: 0, lastStatusCode: 200 });
  });

  it('send only the event types a webhook asks for', async () => {
    const daemon = hooked;
    const app = await registerApp(daemon);
    const onlyOccupied = await startReceiver();
    const all = await startReceiver();
    expect((await relay(['apps', 'update', app.id, '--subscription-count', 'on'], { daemon })).exitCode).toBe(0);
    const filtered = await addWebhook(daemon, app, onlyOccupied.url, ['channel_occupied']);
    expect(filtered.events).toEqual(['channel_occupied']);
    await addWebhook(daemon, app, all.url);

    const first = channelName('public-');
    const socket = await channelSocket(daemon, app);
    await socket.subscribe(first);
    socket.send({ event: 'pusher:unsubscribe', data: { channel: first } });
    await all.waitFor(named('channel_vacated', first));
    // An event raised after those: once the filtered webhook has it, it has had its chance at the others.
    const second = channelName('public-');
    await socket.subscribe(second);
    await onlyOccupied.waitFor(named('channel_occupied', second));

    expect(onlyOccupied.events()).toEqual([
      { name: 'channel_occupied', channel: first },
      { name: 'channel_occupied', channel: second },
    ]);
    expect(all.events().map((e) => e.name)).toEqual(expect.arrayContaining(['channel_occupied', 'subscription_count', 'channel_vacated']));
    const logged = (await deliveries(daemon, filtered.id)).flatMap((d) => d.events);
    expect(logged).toEqual(['channel_occupied', 'channel_occupied']);
    for (const request of onlyOccupied.requests) expectSigned(app, request);
    await socket.close();
  });

  it('stop delivering once removed, dropping pending deliveries', async () => {
    const daemon = hooked;
    const app = await registerApp(daemon);
    const removed = await startReceiver();
    removed.status = 500;
    const kept = await startReceiver();
    const webhook = await addWebhook(daemon, app, removed.url, ['channel_occupied']);
    await addWebhook(daemon, app, kept.url, ['channel_occupied']);

    const socket = await channelSocket(daemon, app);
    const first = channelName('public-');
    await socket.subscribe(first);
    await removed.waitForRequests(1);
    await kept.waitFor(named('channel_occupied', first));
    const firstAttemptAt = removed.requests[0]!.at;

    const result = await relay(['webhooks', 'remove', webhook.id, '--yes'], { daemon });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain(webhook.id);
    expect((await listWebhooks(daemon, app)).map((w) => w.id)).not.toContain(webhook.id);

    const second = channelName('public-');
    await socket.subscribe(second);
    await kept.waitFor(named('channel_occupied', second));
    // The pending delivery's retry was due ~1 s (at most 1.25 s) after its first attempt: wait past it.
    await new Promise((r) => setTimeout(r, Math.max(0, firstAttemptAt + 1_600 - Date.now())));
    expect(removed.requests).toHaveLength(1);
    expect(removed.events()).toEqual([{ name: 'channel_occupied', channel: first }]);

    const again = await relay(['webhooks', 'remove', webhook.id, '--yes'], { daemon });
    expect(again.exitCode).toBe(3);
    await socket.close();
  });

  it('refuse a non-http URL or an unknown event type with exit 2, and an unknown app with exit 3', async () => {
    const daemon = hooked;
    const app = await registerApp(daemon);

    const ftp = await relay(['webhooks', 'add', '--app', app.id, '--url', 'ftp://x'], { daemon });
    expect(ftp.exitCode).toBe(2);
    expect(ftp.stdout).toBe('');
    expect(ftp.stderr).toMatch(/http or https/);

    const bogus = await relay(['webhooks', 'add', '--app', app.id, '--url', 'http://127.0.0.1:9/hooks', '--event', 'bogus'], { daemon });
    expect(bogus.exitCode).toBe(2);
    expect(bogus.stdout).toBe('');
    expect(bogus.stderr).toMatch(/unknown event type "bogus"/);
    expect(bogus.stderr).toContain('channel_occupied');

    const unknownApp = await relay(['webhooks', 'add', '--app', 'nope', '--url', 'http://127.0.0.1:9/hooks'], { daemon });
    expect(unknownApp.exitCode).toBe(3);
    expect(unknownApp.stdout).toBe('');
    expect(unknownApp.stderr).toMatch(/app "nope" not found/);

    expect(await listWebhooks(daemon, app)).toEqual([]);
  });

  it('are managed through the public API with a webhooks:manage token, and refused 403 insufficient_scope without it', async () => {
    const daemon = hooked;
    const app = await registerApp(daemon);
    const other = await registerApp(daemon);
    const token = async (scope: string): Promise<string> => {
      const created = await relay(['tokens', 'create', '--app', app.id, '--name', scope, '--scope', scope, '-q'], { daemon });
      expect(created.exitCode, created.stderr).toBe(0);
      return created.stdout.trim();
    };
    const manage = await token('webhooks:manage');
    const publish = await token('events:publish');
    const api = (bearer: string, method: string, path: string, body?: unknown): Promise<Response> =>
      fetch(`${daemon.url}/api/v1/apps/${app.id}/webhooks${path}`, {
        method,
        headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const receiver = await startReceiver();

    const created = await api(manage, 'POST', '', { url: receiver.url, events: ['channel_occupied'] });
    expect(created.status).toBe(201);
    const { webhook } = (await created.json()) as { webhook: Webhook };
    expect(webhook).toMatchObject({ id: expect.stringMatching(/^wh_/), appId: app.id, url: receiver.url, events: ['channel_occupied'], status: 'new', failuresInRow: 0 });

    const listed = await api(manage, 'GET', '');
    expect(listed.status).toBe(200);
    expect(await listed.json()).toEqual({ webhooks: [webhook] });
    expect(await listWebhooks(daemon, app)).toEqual([webhook]);

    // It delivers like one added with the CLI.
    const socket = await channelSocket(daemon, app);
    const channel = channelName('public-');
    await socket.subscribe(channel);
    expectSigned(app, requestOf(receiver, await receiver.waitFor(named('channel_occupied', channel))));

    const invalid = await api(manage, 'POST', '', { url: 'ftp://x' });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { error: { code: string } }).error.code).toBe('invalid_request');
    const badEvent = await api(manage, 'POST', '', { url: receiver.url, events: ['bogus'] });
    expect(badEvent.status).toBe(400);

    // Without the scope: 403 on every route, naming the scope.
    for (const [method, path, body] of [
      ['GET', '', undefined],
      ['POST', '', { url: receiver.url }],
      ['DELETE', `/${webhook.id}`, undefined],
    ] as const) {
      const refused = await api(publish, method, path, body);
      expect(refused.status, `${method} ${path}`).toBe(403);
      const error = ((await refused.json()) as { error: { code: string; message: string } }).error;
      expect(error.code).toBe('insufficient_scope');
      expect(error.message).toContain('webhooks:manage');
    }
    expect((await listWebhooks(daemon, app)).map((w) => w.id)).toEqual([webhook.id]);

    // Another app's webhook is not this token's to remove.
    const foreign = await addWebhook(daemon, other, receiver.url);
    expect((await api(manage, 'DELETE', `/${foreign.id}`)).status).toBe(404);
    expect(await listWebhooks(daemon, other)).toHaveLength(1);

    const deleted = await api(manage, 'DELETE', `/${webhook.id}`);
    expect(deleted.status).toBe(200);
    expect(((await deleted.json()) as { webhook: Webhook }).webhook).toMatchObject({ id: webhook.id, url: receiver.url });
    expect(await (await api(manage, 'GET', '')).json()).toEqual({ webhooks: [] });
    expect((await api(manage, 'DELETE', `/${webhook.id}`)).status).toBe(404);
    await socket.close();
  });
});

describe('webhook addresses', () => {
  /** Each URL, and why relayd refuses it by default (the WHATWG parser reads 2130706433, 0x7f000001 and 0 as IPv4). */
  const REFUSED: [url: string, why: string][] = [
    ['http://127.0.0.1:9/hooks', '127.0.0.1 is a loopback address'],
    ['http://localhost:9/hooks', 'localhost is a loopback name'],
    ['http://[::1]:9/hooks', '[::1] is the loopback address'],
    ['http://[::ffff:127.0.0.1]:9/hooks', '[::ffff:7f00:1] is an IPv4-mapped form of 127.0.0.1, a loopback address'],
    ['http://169.254.169.254/latest/meta-data/', '169.254.169.254 is the link-local cloud metadata address'],
    ['http://metadata.google.internal/computeMetadata/v1/', 'metadata.google.internal is a private-use name'],
    ['http://10.0.0.1/hooks', '10.0.0.1 is a private address (RFC 1918)'],
    ['http://192.168.1.1/hooks', '192.168.1.1 is a private address (RFC 1918)'],
    ['http://2130706433/hooks', '127.0.0.1 is a loopback address'],
    ['http://0x7f000001/hooks', '127.0.0.1 is a loopback address'],
    ['http://0/hooks', '0.0.0.0 is the unspecified address'],
    ['https://[fd00::1]/hooks', '[fd00::1] is a unique-local address'],
  ];
  const FLAG = '--webhook-allow-private';

  /** A relayd as started by default, refusing private targets, for the tests that need no restart. */
  let plain: Daemon;
  beforeAll(async () => {
    plain = await startSharedDaemon();
  });

  it('refuse loopback, private, link-local and metadata targets through the CLI with exit 2, naming the reason and the flag, and take public ones', async () => {
    const daemon = plain;
    const app = await registerApp(daemon);
    // Each refusal stands alone: asked all at once.
    const results = await Promise.all(REFUSED.map(([url]) => relay(['webhooks', 'add', '--app', app.id, '--url', url], { daemon })));
    for (const [i, [url, why]] of REFUSED.entries()) {
      const result = results[i]!;
      expect(result.exitCode, `${url}: ${result.stderr}`).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain(why);
      expect(result.stderr).toContain(FLAG);
    }
    expect(await listWebhooks(daemon, app)).toEqual([]);

    const publicUrls = ['http://93.184.215.14/hooks', 'https://[2606:4700::1]/hooks', 'https://example.com/hooks'];
    await Promise.all(publicUrls.map((url) => addWebhook(daemon, app, url)));
    expect((await listWebhooks(daemon, app)).map((w) => w.url).sort()).toEqual([...publicUrls].sort());
  });

  it('refuse them through the public API with 400 invalid_request for a webhooks:manage token', async () => {
    const daemon = plain;
    const app = await registerApp(daemon);
    const created = await relay(['tokens', 'create', '--app', app.id, '--name', 'hooks', '--scope', 'webhooks:manage', '-q'], { daemon });
    expect(created.exitCode, created.stderr).toBe(0);
    const token = created.stdout.trim();
    for (const [url, why] of REFUSED) {
      const res = await fetch(`${daemon.url}/api/v1/apps/${app.id}/webhooks`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ url }),
      });
      expect(res.status, url).toBe(400);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe('invalid_request');
      expect(error.message).toContain(why);
      expect(error.message).toContain(FLAG);
    }
    expect(await listWebhooks(daemon, app)).toEqual([]);
  });

  it('are checked where the connection is made: registered with --webhook-allow-private, then relayd restarted without it calls neither a name resolving to loopback nor a loopback literal, and logs why', async () => {
    const receiver = await startReceiver();
    const allowed = await startHooked({ args: ['--webhook-debounce', '0s'] });
    const app = await registerApp(allowed);
    // `localhost` is refused by name at registration; at delivery only what it resolves to counts.
    const byName = await addWebhook(allowed, app, `http://localhost:${receiver.port}/hooks`, ['channel_occupied']);
    const byAddress = await addWebhook(allowed, app, receiver.url, ['channel_occupied']);
    const mapped = await addWebhook(allowed, app, `http://[::ffff:127.0.0.1]:${receiver.port}/hooks`, ['channel_occupied']);

    // While allowed, each of the three reaches the receiver.
    const first = channelName('public-');
    let socket = await channelSocket(allowed, app);
    await socket.subscribe(first);
    await receiver.waitForRequests(3);
    expect(receiver.events()).toEqual([1, 2, 3].map(() => ({ name: 'channel_occupied', channel: first })));
    await socket.close();
    expect(await allowed.stop()).toBe(0);

    const restricted = await startDaemon({ dataDir: allowed.dataDir, args: ['--webhook-debounce', '0s'] });
    const second = channelName('public-');
    socket = await channelSocket(restricted, app);
    await socket.subscribe(second);
    const refused = async (webhookId: string): Promise<Delivery['attempts'][number]> => {
      const attempt = await eventually(async () => (await deliveries(restricted, webhookId)).find((d) => d.status === 'pending' && d.attempts.length > 0)?.attempts[0], 10_000, `a logged attempt of ${webhookId}`);
      expect(attempt.statusCode).toBeNull();
      return attempt;
    };
    expect((await refused(byName.id)).error).toBe(`address not allowed: localhost resolves to 127.0.0.1, a loopback address; relayd sends webhooks only to public addresses unless it is started with ${FLAG}`);
    expect((await refused(byAddress.id)).error).toMatch(/^address not allowed: 127\.0\.0\.1 is a loopback address; .*--webhook-allow-private$/);
    expect((await refused(mapped.id)).error).toMatch(/^address not allowed: ::ffff:7f00:1 is an IPv4-mapped form of 127\.0\.0\.1, a loopback address; /);
    // Each attempt was refused before connecting: the receiver has had nothing since the restart.
    expect(receiver.requests).toHaveLength(3);
    for (const webhook of await listWebhooks(restricted, app)) {
      expect(webhook).toMatchObject({ status: 'failing', lastStatusCode: null, lastError: expect.stringMatching(/^address not allowed: /) });
    }
    await socket.close();
  });

  it('take RELAY_WEBHOOK_ALLOW_PRIVATE as true/false/1/0, and refuse to start on anything else', async () => {
    // Three daemons of their own, side by side.
    const allowing = async (): Promise<void> => {
      const allowed = await startDaemon({ env: { RELAY_WEBHOOK_ALLOW_PRIVATE: '1' } });
      await addWebhook(allowed, await registerApp(allowed), 'http://127.0.0.1:9/hooks');
    };
    const refusing = async (): Promise<void> => {
      const daemon = await startDaemon({ env: { RELAY_WEBHOOK_ALLOW_PRIVATE: 'false' } });
      const refused = await relay(['webhooks', 'add', '--app', (await registerApp(daemon)).id, '--url', 'http://127.0.0.1:9/hooks'], { daemon });
      expect(refused.exitCode).toBe(2);
    };
    await Promise.all([
      allowing(),
      refusing(),
      expect(startDaemon({ env: { RELAY_WEBHOOK_ALLOW_PRIVATE: 'maybe' } })).rejects.toThrow(/exited with 2[\s\S]*--webhook-allow-private \/ RELAY_WEBHOOK_ALLOW_PRIVATE: must be true, false, 1 or 0/),
    ]);
  });
});
