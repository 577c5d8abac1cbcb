import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { relay } from '../helpers/cli.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { channelName, registerChannelApp, sleep } from '../helpers/pusher.js';

interface Frame {
  event: string;
  channel?: string;
  data?: unknown;
  user_id?: string;
}

interface RawSocket {
  ws: WebSocket;
  frames: Frame[];
  closed: Promise<{ code: number; reason: string }>;
  send(frame: unknown): void;
  /** The next frame (after those already seen) for which `match` holds. */
  next(match: (f: Frame) => boolean, what?: string): Promise<Frame>;
  socketId: string;
}

/** A raw Pusher-protocol socket: every frame it gets, and how it closed. */
async function open(daemon: Daemon, path: string, options: { autoPong?: boolean } = {}): Promise<RawSocket> {
  const ws = new WebSocket(`${daemon.url.replace('http', 'ws')}${path}`, { autoPong: options.autoPong ?? true });
  const frames: Frame[] = [];
  const waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on('message', (raw) => {
    const frame = JSON.parse(raw.toString()) as Frame;
    frames.push(frame);
    for (const w of [...waiters]) {
      if (w.match(frame)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(frame);
      }
    }
  });
  const first = await new Promise<Frame | null>((resolve, reject) => {
    ws.once('message', (raw) => resolve(JSON.parse(raw.toString()) as Frame));
    ws.once('close', () => resolve(null));
    ws.once('error', reject);
  });
  const data = first?.event === 'pusher:connection_established' ? (JSON.parse(first.data as string) as { socket_id: string }) : null;
  return {
    ws,
    frames,
    closed,
    socketId: data?.socket_id ?? '',
    send: (frame) => ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)),
    next: (match, what = 'frame') =>
      new Promise<Frame>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${what} within 5 s; got ${JSON.stringify(frames)}`)), 5000);
        waiters.push({ match, resolve: (f) => (clearTimeout(timer), resolve(f)) });
      }),
  };
}

const isError = (f: Frame) => f.event === 'pusher:error';
const errorOf = (f: Frame) => f.data as { code: number | null; message: string };

/** The connection still answers: a pusher:ping gets its pusher:pong. */
async function stillUp(s: RawSocket): Promise<void> {
  const pong = s.next((f) => f.event === 'pusher:pong', 'pusher:pong');
  s.send({ event: 'pusher:ping', data: {} });
  await pong;
}

describe('the Pusher protocol on the wire', () => {
  it('greets with connection_established: a socket id and an activity timeout, data as a JSON string', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const s = await open(daemon, `/app/${app.key}?protocol=7&client=js&version=8.6.0&flash=false`);
    const first = s.frames[0] as Frame;
    expect(first.event).toBe('pusher:connection_established');
    expect(typeof first.data).toBe('string');
    expect(JSON.parse(first.data as string)).toEqual({ socket_id: expect.stringMatching(/^\d+\.\d+$/), activity_timeout: 120 });
    await stillUp(s);
  });

  it.each([
    ['an unknown key', '/app/0123456789abcdef0123?protocol=7', 4001, /does not exist/],
    ['no protocol version', '/app/KEY', 4008, /No protocol version/],
    ['protocol 3', '/app/KEY?protocol=3', 4007, /Unsupported protocol version 3/],
  ])('refuses %s with pusher:error and then the close code', async (_, path, code, message) => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const s = await open(daemon, path.replace('KEY', app.key));
    expect(s.frames).toEqual([{ event: 'pusher:error', data: { code, message: expect.stringMatching(message) } }]);
    expect((await s.closed).code).toBe(code);
  });

  it('answers bad frames with pusher:error and keeps the socket, and other sockets and relayd are unaffected', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const s = await open(daemon, `/app/${app.key}?protocol=7`);
    const bystander = await open(daemon, `/app/${app.key}?protocol=7`);
    const news = channelName();
    bystander.send({ event: 'pusher:subscribe', data: { channel: news } });
    await bystander.next((f) => f.event === 'pusher_internal:subscription_succeeded');

    const cases: [string | Buffer, RegExp][] = [
      ['{not json', /Invalid message format/],
      ['[1,2,3]', /string "event"/],
      [JSON.stringify({ data: {} }), /string "event"/],
      [JSON.stringify({ event: 'pusher:frobnicate', data: {} }), /Unknown event "pusher:frobnicate"/],
      [JSON.stringify({ event: 'hello' }), /Unknown event "hello"/],
      [Buffer.from([1, 2, 3]), /Binary frames are not supported/],
      [JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'x'.repeat(165) } }), /at most 164 characters/],
      [JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'room 1' } }), /character outside/],
      [JSON.stringify({ event: 'pusher:subscribe', data: {} }), /needs data.channel/],
      [JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'presence-room', auth: `${app.key}:00` } }), /needs channel_data/],
    ];
    for (const [frame, message] of cases) {
      const error = s.next(isError, `pusher:error for ${String(frame).slice(0, 40)}`);
      if (Buffer.isBuffer(frame)) s.ws.send(frame, { binary: true });
      else s.send(frame);
      expect(errorOf(await error).message).toMatch(message);
    }
    await stillUp(s);

    // A publish still reaches the bystander, and relayd is healthy.
    const token = (await relay(['tokens', 'create', '--app', app.id, '--name', 'ci', '-q'], { daemon })).stdout.trim();
    const got = bystander.next((f) => f.event === 'after');
    const res = await fetch(`${daemon.url}/api/v1/apps/${app.id}/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'after', channel: news, data: 'ok' }),
    });
    expect(res.status).toBe(200);
    expect((await got).data).toBe('ok');
    expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
  });

  it('refuses a bad subscription signature on that channel only, with Pusher’s message and 4009', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const s = await open(daemon, `/app/${app.key}?protocol=7`);
    const name = channelName('private-');
    const error = s.next(isError);
    s.send({ event: 'pusher:subscribe', data: { channel: name, auth: `${app.key}:${'ab'.repeat(32)}` } });
    const frame = await error;
    expect(frame.channel).toBe(name);
    expect(errorOf(frame)).toEqual({ code: 4009, message: `Invalid signature: Expected HMAC SHA256 hex digest of ${s.socketId}:${name}, but got ${'ab'.repeat(32)}` });

    // The right signature works on the same socket.
    const ok = s.next((f) => f.event === 'pusher_internal:subscription_succeeded');
    const signature = createHmac('sha256', app.secret).update(`${s.socketId}:${name}`).digest('hex');
    s.send({ event: 'pusher:subscribe', data: { channel: name, auth: `${app.key}:${signature}` } });
    expect((await ok).channel).toBe(name);
  });

  it('treats unsubscribe as silent and idempotent, and re-subscribing as fine', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const s = await open(daemon, `/app/${app.key}?protocol=7`);
    const name = channelName();
    for (const step of ['sub', 'unsub', 'unsub', 'sub', 'sub']) {
      const confirmed = step === 'sub' ? s.next((f) => f.event === 'pusher_internal:subscription_succeeded') : null;
      s.send({ event: step === 'sub' ? 'pusher:subscribe' : 'pusher:unsubscribe', data: { channel: name } });
      if (confirmed) await confirmed;
    }
    await stillUp(s);
    expect(s.frames.filter(isError)).toEqual([]);
    const listed = (await relay(['channels', 'list', '--app', app.id, '--json'], { daemon })).json<{ channels: unknown[] }>();
    expect(listed.channels).toEqual([{ name, subscriptionCount: 1, userCount: null }]);
  });

  it('closes a frame over 256 KiB with 1009, and refuses client event data over the app limit without closing', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    expect((await relay(['apps', 'update', app.id, '--client-events', 'on', '--json'], { daemon })).exitCode).toBe(0);
    const big = await open(daemon, `/app/${app.key}?protocol=7`);
    const other = await open(daemon, `/app/${app.key}?protocol=7`);
    big.send({ event: 'client-x', channel: 'private-x', data: 'x'.repeat(300 * 1024) });
    expect((await big.closed).code).toBe(1009);
    await stillUp(other);

    const name = channelName('private-');
    const signature = createHmac('sha256', app.secret).update(`${other.socketId}:${name}`).digest('hex');
    const ok = other.next((f) => f.event === 'pusher_internal:subscription_succeeded');
    other.send({ event: 'pusher:subscribe', data: { channel: name, auth: `${app.key}:${signature}` } });
    await ok;
    const error = other.next(isError);
    other.send({ event: 'client-big', channel: name, data: { text: 'x'.repeat(10_300) } });
    expect(errorOf(await error)).toEqual({ code: null, message: expect.stringMatching(/client event data is \d+ bytes; the limit is 10240 bytes/) });
    await stillUp(other);
  });

  it('rate-limits client events to 10 a second per connection with 4301, without closing', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    expect((await relay(['apps', 'update', app.id, '--client-events', 'on', '--json'], { daemon })).exitCode).toBe(0);
    const sender = await open(daemon, `/app/${app.key}?protocol=7`);
    const receiver = await open(daemon, `/app/${app.key}?protocol=7`);
    const name = channelName('private-');
    for (const s of [sender, receiver]) {
      const ok = s.next((f) => f.event === 'pusher_internal:subscription_succeeded');
      const signature = createHmac('sha256', app.secret).update(`${s.socketId}:${name}`).digest('hex');
      s.send({ event: 'pusher:subscribe', data: { channel: name, auth: `${app.key}:${signature}` } });
      await ok;
    }
    const limited = sender.next(isError);
    for (let i = 0; i < 12; i++) sender.send({ event: 'client-tick', channel: name, data: { i } });
    expect(errorOf(await limited)).toEqual({ code: 4301, message: expect.stringMatching(/more than 10 client events a second/) });
    await stillUp(sender);
    await expect.poll(() => receiver.frames.filter((f) => f.event === 'client-tick').length).toBe(10);
    expect(sender.frames.filter((f) => f.event === 'client-tick')).toEqual([]);
  });

  it('pings a silent client after the activity timeout and closes it with 4201 when it does not answer', async () => {
    const daemon = await startDaemon({ args: ['--activity-timeout', '1s'] });
    const app = await registerChannelApp(daemon);
    const silent = await open(daemon, `/app/${app.key}?protocol=7`, { autoPong: false });
    expect(JSON.parse(silent.frames[0]?.data as string)).toMatchObject({ activity_timeout: 1 });
    const lively = await open(daemon, `/app/${app.key}?protocol=7`);
    lively.ws.on('message', (raw) => {
      if ((JSON.parse(raw.toString()) as Frame).event === 'pusher:ping') lively.send({ event: 'pusher:pong', data: {} });
    });
    const ping = silent.next((f) => f.event === 'pusher:ping', 'pusher:ping');
    await ping;
    expect((await silent.closed).code).toBe(4201);
    await sleep(500);
    await stillUp(lively);
    expect(lively.frames.some((f) => f.event === 'pusher:ping')).toBe(true);
  });

  it('closes a subscriber with 4003 when its app is deactivated, and refuses new ones with 4003', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const s = await open(daemon, `/app/${app.key}?protocol=7`);
    expect((await relay(['apps', 'deactivate', app.id, '--yes'], { daemon })).exitCode).toBe(0);
    expect((await s.closed).code).toBe(4003);
    const refused = await open(daemon, `/app/${app.key}?protocol=7`);
    expect(refused.frames).toEqual([{ event: 'pusher:error', data: { code: 4003, message: expect.stringMatching(/deactivated/) } }]);
    expect((await refused.closed).code).toBe(4003);
    expect((await relay(['apps', 'activate', app.id], { daemon })).exitCode).toBe(0);
    const back = await open(daemon, `/app/${app.key}?protocol=7`);
    expect(back.frames[0]?.event).toBe('pusher:connection_established');
  });
});
