import { connect as tcpConnect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { openRawSocket, registerChannelApp, signedPost, type ChannelApp, type RawSocket } from '../helpers/pusher.js';
import { connectOk, eventually } from '../helpers/ws.js';

/**
 * What an attacker or a careless client can do to relayd's HTTP and WebSocket edges
 * (issue 14): each test is one finding, through the real daemon.
 */

async function apiToken(daemon: Daemon, app: string, extra: string[] = []): Promise<string> {
  const created = await relay(['tokens', 'create', '--app', app, '--name', `t-${extra.length}`, ...extra, '-q'], { daemon });
  expect(created.exitCode, created.stderr).toBe(0);
  return created.stdout.trim();
}

function publish(daemon: Daemon, app: string, token: string, body: unknown): Promise<Response> {
  return fetch(`${daemon.url}/api/v1/apps/${app}/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const event = { name: 'e', channel: 'c', data: 'x' };

/** A raw TCP connection to the daemon, with everything it received and when the daemon closed it. */
interface RawConnection {
  socket: Socket;
  received(): string;
  /** Resolves with what was received once the daemon has closed the connection. */
  closed: Promise<string>;
}

function rawConnection(daemon: Daemon, options: { localAddress?: string } = {}): Promise<RawConnection> {
  const url = new URL(daemon.url);
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: url.hostname, port: Number(url.port), ...options });
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    // A reset after the answer is still a close by the daemon.
    socket.on('error', () => undefined);
    const closed = new Promise<string>((done) => socket.once('close', () => done(text)));
    socket.once('connect', () => resolve({ socket, received: () => text, closed }));
    socket.once('error', reject);
  });
}

/** Fails with what was awaited, sooner than the test's own timeout. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms).unref())]);
}

function deepArray(levels: number): string {
  return '['.repeat(levels) + ']'.repeat(levels);
}

describe('Pusher REST bodies from strangers (finding 1)', () => {
  it('answers an unsigned upload 401 before reading its body and closes the connection, holding none of it', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const chunk = Buffer.alloc(512 * 1024, 'a');
    const uploads = await Promise.all(Array.from({ length: 20 }, () => rawConnection(daemon)));
    for (const { socket } of uploads) {
      socket.write(`POST /apps/${app.id}/events HTTP/1.1\r\nHost: relayd\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
      // Half a megabyte of a body that never ends.
      socket.write(`${chunk.length.toString(16)}\r\n`);
      socket.write(chunk);
      socket.write('\r\n');
    }
    const answers = await within(Promise.all(uploads.map((u) => u.closed)), 10_000, 'relayd to answer and close the uploads');
    for (const answer of answers) {
      expect(answer).toMatch(/^HTTP\/1\.1 401 /);
      expect(answer).toMatch(/auth_key is missing/);
    }
    // The signed SDK still publishes.
    expect((await app.server.trigger('c', 'e', { ok: true })).status).toBe(200);
  });

  it('refuses a request that declares a body but signs no body_md5 before reading it', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const url = new URL(daemon.url);
    const now = Math.floor(Date.now() / 1000);
    const { createHmac } = await import('node:crypto');
    const query = `auth_key=${app.key}&auth_timestamp=${now}&auth_version=1.0`;
    const signature = createHmac('sha256', app.secret).update(`POST\n/apps/${app.id}/events\n${query}`).digest('hex');
    const upload = await rawConnection(daemon);
    upload.socket.write(`POST /apps/${app.id}/events?${query}&auth_signature=${signature} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"name":`);
    const answer = await within(upload.closed, 10_000, 'relayd to answer and close the upload');
    expect(answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer).toMatch(/body_md5 is missing/);
  });
});

describe('one rate limit per app across entry points (finding 4)', () => {
  it('counts signed Pusher publishes and API tokens without a limit of their own against the app’s one bucket', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    expect((await relay(['apps', 'update', app.id, '--rate-limit', 'restricted'], { daemon })).exitCode).toBe(0);
    const token = await apiToken(daemon, app.id, ['--scope', 'events:publish']);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await publish(daemon, app.id, token, event)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);

    const pusher = await signedPost(daemon, app, '/events', JSON.stringify(event));
    expect(pusher.status).toBe(429);
    expect(pusher.headers.get('ratelimit-limit')).toBe('5');
    expect(pusher.headers.get('ratelimit-remaining')).toBe('0');
    expect(Number(pusher.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await pusher.json()) as unknown).toMatchObject({ error: { code: 'rate_limited' } });

    // A token given a limit of its own has a bucket of its own.
    const own = await apiToken(daemon, app.id, ['--scope', 'events:publish', '--rate-limit', 'steady-stream']);
    const answer = await publish(daemon, app.id, own, event);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('ratelimit-limit')).toBe('30');
  });

  it('puts RateLimit headers on signed Pusher answers', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const answer = await signedPost(daemon, app, '/events', JSON.stringify(event));
    expect(answer.status).toBe(200);
    expect(answer.headers.get('ratelimit-limit')).toBe('200');
    expect(answer.headers.get('ratelimit-remaining')).toBe('199');
  });
});

