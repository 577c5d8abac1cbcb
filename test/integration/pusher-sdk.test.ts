import { createHash, createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { startDaemon } from '../helpers/daemon.js';
import { channelName, collect, connected, next, registerChannelApp, sleep, subscribed, subscriberClient } from '../helpers/pusher.js';

/**
 * Conformance through the real pusher-js (Node build) and the real `pusher` server SDK,
 * unchanged, against a real relayd: what an app moving off Pusher would run.
 */
describe('pusher-js and the pusher SDK against relayd', () => {
  it('deliver an SDK trigger to a public channel subscriber, and record it in history', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const client = subscriberClient(daemon, app);
    const name = channelName();
    const channel = await subscribed(client, name);
    const got = next(channel, 'order-shipped');
    const answer = await app.server.trigger(name, 'order-shipped', { id: 7 });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({});
    expect(await got).toEqual({ id: 7 });

    const history = (await relay(['events', 'list', '--app', app.id, '--json'], { daemon })).json<{ events: { kind: string; name: string; channels: string[] }[] }>();
    expect(history.events).toEqual([expect.objectContaining({ kind: 'channel', name: 'order-shipped', channels: [name] })]);
  });

  it('authorize private channels with the SDK’s authorizeChannel, and refuse a forged signature without closing', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const client = subscriberClient(daemon, app);
    const name = channelName('private-');
    const channel = await subscribed(client, name);
    const got = next(channel, 'secret');
    await app.server.trigger(name, 'secret', 'psst');
    expect(await got).toBe('psst');

    // The same app, but an auth endpoint that signs with the wrong secret.
    const forger = subscriberClient(daemon, { ...app, server: new (app.server.constructor as typeof import('pusher'))({ appId: app.id, key: app.key, secret: 'not-the-secret', cluster: 'x' }) });
    await expect(subscribed(forger, channelName('private-'))).rejects.toThrow(/Invalid signature: Expected HMAC SHA256 hex digest of \d+\.\d+:private-test-[0-9a-f]+, but got [0-9a-f]{64}/);
    expect(forger.connection.state).toBe('connected');
    const publicChannel = await subscribed(forger, channelName());
    expect(publicChannel.subscribed).toBe(true);
  });

  it('keep presence members across clients: once per user, not to the user itself, on leave and on disconnect', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const name = channelName('presence-');
    const ada = subscriberClient(daemon, app, { user_id: 'ada', user_info: { name: 'Ada' } });
    const adaRoom = await subscribed(ada, name);
    const adaAdded = collect<{ id: string; info: unknown }>(adaRoom, 'pusher:member_added');
    const adaRemoved = collect<{ id: string }>(adaRoom, 'pusher:member_removed');

    const bob = subscriberClient(daemon, app, { user_id: 'bob', user_info: { name: 'Bob' } });
    const bobRoom = (await subscribed(bob, name)) as unknown as { members: { count: number; each(f: (m: { id: string; info: unknown }) => void): void; me: { id: string } } };
    await expect.poll(() => adaAdded.length).toBe(1);
    expect(adaAdded[0]).toEqual({ id: 'bob', info: { name: 'Bob' } });
    expect(bobRoom.members.count).toBe(2);
    const seen: string[] = [];
    bobRoom.members.each((m) => seen.push(m.id));
    expect(seen.sort()).toEqual(['ada', 'bob']);
    expect(bobRoom.members.me.id).toBe('bob');

    // Bob's second tab: no member_added for anyone, and the count stays 2.
    const bobTab = subscriberClient(daemon, app, { user_id: 'bob', user_info: { name: 'Bob' } });
    const bobTabRoom = (await subscribed(bobTab, name)) as unknown as { members: { count: number } };
    expect(bobTabRoom.members.count).toBe(2);
    const users = await app.server.get({ path: `/channels/${name}/users` });
    expect(await users.json()).toEqual({ users: [{ id: 'ada' }, { id: 'bob' }] });

    // One tab leaves (unsubscribe): bob is still there. The other disconnects: bob is gone.
    bobTab.unsubscribe(name);
    await sleep(300);
    expect(adaRemoved).toEqual([]);
    bob.disconnect();
    await expect.poll(() => adaRemoved.length).toBe(1);
    expect(adaRemoved[0]).toMatchObject({ id: 'bob' });
    expect(adaAdded).toHaveLength(1);
  });

  it('pass client events between subscribers once the app allows them, never back to the sender', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const name = channelName('presence-');
    const ada = subscriberClient(daemon, app, { user_id: 'ada' });
    const bob = subscriberClient(daemon, app, { user_id: 'bob' });
    const adaRoom = await subscribed(ada, name);
    const bobRoom = await subscribed(bob, name);
    const adaGot = collect<unknown>(adaRoom, 'client-typing');
    const errors: unknown[] = [];
    bob.connection.bind('error', (e: unknown) => errors.push(e));

    // Off by default: refused with a pusher:error, the socket stays up.
    bobRoom.trigger('client-typing', { on: true });
    await expect.poll(() => errors.length).toBe(1);
    expect(JSON.stringify(errors[0])).toMatch(/client events are off/);
    expect(adaGot).toEqual([]);

    expect((await relay(['apps', 'update', app.id, '--client-events', 'on', '--json'], { daemon })).exitCode).toBe(0);
    const bobGot = collect<unknown>(bobRoom, 'client-typing');
    const withMetadata = new Promise<{ user_id?: string }>((resolve) => adaRoom.bind('client-typing', (_data: unknown, metadata: { user_id?: string }) => resolve(metadata)));
    bobRoom.trigger('client-typing', { on: true });
    await expect.poll(() => adaGot.length).toBe(1);
    expect(adaGot[0]).toEqual({ on: true });
    expect((await withMetadata).user_id).toBe('bob');
    await sleep(200);
    expect(bobGot).toEqual([]);
    expect(bob.connection.state).toBe('connected');
  });

  it('route private-encrypted- events that only pusher-js, with the shared secret, can read', async () => {
    const daemon = await startDaemon();
    const masterKey = randomBytes(32).toString('base64');
    const app = await registerChannelApp(daemon, 'acme-pm', { encryptionMasterKeyBase64: masterKey });
    const client = subscriberClient(daemon, app);
    const name = channelName('private-encrypted-');
    const channel = await subscribed(client, name);
    const got = next(channel, 'diagnosis');
    await app.server.trigger(name, 'diagnosis', { text: 'for your eyes only' });
    expect(await got).toEqual({ text: 'for your eyes only' });

    // relayd only ever saw ciphertext.
    const shown = (await relay(['events', 'list', '--app', app.id, '--json'], { daemon })).json<{ events: { id: string }[] }>();
    const detail = (await relay(['events', 'show', shown.events[0]?.id as string, '--json'], { daemon })).json<{ event: { payload: unknown } }>();
    expect(JSON.stringify(detail)).not.toContain('for your eyes only');
    expect(JSON.stringify(detail)).toMatch(/ciphertext/);
  });

  it('leave out the connection named by socket_id', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const name = channelName();
    const sender = subscriberClient(daemon, app);
    const other = subscriberClient(daemon, app);
    const senderGot = collect(await subscribed(sender, name), 'update');
    const otherChannel = await subscribed(other, name);
    const got = next(otherChannel, 'update');
    await app.server.trigger(name, 'update', { n: 1 }, { socket_id: sender.connection.socket_id });
    expect(await got).toEqual({ n: 1 });
    await sleep(200);
    expect(senderGot).toEqual([]);
  });

  it('trigger to 100 channels at once and triggerBatch reach every subscriber, with info when asked', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const client = subscriberClient(daemon, app);
    const names = Array.from({ length: 100 }, () => channelName());
    const channels = await Promise.all(names.map((n) => subscribed(client, n)));
    const received = channels.map((c) => next(c, 'fan-out'));
    const answer = await app.server.trigger(names, 'fan-out', { ok: 1 }, { info: 'subscription_count' });
    expect(answer.status).toBe(200);
    const body = (await answer.json()) as { channels: Record<string, { subscription_count: number }> };
    expect(Object.keys(body.channels)).toHaveLength(100);
    expect(body.channels[names[0] as string]).toEqual({ subscription_count: 1 });
    expect(await Promise.all(received)).toEqual(names.map(() => ({ ok: 1 })));

    const batch = names.slice(0, 10).map((channel, i) => ({ channel, name: 'batched', data: { i } }));
    const batchReceived = channels.slice(0, 10).map((c) => next(c, 'batched'));
    const batchAnswer = await app.server.triggerBatch(batch);
    expect(batchAnswer.status).toBe(200);
    expect(await Promise.all(batchReceived)).toEqual(Array.from({ length: 10 }, (_, i) => ({ i })));
  });

  it('answer channel queries with info as Pusher does', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const room = channelName('presence-');
    const news = channelName();
    const a = subscriberClient(daemon, app, { user_id: 'a' });
    const b = subscriberClient(daemon, app, { user_id: 'b' });
    await Promise.all([subscribed(a, room), subscribed(b, room), subscribed(a, news), subscribed(b, news)]);

    const get = async (path: string, params: Record<string, string> = {}) => {
      const res = await app.server.get({ path, params });
      return res.json();
    };
    expect(await get('/channels')).toEqual({ channels: { [news]: {}, [room]: {} } });
    expect(await get('/channels', { filter_by_prefix: 'presence-', info: 'user_count' })).toEqual({ channels: { [room]: { user_count: 2 } } });
    expect(await get(`/channels/${room}`, { info: 'user_count' })).toEqual({ occupied: true, user_count: 2 });
    expect(await get(`/channels/${news}`, { info: 'subscription_count' })).toEqual({ occupied: true, subscription_count: 2 });
    expect(await get(`/channels/${channelName()}`)).toEqual({ occupied: false });

    // Pusher's rules: user_count only for presence channels, users only of presence channels.
    await expect(app.server.get({ path: '/channels', params: { info: 'user_count' } })).rejects.toMatchObject({ status: 400 });
    await expect(app.server.get({ path: `/channels/${news}`, params: { info: 'user_count' } })).rejects.toMatchObject({ status: 400 });
    await expect(app.server.get({ path: `/channels/${news}/users` })).rejects.toMatchObject({ status: 400 });
  });

  it('refuse a bad signature, an expired timestamp and a body that is not the signed one', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const Sdk = app.server.constructor as typeof import('pusher');
    const wrong = new Sdk({ appId: app.id, key: app.key, secret: 'wrong-secret', host: '127.0.0.1', port: new URL(daemon.url).port, useTLS: false });
    await expect(wrong.trigger('news', 'e', {})).rejects.toMatchObject({ status: 401 });

    const body = JSON.stringify({ name: 'e', channels: ['news'], data: '{}' });
    const signedPost = (ts: number, sentBody: string) => {
      const params: Record<string, string> = { auth_key: app.key, auth_timestamp: String(ts), auth_version: '1.0', body_md5: createHash('md5').update(body).digest('hex') };
      const query = Object.keys(params).sort().map((k) => `${k}=${params[k]}`).join('&');
      const signature = createHmac('sha256', app.secret).update(`POST\n/apps/${app.id}/events\n${query}`).digest('hex');
      return fetch(`${daemon.url}/apps/${app.id}/events?${query}&auth_signature=${signature}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: sentBody });
    };
    const now = Math.floor(Date.now() / 1000);
    expect((await signedPost(now, body)).status).toBe(200);
    const expired = await signedPost(now - 700, body);
    expect(expired.status).toBe(401);
    expect(await expired.text()).toMatch(/Timestamp expired: Given timestamp \(\d+\) not within 600s of server time/);
    const tampered = await signedPost(now, body.replace('news', 'nexs'));
    expect(tampered.status).toBe(401);
    expect(await tampered.text()).toMatch(/body_md5 does not match the body/);
    // None of the refused ones reached history.
    const history = (await relay(['events', 'list', '--app', app.id, '--json'], { daemon })).json<{ events: unknown[] }>();
    expect(history.events).toHaveLength(1);
  });

  it('let Bearer-token publishes reach pusher-js subscribers too', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const token = (await relay(['tokens', 'create', '--app', app.id, '--name', 'ci', '--scope', 'events:*', '-q'], { daemon })).stdout.trim();
    const client = subscriberClient(daemon, app);
    const name = channelName();
    const got = next(await subscribed(client, name), 'via-api');
    const res = await fetch(`${daemon.url}/api/v1/apps/${app.id}/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'via-api', channel: name, data: JSON.stringify({ hello: 'world' }) }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { id: string }).id).toMatch(/^evt_/);
    expect(await got).toEqual({ hello: 'world' });
  });

  it('close pusher-js sockets with 4003 when the app is deactivated, so that they do not come back', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const client = subscriberClient(daemon, app);
    await connected(client);
    const closed = new Promise<number>((resolve) =>
      client.connection.bind('error', (e: { data?: { code?: number }; error?: { data?: { code?: number } } }) => resolve(e.data?.code ?? e.error?.data?.code ?? -1)),
    );
    const states: string[] = [];
    client.connection.bind('state_change', (s: { current: string }) => states.push(s.current));
    expect((await relay(['apps', 'deactivate', app.id, '--yes'], { daemon })).exitCode).toBe(0);
    expect(await closed).toBe(4003);
    // 4000-4099: pusher-js does not come back on its own.
    await expect.poll(() => states.at(-1)).toBe('disconnected');
    await sleep(1500);
    expect(states.at(-1)).toBe('disconnected');
    expect(states.filter((s) => s === 'connecting')).toEqual([]);
  });

  it('come back after relayd restarts: pusher-js reconnects and receives again', async () => {
    const first = await startDaemon();
    const app = await registerChannelApp(first);
    const client = subscriberClient(first, app);
    const name = channelName();
    await subscribed(client, name);
    const states: string[] = [];
    client.connection.bind('state_change', (s: { current: string }) => states.push(s.current));

    expect(await first.stop()).toBe(0);
    await expect.poll(() => states.includes('connecting') || states.includes('unavailable')).toBe(true);
    const again = await startDaemon({ dataDir: first.dataDir, args: ['--port', new URL(first.url).port] });
    await expect.poll(() => client.connection.state, { timeout: 20_000, interval: 100 }).toBe('connected');
    // pusher-js subscribes again by itself once connected.
    const channel = client.channel(name);
    await expect.poll(() => channel.subscribed, { timeout: 5000 }).toBe(true);
    const got = next(channel, 'after-restart');
    const server = new (app.server.constructor as typeof import('pusher'))({ appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1', port: new URL(again.url).port, useTLS: false });
    await server.trigger(name, 'after-restart', { back: true });
    expect(await got).toEqual({ back: true });
  }, 30_000);
});
