import Pusher from 'pusher';
import pusherJs from 'pusher-js';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { afterEach, expect } from 'vitest';
import WebSocket from 'ws';
import { relay } from './cli.js';
import type { Daemon } from './daemon.js';

/** An app registered through the CLI, with the `pusher` server SDK pointed at the daemon. */
export interface ChannelApp {
  id: string;
  key: string;
  secret: string;
  server: Pusher;
}

/**
 * pusher-js's types describe an ES module whose default export is the client class; its Node
 * build is CommonJS with the class as `module.exports`, which is what a default import gets.
 */
const PusherJS = pusherJs as unknown as typeof pusherJs.default;
export type PusherClient = InstanceType<typeof PusherJS>;

const clients = new Set<PusherClient>();

afterEach(() => {
  for (const client of clients) client.disconnect();
  clients.clear();
});

export const port = (daemon: Daemon): number => Number(new URL(daemon.url).port);

/** A random channel name with this prefix, so tests never share state by accident. */
export const channelName = (prefix = ''): string => `${prefix}test-${randomBytes(6).toString('hex')}`;

export async function registerChannelApp(daemon: Daemon, id = 'acme-pm', options: { encryptionMasterKeyBase64?: string } = {}): Promise<ChannelApp> {
  const registered = await relay(['apps', 'register', '--id', id, '--name', 'Acme PM', '-q'], { daemon });
  expect(registered.exitCode, registered.stderr).toBe(0);
  const { key, secret } = (await relay(['apps', 'credentials', id, '--json'], { daemon })).json<{ key: string; secret: string }>();
  const server = new Pusher({ appId: id, key, secret, host: '127.0.0.1', port: String(port(daemon)), useTLS: false, ...options });
  return { id, key, secret, server };
}

/**
 * A real pusher-js client (its Node build) against the daemon. Private and presence
 * channels are authorized by the `pusher` SDK, as an app's auth endpoint would.
 */
export function subscriberClient(daemon: Daemon, app: ChannelApp, user?: { user_id: string; user_info?: Record<string, unknown> }): PusherClient {
  const client = new PusherJS(app.key, {
    wsHost: '127.0.0.1',
    wsPort: port(daemon),
    forceTLS: false,
    enabledTransports: ['ws'],
    cluster: '',
    disableStats: true,
    channelAuthorization: {
      endpoint: '/unused',
      transport: 'ajax',
      customHandler: ({ socketId, channelName: name }: { socketId: string; channelName: string }, callback: (error: Error | null, data: { auth: string; channel_data?: string; shared_secret?: string }) => void) => {
        const presence = name.startsWith('presence-');
        callback(null, app.server.authorizeChannel(socketId, name, presence ? (user ?? { user_id: socketId }) : undefined));
      },
    },
  });
  clients.add(client);
  return client;
}

export function connected(client: PusherClient): Promise<void> {
  if (client.connection.state === 'connected') return Promise.resolve();
  return new Promise((resolve) => client.connection.bind('connected', () => resolve()));
}

/** Subscribes and waits for relayd's `subscription_succeeded`; rejects on a `pusher:error` for the channel. */
export function subscribed(client: PusherClient, name: string): Promise<ReturnType<PusherClient['subscribe']>> {
  const channel = client.subscribe(name);
  return new Promise((resolve, reject) => {
    channel.bind('pusher:subscription_succeeded', () => resolve(channel));
    channel.bind('pusher:error', (error: unknown) => reject(new Error(`subscription to ${name} refused: ${JSON.stringify(error)}`)));
    channel.bind('pusher:subscription_error', (error: unknown) => reject(new Error(`subscription to ${name} failed: ${JSON.stringify(error)}`)));
  });
}

/** The next `event` on a channel object. */
export function next<T = unknown>(channel: { bind(event: string, callback: (data: T) => void): unknown }, event: string): Promise<T> {
  return new Promise((resolve) => channel.bind(event, (data: T) => resolve(data)));
}