describe('changing an app’s rate limit (finding 10)', () => {
  it('carries what was used over, so that switching profiles back and forth never refills the bucket', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const token = await apiToken(daemon, app.id, ['--scope', 'events:publish']);
    const setProfile = async (profile: string): Promise<void> => {
      const updated = await relay(['apps', 'update', app.id, '--rate-limit', profile], { daemon });
      expect(updated.exitCode, updated.stderr).toBe(0);
    };
    /** Publishes until the first refusal (at most `max`); returns how many were accepted. */
    const accepted = async (max: number): Promise<number> => {
      for (let n = 0; n < max; n++) if ((await publish(daemon, app.id, token, event)).status !== 200) return n;
      return max;
    };

    await setProfile('restricted');
    expect(await accepted(50)).toBe(5);
    await setProfile('steady-stream');
    // The bigger bucket, less the 5 used (and what refilled meanwhile, at one a second).
    expect(await accepted(50)).toBeGreaterThanOrEqual(25);
    await setProfile('restricted');
    expect(await accepted(50)).toBe(0);
    await setProfile('steady-stream');
    // Over 30 used already: only what refilled since, never another bucketful.
    expect(await accepted(50)).toBeLessThan(5);
    await setProfile('restricted');
    expect(await accepted(50)).toBe(0);
  });
});

describe('deeply nested JSON (finding 11)', () => {
  it('answers 400 to a 500,000-deep array in data, on both publish paths, and keeps serving', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const token = await apiToken(daemon, app.id);
    const deep = `{"name":"e","channel":"c","data":${deepArray(500_000)}}`;
    const answer = await publish(daemon, app.id, token, deep);
    expect(answer.status).toBe(400);
    expect(((await answer.json()) as { error: { message: string } }).error.message).toMatch(/nested more than 64 levels/);
    const signed = await signedPost(daemon, app, '/events', deep);
    expect(signed.status).toBe(400);
    expect((await publish(daemon, app.id, token, { ...event, data: JSON.parse(deepArray(63)) as unknown })).status).toBe(200);
  });

  it('answers an error frame to a deeply nested agent-relay frame and keeps the connection', async () => {
    const daemon = await startDaemon();
    const registered = await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon });
    const socket = await connectOk(daemon, registered.stdout.trim());
    socket.ws.send(`{"type":"event","ref":"r1","agent":"athena","thread":"t","payload":${deepArray(500_000)}}`);
    expect(await socket.nextFrame()).toMatchObject({ type: 'error', error: { code: 'invalid_request', message: expect.stringMatching(/nested more than 64 levels/) } });
    socket.send({ type: 'ping' });
    expect(await socket.nextFrame()).toEqual({ type: 'pong' });
    socket.ws.close();
  });

  it('answers pusher:error to a deeply nested channel frame and keeps the connection', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const ws = await pusherSocket(daemon, app);
    ws.send(`{"event":"client-x","channel":"private-c","data":${deepArray(100_000)}}`);
    expect(await ws.next((f) => f.event === 'pusher:error', 'the error')).toMatchObject({ data: { message: expect.stringMatching(/nested more than 64 levels/) } });
    ws.send({ event: 'pusher:ping', data: {} });
    await ws.next((f) => f.event === 'pusher:pong', 'the pong');
    expect(ws.isOpen()).toBe(true);
  });
});

describe('clients that go away mid-request (finding 12)', () => {
  it('are a debug line, not an error with a stack', async () => {
    const daemon = await startDaemon({ args: ['--log-level', 'debug'] });
    const app = await registerChannelApp(daemon);
    const token = await apiToken(daemon, app.id);
    const url = new URL(daemon.url);
    for (let i = 0; i < 5; i++) {
      const upload = await rawConnection(daemon);
      // 100 Continue: relayd has the request and is about to read its body.
      upload.socket.write(`POST /api/v1/apps/${app.id}/events HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n`);
      await eventually(async () => upload.received().startsWith('HTTP/1.1 100 Continue'), 10_000, '100 Continue');
      upload.socket.write('{"name":');
      upload.socket.destroy();
    }
    await eventually(async () => daemon.logs().filter((line) => line.includes('client went away mid-request')).length === 5, 10_000, 'five debug lines');
    const errors = daemon.logs().filter((line) => (JSON.parse(line) as { level: number }).level >= 50);
    expect(errors).toEqual([]);
  });
});

