import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';

/**
 * PostgreSQL and Redis for the cluster mode's tests and benchmarks: where they are (the
 * machine's own, or RELAY_TEST_POSTGRES / RELAY_TEST_REDIS), and a database and a key prefix
 * of a run's own, dropped after it.
 */
export const POSTGRES_URL = process.env.RELAY_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.RELAY_TEST_REDIS ?? 'redis://127.0.0.1:6379';

export type Service = 'postgres' | 'redis';

export const HOW_TO_START: Record<Service, string> = {
  postgres: `PostgreSQL at ${POSTGRES_URL} (start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start; or set RELAY_TEST_POSTGRES)`,
  redis: `Redis at ${REDIS_URL} (start it: redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no; or set RELAY_TEST_REDIS)`,
};

export function reachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname.replace(/^\[|\]$/g, ''), port: Number(port) });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** A name unique to this run, for a database, a schema or a key prefix. */
/** What to start when PostgreSQL or Redis cannot be reached (for a bench section to say why it is skipped), or null when both can. */
export async function unreachableService(): Promise<string | null> {
  for (const [service, url] of [['postgres', POSTGRES_URL], ['redis', REDIS_URL]] as const) {
    if (!(await reachable(url))) return `${HOW_TO_START[service]} is not reachable`;
  }
  return null;
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** PostgreSQL's URL for another database on the same server. */
export function postgresUrlFor(database: string): string {
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

/** A new, empty database for one test run: its URL, and how to drop it (closing anything still connected to it). */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const { default: postgres } = await import('postgres');
  const name = uniqueName('relay_test');
  const admin = postgres(POSTGRES_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.end();
  return {
    url: postgresUrlFor(name),
    drop: async () => {
      const sql = postgres(POSTGRES_URL, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await sql.end();
      }
    },
  };
}

/** A Redis URL whose keys and channels are this run's alone, and how to delete its keys. */
export async function createTestRedisPrefix(): Promise<{ url: string; prefix: string; drop(): Promise<void> }> {
  const prefix = `${uniqueName('relay-test')}:`;
  const url = new URL(REDIS_URL);
  url.searchParams.set('prefix', prefix);
  return {
    url: url.toString(),
    prefix,
    drop: async () => {
      const { Redis } = await import('ioredis');
      const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await redis.connect();
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length > 0) await redis.del(...keys);
        } while (cursor !== '0');
      } finally {
        redis.disconnect();
      }
    },
  };
}
