import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { channelName, openRawSocket as open, registerChannelApp, sleep, type ChannelApp, type Frame, type RawSocket } from '../helpers/pusher.js';

/**
 * The Pusher protocol v7 at `/app/{key}` frame by frame, with the `ws` package: what a
 * client other than pusher-js (or a broken or hostile one) gets from relayd.
 */

/** Long enough to be sure that something relayd would have sent by now did not come. */
const QUIET_MS = 300;

const connect = (daemon: Daemon, app: ChannelApp): Promise<RawSocket> => open(daemon, `/app/${app.key}?protocol=7&client=js&version=8.6.0&flash=false`);

const isError = (f: Frame): boolean => f.event === 'pusher:error';

/** `{code, message}` of a `pusher:error`: Pusher sends it as an object or as a JSON string. */
function errorData(frame: Frame): { code: number | null; message: string } {
  return (typeof frame.data === 'string' ? JSON.parse(frame.data) : frame.data) as { code: number | null; message: string };
}

/** Sends a frame and waits for the `pusher:error` it earns. */
async function refused(s: RawSocket, frame: unknown, binary = false): Promise<Frame> {
  const error = s.next(isError, `pusher:error for ${String(typeof frame === 'string' ? frame : JSON.stringify(frame)).slice(0, 60)}`);
  if (binary) s.ws.send(frame as Buffer, { binary: true });
  else s.send(frame);
  return error;
}

/** The connection is still served: a pusher:ping gets its pusher:pong. */
async function answersPing(s: RawSocket): Promise<void> {
  const pong = s.next((f) => f.event === 'pusher:pong', 'pusher:pong');
  s.send({ event: 'pusher:ping', data: {} });
  await pong;
}

/** Subscribes (signing private and presence channels with the app's secret) and waits for subscription_succeeded. */
async function subscribe(s: RawSocket, app: ChannelApp, name: string, channelData?: string): Promise<Frame> {
  const signed = channelData === undefined ? `${s.socketId}:${name}` : `${s.socketId}:${name}:${channelData}`;
  const auth = name.startsWith('private-') || name.startsWith('presence-') ? `${app.key}:${createHmac('sha256', app.secret).update(signed).digest('hex')}` : '';
  const ok = s.next((f) => f.event === 'pusher_internal:subscription_succeeded' && f.channel === name, `subscription_succeeded for ${name}`);
  s.send({ event: 'pusher:subscribe', data: { channel: name, auth, ...(channelData === undefined ? {} : { channel_data: channelData }) } });
  return ok;
}

async function healthy(daemon: Daemon): Promise<void> {
  expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
}