describe('idle and unbounded connections (finding 13)', () => {
  it('closes sockets that never send a byte after --header-timeout', async () => {
    const daemon = await startDaemon({ args: ['--header-timeout', '1s'] });
    const idle = await Promise.all(Array.from({ length: 200 }, () => rawConnection(daemon)));
    const answers = await Promise.all(idle.map((c) => c.closed));
    expect(answers.every((text) => text === '')).toBe(true);
    // A real request on a new socket is served as before.
    expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
  });

  it('caps open connections per client address when asked, and only for that address', async () => {
    const daemon = await startDaemon({ args: ['--max-connections-per-address', '3'] });
    const app = await registerChannelApp(daemon);
    const open = [await pusherSocket(daemon, app), await pusherSocket(daemon, app), await pusherSocket(daemon, app)];
    const refused = await pusherHandshake(daemon, app);
    expect(refused).toMatchObject({ status: 429 });
    expect(refused.body).toMatch(/too many open connections from 127\.0\.0\.1 \(the limit is 3\)/);
    // Another address is not affected (127.0.0.2 is loopback too on Linux).
    const other = await pusherSocket(daemon, app, { localAddress: '127.0.0.2' });
    other.ws.close();
    // A closed connection frees its place.
    open[0]?.ws.close();
    await eventually(async () => (await pusherHandshake(daemon, app)).status === 101 || undefined, 10_000, 'a place to free up');
    for (const s of open) s.ws.close();
  });

  it('caps the subscriptions of one socket (500 by default) with Pusher’s over-quota code, keeping the socket', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const ws = await pusherSocket(daemon, app);
    for (let i = 0; i <= 500; i++) ws.send({ event: 'pusher:subscribe', data: { channel: `room-${i}` } });
    const refused = await ws.next((f) => f.event === 'pusher:error', 'the refusal');
    expect(refused).toMatchObject({ channel: 'room-500', data: { code: 4004, message: expect.stringMatching(/maxSubscriptionsPerConnection/) } });
    expect(ws.frames.filter((f) => f.event === 'pusher_internal:subscription_succeeded')).toHaveLength(500);
    // Unsubscribing frees a place.
    ws.send({ event: 'pusher:unsubscribe', data: { channel: 'room-0' } });
    ws.send({ event: 'pusher:subscribe', data: { channel: 'room-500' } });
    await ws.next((f) => f.event === 'pusher_internal:subscription_succeeded' && f.channel === 'room-500', 'room-500 subscribed');
    expect(ws.isOpen()).toBe(true);
  });
});

describe('signed Pusher REST timestamps (finding 14)', () => {
  it('takes decimal seconds only', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const now = Math.floor(Date.now() / 1000);
    for (const timestamp of [`0x${now.toString(16)}`, `${now}.0`, `${now / 1e9}e9`]) {
      const answer = await signedPost(daemon, app, '/events', JSON.stringify(event), { timestamp });
      expect(answer.status, timestamp).toBe(401);
      expect(((await answer.json()) as { error: { message: string } }).error.message).toMatch(/not a whole number of seconds in decimal/);
    }
    expect((await signedPost(daemon, app, '/events', JSON.stringify(event), { timestamp: now })).status).toBe(200);
  });
});

/** A Pusher socket that relayd greeted (a refusal fails the test here). */
async function pusherSocket(daemon: Daemon, app: ChannelApp, options: { localAddress?: string } = {}): Promise<RawSocket> {
  const socket = await openRawSocket(daemon, `/app/${app.key}?protocol=7`, options);
  expect(socket.frames[0]?.event).toBe('pusher:connection_established');
  return socket;
}

/** A handshake's HTTP status (101 once upgraded) and body, the socket closed at once. */
function pusherHandshake(daemon: Daemon, app: ChannelApp): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${daemon.wsUrl}/app/${app.key}?protocol=7`);
    socket.once('upgrade', () => {
      socket.close();
      resolve({ status: 101, body: '' });
    });
    socket.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    socket.once('error', (err) => {
      if (socket.readyState !== WebSocket.OPEN) reject(err);
    });
  });
}
