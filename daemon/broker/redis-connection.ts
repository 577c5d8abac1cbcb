import type { Redis } from 'ioredis';
import { RelayError } from '../../src/shared/errors.js';
import { StartupError } from '../startup-error.js';

/**
 * Where one installation's Redis data lives: `redis://[user:password@]host:port[/db][?prefix=P]`
 * (`rediss://` for TLS). The db number applies to keys (rate-limit buckets) only: pub/sub is
 * server-wide, so the prefix, on every key and every channel, is what keeps two
 * installations sharing one Redis apart. Every node of one installation uses the same URL.
 */
export interface RedisTarget {
  /** What ioredis connects to: the URL without our own parameters. */
  url: string;
  prefix: string;
  /** The URL without its password or parameters, for messages and logs. */
  display: string;
}

export const DEFAULT_REDIS_PREFIX = 'relay:';

/** A command that gets no answer within this fails (RelayError 'unavailable') rather than waiting for Redis. */
const COMMAND_TIMEOUT_MS = 1000;
const CONNECT_TIMEOUT_MS = 5000;

export function parseRedisUrl(text: string): RedisTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    const shown = text.replace(/(\/\/[^/@]*?:)[^/@]*@/, '$1***@');
    throw new StartupError(`invalid Redis URL "${shown}": use redis://host:port[/db][?prefix=P]`);
  }
  if ((url.protocol !== 'redis:' && url.protocol !== 'rediss:') || url.hostname === '' || !/^\/?(\d+)?$/.test(url.pathname)) {
    if (url.password !== '') url.password = '***';
    throw new StartupError(`invalid Redis URL "${url.toString()}": use redis://host:port[/db][?prefix=P]`);
  }
  const prefix = url.searchParams.get('prefix') ?? DEFAULT_REDIS_PREFIX;
  url.searchParams.delete('prefix');
  const user = url.username === '' ? '' : `${url.username}@`;
  const db = url.pathname.length > 1 ? url.pathname : '';
  return { url: url.toString(), prefix, display: `${url.protocol}//${user}${url.host}${db}` };
}

/**
 * The same failure wherever Redis is used: 503, naming what could not be reached and why in
 * words for an operator: a lost connection by its last error (`connect ECONNREFUSED ...`)
 * rather than by ioredis's queue settings.
 */
export function redisUnavailable(what: string, target: RedisTarget, err: unknown, connectionError: Error | null): RelayError {
  const message = err instanceof Error ? err.message : String(err);
  let reason = message;
  if (message === 'Command timed out') reason = `no answer within ${COMMAND_TIMEOUT_MS} ms`;
  else if (/enableOfflineQueue|Connection is closed|max retries per request/i.test(message)) reason = `connection lost${connectionError ? ` (${connectionError.message})` : ''}, reconnecting`;
  return new RelayError('unavailable', `the ${what} (Redis at ${target.display}) is unreachable: ${reason}`, { cause: err });
}

/**
 * A connected ioredis client with the settings every Relay connection shares: a command
 * fails at once while the connection is down and within a second when Redis does not
 * answer (no offline queue: a request must get its 503 promptly, not wait for an outage to
 * end); reconnection is attempted for ever, at most a second apart; channels are
 * resubscribed by the broker, not by ioredis, so that the broker knows when that is done.
 * RESP2, so that a subscriber is in Redis's pubsub client class (its output-buffer limit
 * cuts off a node that cannot keep up instead of letting Redis's memory grow).
 * An unreachable Redis is a StartupError naming the URL, without its password.
 */
export async function connectRedis(target: RedisTarget, role: string, what: string): Promise<Redis> {
  const { Redis } = await import('ioredis');
  const client = new Redis(target.url, {
    lazyConnect: true,
    connectionName: `relayd-${role}:${target.prefix}`.replace(/[^\x21-\x7e]/g, '_'),
    protocol: 2,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectTimeout: CONNECT_TIMEOUT_MS,
    autoResubscribe: false,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 1000),
  });
  // Without a listener an 'error' event would crash the process; connection errors are
  // reported through the owner's status instead (once per outage).
  let lastError: Error | null = null;
  const remember = (err: Error): void => {
    lastError = err;
  };
  client.on('error', remember);
  try {
    await client.connect();
  } catch (err) {
    client.disconnect();
    const reason = (lastError ?? (err as Error)).message;
    throw new StartupError(`cannot reach the ${what}: Redis at ${target.display} is unreachable (${reason}); start Redis or check the URL`);
  }
  return client;
}

/** Follows a client's connection: `up(false, why)` when it drops (again at every failed attempt), `up(true)` when it is ready again. */
export function watchRedis(client: Redis, up: (ready: boolean, err: Error | null) => void): void {
  let lastError: Error | null = null;
  client.on('error', (err: Error) => {
    lastError = err;
  });
  client.on('close', () => up(false, lastError));
  client.on('ready', () => {
    lastError = null;
    up(true, null);
  });
}

/** Closes a client, politely when it can, at once when it cannot. */
export async function quitRedis(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // Redis did not answer QUIT in time: drop the connection.
    }
  }
  client.disconnect();
}
