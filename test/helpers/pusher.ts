import Pusher from 'pusher';
import pusherJs from 'pusher-js';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { afterEach, expect } from 'vitest';
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