describe('the Pusher protocol on the wire', () => {
  it('greets with pusher:connection_established: data a JSON string with a socket id and the activity timeout', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const s = await connect(daemon, app);
    expect(s.frames).toHaveLength(1);
    const greeting = s.frames[0] as Frame;
    expect(greeting.event).toBe('pusher:connection_established');
    expect(typeof greeting.data).toBe('string');
    const data = JSON.parse(greeting.data as string) as { socket_id: unknown; activity_timeout: unknown };
    expect(data).toEqual({ socket_id: expect.stringMatching(/^\d+\.\d+$/), activity_timeout: 120 });
    expect(typeof data.activity_timeout).toBe('number');

    const other = await connect(daemon, app);
    expect(other.socketId).toMatch(/^\d+\.\d+$/);
    expect(other.socketId).not.toBe(s.socketId);
    await answersPing(s);
  });

  it('sends every frame as a UTF-8 text frame, the greeting included (browsers get binary frames as Blobs pusher-js cannot parse)', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const s = await connect(daemon, app);
    const name = channelName();
    await answersPing(s);
    await subscribe(s, app, name);
    await refused(s, '{oops');
    const got = s.next((f) => f.event === 'hello');
    await app.server.trigger(name, 'hello', { text: 'héllo' });
    expect((await got).data).toBe(JSON.stringify({ text: 'héllo' }));
    expect(s.frames.map((f) => f.event)).toEqual(['pusher:connection_established', 'pusher:pong', 'pusher_internal:subscription_succeeded', 'pusher:error', 'hello']);
    expect(s.binaryFrames.map((f) => f.event)).toEqual([]);
  });

  it.each([
    ['an unknown key', (_key: string) => `/app/${randomBytes(10).toString('hex')}?protocol=7`, 4001],
    ['no protocol version', (key: string) => `/app/${key}`, 4008],
    ['an empty protocol version', (key: string) => `/app/${key}?protocol=`, 4008],
    ['protocol 4', (key: string) => `/app/${key}?protocol=4`, 4007],
    ['protocol 8', (key: string) => `/app/${key}?protocol=8`, 4007],
  ])('refuses %s with pusher:error and then closes with that code', async (_, path, code) => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const s = await open(daemon, path(app.key));
    expect((await s.closed).code).toBe(code);
    expect(s.frames).toEqual([{ event: 'pusher:error', data: expect.anything() }]);
    expect(errorData(s.frames[0] as Frame)).toEqual({ code, message: expect.any(String) });
    // relayd itself is fine, and so is a correct connection.
    await healthy(daemon);
    expect((await connect(daemon, app)).frames[0]?.event).toBe('pusher:connection_established');
  });

  it('answers malformed JSON, a frame without event, an unknown pusher: event and a binary frame with pusher:error, keeping the socket', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const s = await connect(daemon, app);
    const cases: [string, unknown, boolean][] = [
      ['malformed JSON', '{"event": "pusher:ping", ', false],
      ['not an object', '"pusher:ping"', false],
      ['no event', JSON.stringify({ data: { channel: 'news' } }), false],
      ['a non-string event', JSON.stringify({ event: 42, data: {} }), false],
      ['an unknown pusher: event', JSON.stringify({ event: 'pusher:frobnicate', data: {} }), false],
      ['a binary frame', Buffer.from(JSON.stringify({ event: 'pusher:ping', data: {} })), true],
    ];
    for (const [what, frame, binary] of cases) {
      const error = await refused(s, frame, binary);
      expect(error.channel, what).toBeUndefined();
      expect(errorData(error), what).toEqual({ code: null, message: expect.any(String) });
      expect(s.isOpen(), what).toBe(true);
      await answersPing(s);
    }
  });

  it('refuses a subscription with a bad signature on that channel only, with Pusher’s message, keeping the socket', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const s = await connect(daemon, app);
    const name = channelName('private-');
    const sign = (text: string) => createHmac('sha256', app.secret).update(text).digest('hex');

    const forged = 'ab'.repeat(32);
    const bad = await refused(s, { event: 'pusher:subscribe', data: { channel: name, auth: `${app.key}:${forged}` } });
    expect(bad.channel).toBe(name);
    expect(errorData(bad).code).toBe(4009);
    expect(errorData(bad).message).toMatch(new RegExp(`^Invalid signature: Expected HMAC SHA256 hex digest of ${s.socketId.replace('.', '\\.')}:${name}, but got ${forged}`));

    // Signed for another socket, for another channel, or not at all: refused the same way.
    for (const auth of [`${app.key}:${sign(`1234.5678:${name}`)}`, `${app.key}:${sign(`${s.socketId}:${name}x`)}`, '', undefined]) {
      const error = await refused(s, { event: 'pusher:subscribe', data: { channel: name, ...(auth === undefined ? {} : { auth }) } });
      expect(error.channel, String(auth)).toBe(name);
      expect(errorData(error).code).toBe(4009);
    }
    expect(s.isOpen()).toBe(true);

    // Not subscribed: an event to the channel does not come.
    await app.server.trigger(name, 'secret', { n: 1 });
    await sleep(QUIET_MS);
    expect(s.frames.filter((f) => f.event === 'secret')).toEqual([]);
    expect(s.frames.filter((f) => f.event === 'pusher_internal:subscription_succeeded')).toEqual([]);

    // The right signature on the same socket works.
    await subscribe(s, app, name);
    const got = s.next((f) => f.event === 'secret');
    await app.server.trigger(name, 'secret', { n: 2 });
    expect((await got).data).toBe(JSON.stringify({ n: 2 }));
  });

  it('refuses channel names over 164 characters or with characters outside Pusher’s set, keeping the socket', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const s = await connect(daemon, app);
    const longest = `news-${'a'.repeat(159)}`;
    expect(longest).toHaveLength(164);
    await subscribe(s, app, longest);

    for (const name of [`${longest}a`, 'x'.repeat(1000), 'room 1', 'room#1', 'rööm', 'room/1', 'room\n1', '#server-to-nobody']) {
      const error = await refused(s, { event: 'pusher:subscribe', data: { channel: name } });
      expect(errorData(error), JSON.stringify(name)).toEqual({ code: null, message: expect.any(String) });
      expect(s.isOpen()).toBe(true);
    }
    await answersPing(s);
    expect(s.frames.filter((f) => f.event === 'pusher_internal:subscription_succeeded').map((f) => f.channel)).toEqual([longest]);
  });

  it('closes a connection sending a frame over 256 KiB with 1009, serving one just under it and every other connection', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const big = await connect(daemon, app);
    const other = await connect(daemon, app);
    const news = channelName();
    await subscribe(other, app, news);

    // Just under the cap: served.
    const under = JSON.stringify({ event: 'pusher:ping', data: { pad: 'x'.repeat(250 * 1024) } });
    expect(Buffer.byteLength(under)).toBeLessThan(256 * 1024);
    const pong = big.next((f) => f.event === 'pusher:pong');
    big.send(under);
    await pong;

    big.send({ event: 'pusher:ping', data: { pad: 'x'.repeat(257 * 1024) } });
    expect((await big.closed).code).toBe(1009);

    await answersPing(other);
    const got = other.next((f) => f.event === 'still-here');
    await app.server.trigger(news, 'still-here', {});
    await got;
    await healthy(daemon);
  });

  it('refuses a client event whose data is over 10240 bytes, delivering it to nobody and keeping the socket', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const on = await relay(['apps', 'update', app.id, '--client-events', 'on', '--json'], { daemon });
    expect(on.exitCode, on.stderr).toBe(0);
    const sender = await connect(daemon, app);
    const receiver = await connect(daemon, app);
    const name = channelName('private-');
    await subscribe(sender, app, name);
    await subscribe(receiver, app, name);

    const error = await refused(sender, { event: 'client-big', channel: name, data: { text: 'x'.repeat(10_300) } });
    expect(errorData(error)).toEqual({ code: null, message: expect.stringMatching(/10240/) });
    expect(sender.isOpen()).toBe(true);

    const small = receiver.next((f) => f.event === 'client-small');
    sender.send({ event: 'client-small', channel: name, data: { text: 'x'.repeat(9_000) } });
    expect((await small).channel).toBe(name);
    await sleep(QUIET_MS);
    expect(receiver.frames.filter((f) => f.event === 'client-big')).toEqual([]);
    // Never echoed.
    expect(sender.frames.filter((f) => f.event.startsWith('client-'))).toEqual([]);
    await answersPing(sender);
  });

  it('rate-limits client events to 10 a second per connection with 4301, keeping the socket and delivering the first 10', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    expect((await relay(['apps', 'update', app.id, '--client-events', 'on', '--json'], { daemon })).exitCode).toBe(0);
    const [sender, receiver] = [await connect(daemon, app), await connect(daemon, app)] as [RawSocket, RawSocket];
    const name = channelName('private-');
    await subscribe(sender, app, name);
    await subscribe(receiver, app, name);
    const limited = sender.next(isError, 'the 4301');
    for (let i = 0; i < 12; i++) sender.send({ event: 'client-tick', channel: name, data: { i } });
    expect(errorData(await limited)).toEqual({ code: 4301, message: expect.stringMatching(/more than 10 client events a second/) });
    await answersPing(sender);
    await expect.poll(() => receiver.frames.filter((f) => f.event === 'client-tick').length).toBe(10);
    await sleep(QUIET_MS);
    expect(receiver.frames.filter((f) => f.event === 'client-tick')).toHaveLength(10);
    expect(sender.frames.filter((f) => f.event === 'client-tick')).toEqual([]);
  });

  it('sends subscription counts on every change up to 100 subscribers, and past that the latest count at most every 5 s', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    expect((await relay(['apps', 'update', app.id, '--subscription-count', 'on'], { daemon })).exitCode).toBe(0);
    const name = channelName();
    const first = await connect(daemon, app);
    await subscribe(first, app, name);
    const counts = (): number[] =>
      first.frames.filter((f) => f.event === 'pusher_internal:subscription_count').map((f) => (JSON.parse(f.data as string) as { subscription_count: number }).subscription_count);
    const others: RawSocket[] = [];
    for (let i = 0; i < 101; i++) others.push(await connect(daemon, app));
    await Promise.all(others.slice(0, 99).map((s) => subscribe(s, app, name)));
    await expect.poll(counts).toHaveLength(100);
    expect(counts()).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));

    // 101 and 102 come within the 5 s of the 100: one count, the latest, when they are up.
    const crowded = Date.now();
    await subscribe(others[99] as RawSocket, app, name);
    await subscribe(others[100] as RawSocket, app, name);
    await sleep(QUIET_MS);
    expect(counts()).toHaveLength(100);
    await expect.poll(counts, { timeout: 8000, interval: 100 }).toHaveLength(101);
    expect(Date.now() - crowded).toBeGreaterThanOrEqual(4000);
    expect(counts().at(-1)).toBe(102);
    // The same count goes to every subscriber, each on its own socket: it may land a moment after the first's.
    await expect
      .poll(() => (others[100] as RawSocket).frames.filter((f) => f.event === 'pusher_internal:subscription_count').map((f) => JSON.parse(f.data as string) as unknown))
      .toEqual([{ subscription_count: 102 }]);
  });

  it('pings a silent client after the activity timeout and closes it with 4201 when no pong comes, keeping clients that answer', async () => {
    const daemon = await startDaemon({ args: ['--activity-timeout', '1s'] });
    const app = await registerChannelApp(daemon);
    const silent = await connect(daemon, app);
    const lively = await connect(daemon, app);
    expect(JSON.parse(silent.frames[0]?.data as string)).toMatchObject({ activity_timeout: 1 });
    let pongs = 0;
    lively.ws.on('message', (raw) => {
      if ((JSON.parse(raw.toString()) as Frame).event === 'pusher:ping') {
        pongs++;
        lively.send({ event: 'pusher:pong', data: {} });
      }
    });

    // One that keeps talking is active: relayd has no reason to ping it.
    const chatty = await connect(daemon, app);
    const talking = setInterval(() => chatty.send({ event: 'pusher:ping', data: {} }), 300);

    await silent.next((f) => f.event === 'pusher:ping', 'pusher:ping');
    expect(silent.isOpen()).toBe(true);
    expect((await silent.closed).code).toBe(4201);

    // The one that answers is pinged too, and kept well past the time the silent one had.
    await sleep(2500);
    expect(pongs).toBeGreaterThan(0);
    expect(lively.isOpen()).toBe(true);
    await answersPing(lively);
    clearInterval(talking);
    expect(chatty.isOpen()).toBe(true);
    expect(chatty.frames.filter((f) => f.event === 'pusher:ping')).toEqual([]);
  });

  it('treats pusher:unsubscribe as silent and idempotent', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const s = await connect(daemon, app);
    const name = channelName();

    // Never subscribed: nothing happens.
    s.send({ event: 'pusher:unsubscribe', data: { channel: name } });
    await subscribe(s, app, name);
    s.send({ event: 'pusher:unsubscribe', data: { channel: name } });
    s.send({ event: 'pusher:unsubscribe', data: { channel: name } });
    await answersPing(s);
    expect(s.frames.map((f) => f.event)).toEqual(['pusher:connection_established', 'pusher_internal:subscription_succeeded', 'pusher:pong']);

    // Unsubscribed: the channel is empty and its events do not come.
    const info = await app.server.get({ path: `/channels/${name}` });
    expect(await info.json()).toEqual({ occupied: false });
    await app.server.trigger(name, 'gone', {});
    await sleep(QUIET_MS);
    expect(s.frames.filter((f) => f.event === 'gone')).toEqual([]);

    // Subscribing again works, and each event comes once.
    await subscribe(s, app, name);
    const got = s.next((f) => f.event === 'back');
    await app.server.trigger(name, 'back', {});
    await got;
    await sleep(QUIET_MS);
    expect(s.frames.filter((f) => f.event === 'back')).toHaveLength(1);
  });

  it('leaves other connections and relayd itself unaffected by all of that bad input at once', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const bystander = await connect(daemon, app);
    const news = channelName();
    await subscribe(bystander, app, news);

    const hostile = await Promise.all([connect(daemon, app), connect(daemon, app), connect(daemon, app)]);
    for (const s of hostile) {
      s.send('{oops');
      s.send({ data: {} });
      s.send({ event: 'pusher:frobnicate' });
      s.ws.send(randomBytes(64), { binary: true });
      s.send({ event: 'pusher:subscribe', data: { channel: 'x'.repeat(200) } });
      s.send({ event: 'pusher:subscribe', data: { channel: channelName('private-'), auth: `${app.key}:${'00'.repeat(32)}` } });
      s.send({ event: 'pusher:subscribe', data: { channel: channelName('presence-'), auth: `${app.key}:${'00'.repeat(32)}` } });
      s.send({ event: 'pusher:subscribe', data: null });
      s.send({ event: 'pusher:unsubscribe', data: 'nonsense' });
      s.send({ event: 'client-x', channel: news, data: {} });
    }
    const hostileBig = hostile[0] as RawSocket;
    hostileBig.send({ event: 'pusher:ping', data: 'x'.repeat(300 * 1024) });
    expect((await hostileBig.closed).code).toBe(1009);
    for (const s of hostile.slice(1)) await answersPing(s);

    await answersPing(bystander);
    const got = bystander.next((f) => f.event === 'all-good');
    await app.server.trigger(news, 'all-good', { ok: true });
    expect((await got).data).toBe(JSON.stringify({ ok: true }));
    expect(bystander.frames.filter(isError)).toEqual([]);
    await healthy(daemon);
    expect((await connect(daemon, app)).frames[0]?.event).toBe('pusher:connection_established');
  });
});
