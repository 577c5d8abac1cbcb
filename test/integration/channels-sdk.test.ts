import { randomBytes } from 'node:crypto';
import Pusher from 'pusher';
import { beforeAll, describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { startDaemon, startSharedDaemon, type Daemon } from '../helpers/daemon.js';
import {
  channelName,
  collect,
  next,
  port,
  registerChannelApp,
  signedPost,
  sleep,
  subscribed,
  subscriberClient,
  type ChannelApp,
  type PusherClient,
} from '../helpers/pusher.js';

/**
 * The channel side of relayd as an app moving off Pusher sees it: the real pusher-js (Node
 * build) for subscribers and the real `pusher` server SDK for the backend, unchanged, against
 * a real relayd. Channel names are random; every pusher-js client is disconnected after each
 * test (test/helpers/pusher.ts), and a daemon of a test's own is killed after it (test/helpers/daemon.ts).
 */

/**
 * The relayd of every test but the one that restarts it: one start for the file. Each test
 * registers an app of its own, and channels, connections and history are per app.
 */
let shared: Daemon;
beforeAll(async () => {
  shared = await startSharedDaemon();
});

let apps = 0;

/** An app of the test's own on the shared relayd. */
function sharedApp(options: { encryptionMasterKeyBase64?: string } = {}): Promise<ChannelApp> {
  return registerChannelApp(shared, `acme-pm-${++apps}`, options);
}

/** Long enough to be sure that something relayd would have sent by now did not come. */
const QUIET_MS = 300;

/** How long `expect.poll` waits for something that should come (vitest's default, 1 s, is tight on a busy 2-core box). */
const WITHIN = { timeout: 5000, interval: 50 };

interface Frame {
  event: string;
  channel?: string;
  data?: unknown;
  user_id?: string;
}

/** Every frame a pusher-js client receives, `pusher_internal:` ones included, as pusher-js decoded it. */
function frames(client: PusherClient): Frame[] {
  const seen: Frame[] = [];
  client.connection.bind('message', (frame: Frame) => seen.push(frame));
  return seen;
}

/** `{code, message}` of a `pusher:error`: Pusher sends it as an object or as a JSON string. */
function errorData(data: unknown): { code: number | null; message: string } {
  return (typeof data === 'string' ? JSON.parse(data) : data) as { code: number | null; message: string };
}

type PresenceChannel = {
  members: { count: number; me: { id: string } | null; each(f: (m: { id: string; info: unknown }) => void): void };
};

function memberIds(channel: unknown): string[] {
  const ids: string[] = [];
  (channel as PresenceChannel).members.each((m) => ids.push(m.id));
  return ids.sort();
}

/**
 * The close code for which pusher-js gave a connection up (state `disconnected` without the
 * test asking): pusher-js reports it as the last `error` before that state change.
 */
function givenUpWith(client: PusherClient): Promise<number | undefined> {
  type PusherJsError = { data?: { code?: number }; error?: { data?: { code?: number } } };
  let last: number | undefined;
  client.connection.bind('error', (e: PusherJsError) => (last = e.error?.data?.code ?? e.data?.code));
  return new Promise((resolve) =>
    client.connection.bind('state_change', (s: { current: string }) => {
      if (s.current === 'disconnected') resolve(last);
    }),
  );
}

/** The app's refusal body as relayd documents it: `{"error":{"code":"unauthorized","message":...}}`. */
async function refusal(res: Response): Promise<{ code: string; message: string }> {
  return ((await res.json()) as { error: { code: string; message: string } }).error;
}

describe('channels through pusher-js and the pusher SDK', () => {
  it('deliver an SDK trigger to a public channel subscriber and record it in history', async () => {
    const daemon = shared;
    const app = await sharedApp();
    const client = subscriberClient(daemon, app);
    const name = channelName();
    const channel = await subscribed(client, name);
    const got = next(channel, 'order-shipped');

    const answer = await app.server.trigger(name, 'order-shipped', { id: 7, items: ['a', 'b'] });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({});
    expect(await got).toEqual({ id: 7, items: ['a', 'b'] });

    const history = await relay(['events', 'list', '--app', app.id, '--json'], { daemon });
    expect(history.exitCode, history.stderr).toBe(0);
    expect(history.json<{ events: unknown[] }>().events).toEqual([expect.objectContaining({ kind: 'channel', name: 'order-shipped', channels: [name] })]);
  });

  it('subscribe to a private channel with the auth the SDK’s authorizeChannel produced', async () => {
    const daemon = shared;
    const app = await sharedApp();
    const client = subscriberClient(daemon, app);
    const name = channelName('private-');
    const channel = await subscribed(client, name);
    expect(channel.subscribed).toBe(true);
    const got = next(channel, 'invoice-paid');
    await app.server.trigger(name, 'invoice-paid', { total: 42 });
    expect(await got).toEqual({ total: 42 });

    // An auth endpoint with the wrong secret: that subscription is refused, the connection stays.
    const forger = subscriberClient(daemon, { ...app, server: new Pusher({ appId: app.id, key: app.key, secret: 'not-the-secret', host: '127.0.0.1', port: String(port(daemon)), useTLS: false }) });
    const other = channelName('private-');
    await expect(subscribed(forger, other)).rejects.toThrow(/Invalid signature: Expected HMAC SHA256 hex digest of \d+\.\d+:private-test-[0-9a-f]+, but got [0-9a-f]{64}/);
    expect(forger.connection.state).toBe('connected');
    expect((await subscribed(forger, channelName())).subscribed).toBe(true);
  });

  it('announce presence members once per user, never to the user’s own connections, on unsubscribe and on disconnect', async () => {
    const daemon = shared;
    const app = await sharedApp();
    const name = channelName('presence-');
    const ada = subscriberClient(daemon, app, { user_id: 'ada', user_info: { name: 'Ada' } });
    const bob = subscriberClient(daemon, app, { user_id: 'bob', user_info: { name: 'Bob' } });
    const bobTab = subscriberClient(daemon, app, { user_id: 'bob', user_info: { name: 'Bob' } });
    const adaFrames = frames(ada);
    const bobFrames = frames(bob);
    const bobTabFrames = frames(bobTab);
    const memberEvents = (seen: Frame[]) => seen.filter((f) => f.event === 'pusher_internal:member_added' || f.event === 'pusher_internal:member_removed');

    const adaRoom = await subscribed(ada, name);
    expect((adaRoom as unknown as PresenceChannel).members.count).toBe(1);
    expect((adaRoom as unknown as PresenceChannel).members.me?.id).toBe('ada');
    const added = collect<{ id: string; info: unknown }>(adaRoom, 'pusher:member_added');
    const removed = collect<{ id: string; info: unknown }>(adaRoom, 'pusher:member_removed');

    const bobRoom = await subscribed(bob, name);
    await expect.poll(() => added.length, WITHIN).toBe(1);
    expect(added[0]).toEqual({ id: 'bob', info: { name: 'Bob' } });
    expect((adaRoom as unknown as PresenceChannel).members.count).toBe(2);
    expect((bobRoom as unknown as PresenceChannel).members.count).toBe(2);
    expect(memberIds(bobRoom)).toEqual(['ada', 'bob']);

    // Bob's second connection: the same user, so nobody hears of it.
    const bobTabRoom = await subscribed(bobTab, name);
    expect((bobTabRoom as unknown as PresenceChannel).members.count).toBe(2);
    expect(memberIds(bobTabRoom)).toEqual(['ada', 'bob']);
    await sleep(QUIET_MS);
    expect(added).toHaveLength(1);
    expect((adaRoom as unknown as PresenceChannel).members.count).toBe(2);

    // One of Bob's connections goes away: Bob is still there.
    bob.disconnect();
    await sleep(QUIET_MS);
    expect(removed).toEqual([]);
    expect((adaRoom as unknown as PresenceChannel).members.count).toBe(2);

    // His last one unsubscribes: Bob has left, once.
    bobTab.unsubscribe(name);
    await expect.poll(() => removed.length, WITHIN).toBe(1);
    expect(removed[0]).toMatchObject({ id: 'bob' });
    expect((adaRoom as unknown as PresenceChannel).members.count).toBe(1);
    expect(memberIds(adaRoom)).toEqual(['ada']);

    // The other way round: one of Carol's two connections unsubscribes (she stays), her last disconnects (she has left).
    const carol = subscriberClient(daemon, app, { user_id: 'carol' });
    const carolTab = subscriberClient(daemon, app, { user_id: 'carol' });
    const carolFrames = frames(carol);
    await subscribed(carol, name);
    await subscribed(carolTab, name);
    await expect.poll(() => added.length, WITHIN).toBe(2);
    carolTab.unsubscribe(name);
    await sleep(QUIET_MS);
    expect(removed).toHaveLength(1);
    carol.disconnect();
    await expect.poll(() => removed.length, WITHIN).toBe(2);
    expect(removed[1]).toMatchObject({ id: 'carol' });
    expect((adaRoom as unknown as PresenceChannel).members.count).toBe(1);
    await sleep(QUIET_MS);

    // On the wire: Ada heard of each once each way; the others' connections heard nothing of themselves.
    expect(memberEvents(adaFrames).map((f) => [f.event, (f.data as { user_id: string }).user_id])).toEqual([
      ['pusher_internal:member_added', 'bob'],
      ['pusher_internal:member_removed', 'bob'],
      ['pusher_internal:member_added', 'carol'],
      ['pusher_internal:member_removed', 'carol'],
    ]);
    expect(memberEvents(bobFrames)).toEqual([]);
    expect(memberEvents(bobTabFrames)).toEqual([]);
    expect(memberEvents(carolFrames)).toEqual([]);
  });

  it('pass client events on a private channel only while the app allows them, never back to the sender', async () => {
    const daemon = shared;
    const app = await sharedApp();
    const name = channelName('private-');
    const ada = subscriberClient(daemon, app);
    const bob = subscriberClient(daemon, app);
    const adaRoom = await subscribed(ada, name);
    const bobRoom = await subscribed(bob, name);
    const adaGot = collect<unknown>(adaRoom, 'client-typing');
    const bobGot = collect<unknown>(bobRoom, 'client-typing');
    const bobErrors = collect<unknown>(bobRoom, 'pusher:error');

    // Off by default: refused on that channel, the connection stays.
    expect(bobRoom.trigger('client-typing', { typing: true })).toBe(true);
    await expect.poll(() => bobErrors.length, WITHIN).toBe(1);
    expect(errorData(bobErrors[0])).toEqual({ code: null, message: expect.stringMatching(/client events/i) });
    await sleep(QUIET_MS);
    expect(adaGot).toEqual([]);
    expect(bob.connection.state).toBe('connected');

    const on = await relay(['apps', 'update', app.id, '--client-events', 'on', '--json'], { daemon });
    expect(on.exitCode, on.stderr).toBe(0);
    bobRoom.trigger('client-typing', { typing: true });
    await expect.poll(() => adaGot.length, WITHIN).toBe(1);
    expect(adaGot[0]).toEqual({ typing: true });
    adaRoom.trigger('client-typing', { typing: false });
    await expect.poll(() => bobGot.length, WITHIN).toBe(1);
    expect(bobGot[0]).toEqual({ typing: false });
    await sleep(QUIET_MS);
    // Not echoed: each side has only the other's event.
    expect(adaGot).toEqual([{ typing: true }]);
    expect(bobGot).toEqual([{ typing: false }]);
    expect(bobErrors).toHaveLength(1);

    // Off again: refused again.
    const off = await relay(['apps', 'update', app.id, '--client-events', 'off', '--json'], { daemon });
    expect(off.exitCode, off.stderr).toBe(0);
    bobRoom.trigger('client-typing', { typing: true });
    await expect.poll(() => bobErrors.length, WITHIN).toBe(2);
    await sleep(QUIET_MS);
    expect(adaGot).toHaveLength(1);
  });

  it('route private-encrypted- events that pusher-js decrypts with the shared secret, relayd seeing only ciphertext', async () => {
    const daemon = shared;
    const app = await sharedApp({ encryptionMasterKeyBase64: randomBytes(32).toString('base64') });
    const client = subscriberClient(daemon, app);
    const seen = frames(client);
    const name = channelName('private-encrypted-');
    const channel = await subscribed(client, name);
    const got = next(channel, 'diagnosis');
    await app.server.trigger(name, 'diagnosis', { text: 'for your eyes only' });
    expect(await got).toEqual({ text: 'for your eyes only' });

    const onWire = seen.find((f) => f.event === 'diagnosis');
    expect(onWire?.data).toEqual({ nonce: expect.any(String), ciphertext: expect.any(String) });
    expect(JSON.stringify(onWire)).not.toContain('for your eyes only');

    // One event to an encrypted channel and another channel: refused (the SDK itself refuses to send it).
    const mixed = await signedPost(daemon, app, '/events', JSON.stringify({ name: 'e', channels: [name, channelName()], data: '{}' }));
    expect(mixed.status).toBe(400);
    expect((await refusal(mixed)).code).toBe('invalid_request');
    const token = (await relay(['tokens', 'create', '--app', app.id, '--name', 'ci', '-q'], { daemon })).stdout.trim();
    const mixedByToken = await fetch(`${daemon.url}/api/v1/apps/${app.id}/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'e', channels: [name, channelName()], data: '{}' }),
    });
    expect(mixedByToken.status).toBe(400);
    await sleep(QUIET_MS);
    expect(seen.filter((f) => f.event === 'e')).toEqual([]);
  });

  it('leave out the connection whose socket_id the trigger names', async () => {
    const daemon = shared;
    const app = await sharedApp();
    const name = channelName();
    const sender = subscriberClient(daemon, app);
    const other = subscriberClient(daemon, app);
    const senderGot = collect(await subscribed(sender, name), 'update');
    const otherGot = collect(await subscribed(other, name), 'update');
    expect(sender.connection.socket_id).toMatch(/^\d+\.\d+$/);

    await app.server.trigger(name, 'update', { n: 1 }, { socket_id: sender.connection.socket_id });
    await expect.poll(() => otherGot, WITHIN).toEqual([{ n: 1 }]);
    await sleep(QUIET_MS);
    expect(senderGot).toEqual([]);

    // Without socket_id both get it.
    await app.server.trigger(name, 'update', { n: 2 });
    await expect.poll(() => senderGot, WITHIN).toEqual([{ n: 2 }]);
    await expect.poll(() => otherGot, WITHIN).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('deliver one trigger to 100 channels and a triggerBatch, each event exactly once', async () => {
    const daemon = shared;
    const app = await sharedApp();
    const client = subscriberClient(daemon, app);
    const names = Array.from({ length: 100 }, () => channelName());
    const channels = await Promise.all(names.map((n) => subscribed(client, n)));
    const fanOut = channels.map((c) => collect(c, 'fan-out'));

    const answer = await app.server.trigger(names, 'fan-out', { ok: 1 });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({});
    await expect.poll(() => fanOut.filter((got) => got.length > 0).length, WITHIN).toBe(100);
    await sleep(QUIET_MS);
    expect(fanOut).toEqual(names.map(() => [{ ok: 1 }]));

    const batched = channels.slice(0, 10).map((c) => collect(c, 'batched'));
    const batch = names.slice(0, 10).map((channel, i) => ({ channel, name: 'batched', data: { i } }));
    const batchAnswer = await app.server.triggerBatch(batch);
    expect(batchAnswer.status).toBe(200);
    expect(await batchAnswer.json()).toEqual({});
    await expect.poll(() => batched.filter((got) => got.length > 0).length, WITHIN).toBe(10);
    await sleep(QUIET_MS);
    expect(batched).toEqual(Array.from({ length: 10 }, (_, i) => [{ i }]));

    // With info on one event, the answer has an entry per event, in order.
    const withInfo = await app.server.triggerBatch([
      { channel: names[0] as string, name: 'counted', data: {}, info: 'subscription_count' },
      { channel: names[1] as string, name: 'counted', data: {} },
    ]);
    expect(await withInfo.json()).toEqual({ batch: [{ subscription_count: 1 }, {}] });
  });

  it('answer channel queries with the info asked for: users counted once, connections each', async () => {
    const daemon = shared;
    const app = await sharedApp();
    const room = channelName('presence-');
    const news = channelName();
    const ada = subscriberClient(daemon, app, { user_id: 'ada' });
    const bob = subscriberClient(daemon, app, { user_id: 'bob' });
    const bobTab = subscriberClient(daemon, app, { user_id: 'bob' });
    await Promise.all([subscribed(ada, room), subscribed(bob, room), subscribed(bobTab, room), subscribed(ada, news), subscribed(bob, news)]);

    const get = async (path: string, params: Record<string, string> = {}): Promise<unknown> => {
      const res = await app.server.get({ path, params });
      expect(res.status).toBe(200);
      return res.json();
    };
    expect(await get('/channels', { filter_by_prefix: 'presence-', info: 'user_count' })).toEqual({ channels: { [room]: { user_count: 2 } } });
    expect(await get('/channels')).toEqual({ channels: { [room]: {}, [news]: {} } });
    expect(await get(`/channels/${news}`, { info: 'subscription_count' })).toEqual({ occupied: true, subscription_count: 2 });
    expect(await get(`/channels/${room}`, { info: 'user_count' })).toEqual({ occupied: true, user_count: 2 });
    const users = (await get(`/channels/${room}/users`)) as { users: { id: string }[] };
    expect(users.users.map((u) => u.id).sort()).toEqual(['ada', 'bob']);
    expect(users.users).toHaveLength(2);
    expect(await get(`/channels/${channelName()}`)).toEqual({ occupied: false });

    // Once everybody has gone, the channels are no longer listed.
    for (const c of [ada, bob, bobTab]) c.disconnect();
    await expect.poll(() => get('/channels'), WITHIN).toEqual({ channels: {} });
  });

  it('count subscriptions to pusher-js once the app turns subscription counting on', async () => {
    const daemon = shared;
    const app = await sharedApp();
    const ada = subscriberClient(daemon, app);
    const before = channelName();
    const uncounted = collect<{ subscription_count: number }>(await subscribed(ada, before), 'pusher:subscription_count');
    expect((await relay(['apps', 'update', app.id, '--subscription-count', 'on', '--json'], { daemon })).json<{ app: { subscriptionCount: boolean } }>().app.subscriptionCount).toBe(true);

    const name = channelName();
    const adaChannel = ada.subscribe(name);
    const counts = collect<{ subscription_count: number }>(adaChannel, 'pusher:subscription_count');
    await expect.poll(() => counts.map((c) => c.subscription_count), WITHIN).toEqual([1]);
    const bob = subscriberClient(daemon, app);
    const bobChannel = await subscribed(bob, name);
    await expect.poll(() => counts.map((c) => c.subscription_count), WITHIN).toEqual([1, 2]);
    expect(bobChannel.subscriptionCount).toBe(2);
    bob.disconnect();
    await expect.poll(() => counts.map((c) => c.subscription_count), WITHIN).toEqual([1, 2, 1]);
    expect(adaChannel.subscriptionCount).toBe(1);

    // Presence channels count users instead, and the channel subscribed before was never counted to.
    const room = channelName('presence-');
    const roomCounts = collect(await subscribed(ada, room), 'pusher:subscription_count');
    await sleep(QUIET_MS);
    expect(roomCounts).toEqual([]);
    expect(uncounted).toEqual([]);
  });

  it('keep the last event of cache channels for subscribers who come later, and tell them of a miss', async () => {
    const daemon = shared;
    const app = await sharedApp();
    const prices = channelName('cache-');
    await app.server.trigger(prices, 'price', { v: 1 });
    await app.server.trigger(prices, 'price', { v: 2 });

    // Nobody was subscribed: the latest event waits, and comes right after the subscription.
    const early = subscriberClient(daemon, app);
    const channel = early.subscribe(prices);
    expect(await next(channel, 'price')).toEqual({ v: 2 });
    const live = next(channel, 'price');
    await app.server.trigger(prices, 'price', { v: 3 });
    expect(await live).toEqual({ v: 3 });
    const late = subscriberClient(daemon, app);
    expect(await next(late.subscribe(prices), 'price')).toEqual({ v: 3 });

    // A cache channel nothing was published to: pusher:cache_miss, and no event.
    const empty = channelName('private-cache-');
    const missed = early.subscribe(empty);
    const seen = collect(missed, 'price');
    await new Promise<void>((resolve) => missed.bind('pusher:cache_miss', () => resolve()));
    expect(missed.subscribed).toBe(true);

    const info = (name: string) => app.server.get({ path: `/channels/${name}`, params: { info: 'cache' } });
    const cached = (await (await info(prices)).json()) as { occupied: boolean; cache: { data: string; ttl: number } };
    expect(cached).toEqual({ occupied: true, cache: { data: JSON.stringify({ v: 3 }), ttl: expect.any(Number) } });
    expect(cached.cache.ttl).toBeGreaterThan(1790);
    expect(cached.cache.ttl).toBeLessThanOrEqual(1800);
    expect(await (await info(empty)).json()).toEqual({ occupied: true, cache: null });
    // info=cache is for cache channels only, as Pusher's.
    await expect(info(channelName())).rejects.toMatchObject({ status: 400 });
    expect(seen).toEqual([]);
  });

  it('refuse a wrong secret, an expired timestamp and a body other than the signed one with 401, delivering none of them', async () => {
    const daemon = shared;
    const app = await sharedApp();
    const client = subscriberClient(daemon, app);
    const name = channelName();
    const got = collect(await subscribed(client, name), 'e');

    const wrong = new Pusher({ appId: app.id, key: app.key, secret: 'wrong-secret', host: '127.0.0.1', port: String(port(daemon)), useTLS: false });
    const refused = await wrong.trigger(name, 'e', { n: 'wrong-secret' }).then(
      () => null,
      (err: Pusher.RequestError) => err,
    );
    expect(refused?.status).toBe(401);
    expect(JSON.parse(refused?.body ?? '{}')).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
    await expect(wrong.get({ path: '/channels' })).rejects.toMatchObject({ status: 401 });
    // The right key and secret, but the path names another app.
    const elsewhere = new Pusher({ appId: 'other-app', key: app.key, secret: app.secret, host: '127.0.0.1', port: String(port(daemon)), useTLS: false });
    await expect(elsewhere.trigger(name, 'e', { n: 'other-app' })).rejects.toMatchObject({ status: 401 });

    const body = JSON.stringify({ name: 'e', channels: [name], data: JSON.stringify({ n: 'signed' }) });
    const now = Math.floor(Date.now() / 1000);
    const expired = await signedPost(daemon, app, '/events', body, { timestamp: now - 700 });
    expect(expired.status).toBe(401);
    expect(await refusal(expired)).toEqual({ code: 'unauthorized', message: expect.stringMatching(/^Timestamp expired/) });

    const tampered = body.replace('signed', 'forged');
    const badMd5 = await signedPost(daemon, app, '/events', tampered, { md5Of: body });
    expect(badMd5.status).toBe(401);
    expect((await refusal(badMd5)).code).toBe('unauthorized');

    // The same hand-made signature with a fresh timestamp and the right body is accepted.
    const good = await signedPost(daemon, app, '/events', body, { timestamp: now });
    expect(good.status).toBe(200);
    expect(await good.json()).toEqual({});
    await expect.poll(() => got, WITHIN).toEqual([{ n: 'signed' }]);
    await sleep(QUIET_MS);
    expect(got).toEqual([{ n: 'signed' }]);
  });

  it('let pusher-js come back after relayd restarts on the same port and data dir, and receive on its channel again', async () => {
    const first = await startDaemon();
    const app = await registerChannelApp(first);
    const client = subscriberClient(first, app);
    const name = channelName();
    const channel = await subscribed(client, name);
    const before = client.connection.socket_id;
    const got = collect(channel, 'after-restart');
    const closeCodes: number[] = [];
    client.connection.bind('error', (e: { data?: { code?: number } }) => {
      if (typeof e.data?.code === 'number') closeCodes.push(e.data.code);
    });
    const states: string[] = [];
    client.connection.bind('state_change', (s: { current: string }) => states.push(s.current));

    expect(await first.stop()).toBe(0);
    // SIGTERM: 4200, "reconnect at once".
    await expect.poll(() => closeCodes, WITHIN).toContain(4200);
    await expect.poll(() => client.connection.state, WITHIN).not.toBe('connected');

    await startDaemon({ dataDir: first.dataDir, args: ['--port', String(port(first))] });
    // pusher-js's first attempt found relayd down; its next one comes after its 15 s transport timeout.
    await expect.poll(() => client.connection.state, { timeout: 25_000, interval: 100 }).toBe('connected');
    expect(client.connection.socket_id).not.toBe(before);
    // pusher-js subscribes again by itself.
    await expect.poll(() => channel.subscribed, WITHIN).toBe(true);
    expect(states).toContain('connecting');

    // Same port and the same app (kept in the data dir): the same SDK instance works.
    await app.server.trigger(name, 'after-restart', { back: true });
    await expect.poll(() => got, WITHIN).toEqual([{ back: true }]);
  }, 40_000);

  it('let Bearer-token publishes reach pusher-js subscribers and history too', async () => {
    const daemon = shared;
    const app = await sharedApp();
    const created = await relay(['tokens', 'create', '--app', app.id, '--name', 'ci', '-q'], { daemon });
    expect(created.exitCode, created.stderr).toBe(0);
    const token = created.stdout.trim();
    const name = channelName();
    const sender = subscriberClient(daemon, app);
    const client = subscriberClient(daemon, app);
    const senderGot = collect(await subscribed(sender, name), 'via-api');
    const got = collect(await subscribed(client, name), 'via-api');

    const publish = (body: unknown) =>
      fetch(`${daemon.url}/api/v1/apps/${app.id}/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const res = await publish({ name: 'via-api', channel: name, data: JSON.stringify({ hello: 'world' }) });
    expect(res.status).toBe(200);
    const { id } = (await res.json()) as { id: string };
    expect(id).toMatch(/^evt_/);
    await expect.poll(() => got, WITHIN).toEqual([{ hello: 'world' }]);
    await expect.poll(() => senderGot, WITHIN).toEqual([{ hello: 'world' }]);

    // socket_id works here too.
    const excluding = await publish({ name: 'via-api', channel: name, data: JSON.stringify({ n: 2 }), socket_id: sender.connection.socket_id });
    expect(excluding.status).toBe(200);
    await expect.poll(() => got, WITHIN).toEqual([{ hello: 'world' }, { n: 2 }]);
    await sleep(QUIET_MS);
    expect(senderGot).toEqual([{ hello: 'world' }]);

    const history = await relay(['events', 'list', '--app', app.id, '--json'], { daemon });
    expect(history.exitCode, history.stderr).toBe(0);
    expect(history.json<{ events: unknown[] }>().events).toContainEqual(expect.objectContaining({ id, kind: 'channel', name: 'via-api', channels: [name] }));
  });

  it('list occupied channels with their counts in `relay channels list`', async () => {
    const daemon = shared;
    const app = await sharedApp();
    const news = channelName();
    const room = channelName('presence-');
    const ada = subscriberClient(daemon, app, { user_id: 'ada' });
    const bob = subscriberClient(daemon, app, { user_id: 'bob' });
    const bobTab = subscriberClient(daemon, app, { user_id: 'bob' });
    await Promise.all([subscribed(ada, news), subscribed(bob, news), subscribed(ada, room), subscribed(bob, room), subscribed(bobTab, room)]);

    type Listed = { channels: { name: string; subscriptionCount: number; userCount: number | null }[] };
    const list = async (...extra: string[]): Promise<Listed['channels']> => {
      const result = await relay(['channels', 'list', '--app', app.id, ...extra, '--json'], { daemon });
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stderr).toBe('');
      return result.json<Listed>().channels.sort((a, b) => a.name.localeCompare(b.name));
    };
    expect(await list()).toEqual(
      [
        { name: news, subscriptionCount: 2, userCount: null },
        { name: room, subscriptionCount: 3, userCount: 2 },
      ].sort((a, b) => a.name.localeCompare(b.name)),
    );
    expect(await list('--prefix', 'presence-')).toEqual([{ name: room, subscriptionCount: 3, userCount: 2 }]);

    ada.unsubscribe(news);
    bob.unsubscribe(news);
    await expect.poll(() => list(), WITHIN).toEqual([{ name: room, subscriptionCount: 3, userCount: 2 }]);
  });

  it('close pusher-js sockets with 4003 when the app is deactivated, and keep them closed', async () => {
    const daemon = shared;
    const app = await sharedApp();
    const clients = [subscriberClient(daemon, app), subscriberClient(daemon, app)];
    await Promise.all(clients.map((c) => subscribed(c, channelName())));
    const givenUp = clients.map(givenUpWith);

    const deactivated = await relay(['apps', 'deactivate', app.id, '--yes'], { daemon });
    expect(deactivated.exitCode, deactivated.stderr).toBe(0);
    expect(await Promise.all(givenUp)).toEqual([4003, 4003]);
    await sleep(1000);
    for (const client of clients) expect(client.connection.state).toBe('disconnected');

    // A new client for the deactivated app is refused the same way.
    const late = subscriberClient(daemon, app);
    const lateCode = givenUpWith(late);
    expect(await lateCode).toBe(4003);
    // The backend is refused too: 403, the app being off.
    await expect(app.server.trigger(channelName(), 'e', {})).rejects.toMatchObject({ status: 403 });
    const listed = await relay(['connections', 'list', '--app', app.id, '--json'], { daemon });
    expect(listed.exitCode, listed.stderr).toBe(0);
    expect(listed.json<{ connections: unknown[] }>().connections).toEqual([]);
  });
});