/** Collects every `event` on a channel object. */
export function collect<T = unknown>(channel: { bind(event: string, callback: (data: T) => void): unknown }, event: string): T[] {
  const seen: T[] = [];
  channel.bind(event, (data: T) => seen.push(data));
  return seen;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A Pusher REST request signed by hand, per the reference §2.1, so that a test can sign
 * what the SDK would never send: an old or odd timestamp, or a body other than the signed one.
 */
export function signedPost(daemon: Daemon, app: ChannelApp, path: string, body: string, options: { timestamp?: number | string; md5Of?: string } = {}): Promise<Response> {
  const params: Record<string, string> = {
    auth_key: app.key,
    auth_timestamp: String(options.timestamp ?? Math.floor(Date.now() / 1000)),
    auth_version: '1.0',
    body_md5: createHash('md5').update(options.md5Of ?? body).digest('hex'),
  };
  const fullPath = `/apps/${app.id}${path}`;
  const query = Object.keys(params)
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&');
  const signature = createHmac('sha256', app.secret).update(`POST\n${fullPath}\n${query}`).digest('hex');
  return fetch(`${daemon.url}${fullPath}?${query}&auth_signature=${signature}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
}

/** A Pusher protocol frame as it comes off the wire. */
export interface Frame {
  event: string;
  channel?: string;
  data?: unknown;
  user_id?: string;
}

/** A raw `ws` socket on the Pusher protocol: what a client other than pusher-js (or a broken or hostile one) sees. */
export interface RawSocket {
  ws: WebSocket;
  /** Every frame received, the first (the greeting or the refusal) included. */
  frames: Frame[];
  /** Of those, the ones that came as binary WebSocket frames (Pusher's are all text frames). */
  binaryFrames: Frame[];
  socketId: string;
  closed: Promise<{ code: number; reason: string }>;
  isOpen(): boolean;
  send(frame: unknown): void;
  /** The first frame from now on for which `match` holds (rejects after 5 s). */
  next(match: (f: Frame) => boolean, what?: string): Promise<Frame>;
}

const rawSockets = new Set<WebSocket>();
afterEach(() => {
  for (const ws of rawSockets) ws.terminate();
  rawSockets.clear();
});

/** Opens a raw socket and waits for relayd's first frame (or the close, for a refusal); `localAddress` picks the client's address. */
export async function openRawSocket(daemon: Daemon, path: string, options: { localAddress?: string } = {}): Promise<RawSocket> {
  const ws = new WebSocket(daemon.wsUrl + path, options);
  rawSockets.add(ws);
  const frames: Frame[] = [];
  const binaryFrames: Frame[] = [];
  const waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  let first: (() => void) | null = null;
  const greeted = new Promise<void>((resolve, reject) => {
    first = resolve;
    ws.once('error', reject);
    void closed.then(() => resolve());
  });
  ws.on('message', (raw, isBinary) => {
    const frame = JSON.parse(raw.toString()) as Frame;
    frames.push(frame);
    if (isBinary) binaryFrames.push(frame);
    first?.();
    for (const waiter of [...waiters]) {
      if (waiter.match(frame)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(frame);
      }
    }
  });
  await greeted;
  const greeting = frames[0];
  const socketId = greeting?.event === 'pusher:connection_established' ? (JSON.parse(greeting.data as string) as { socket_id: string }).socket_id : '';
  return {
    ws,
    frames,
    binaryFrames,
    socketId,
    closed,
    isOpen: () => ws.readyState === WebSocket.OPEN,
    send: (frame) => ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)),
    next: (match, what = 'the frame') =>
      new Promise<Frame>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${what} within 5 s; got ${JSON.stringify(frames).slice(0, 2000)}`)), 5000);
        waiters.push({ match, resolve: (f) => (clearTimeout(timer), resolve(f)) });
      }),
  };
}
