import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';

/**
 * PostgreSQL and Redis for the tests of the cluster mode. Every machine of this project runs
 * both (CI included); a developer's may not. Outside CI an unreachable service skips the
 * tests that need it, with one line saying how to enable them; with CI=true it fails them.
 */
export const POSTGRES_URL = process.env.RELAY_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.RELAY_TEST_REDIS ?? 'redis://127.0.0.1:6379';

export type Service = 'postgres' | 'redis';

const HOW_TO_START: Record<Service, string> = {
  postgres: `PostgreSQL at ${POSTGRES_URL} (start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start; or set RELAY_TEST_POSTGRES)`,
  redis: `Redis at ${REDIS_URL} (start it: redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no; or set RELAY_TEST_REDIS)`,
};

function reachable(url: string): Promise<boolean> {
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

/**
 * Whether the tests that need these services can run: true when all are reachable. When one
 * is not, false with one visible line outside CI; with CI=true it throws, so the file fails.
 */
export async function servicesFor(needs: Service[], what: string): Promise<boolean> {
  const down: Service[] = [];
  for (const service of needs) if (!(await reachable(service === 'postgres' ? POSTGRES_URL : REDIS_URL))) down.push(service);
  if (down.length === 0) return true;
  const why = down.map((service) => HOW_TO_START[service]).join('; ');
  if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`${what} need ${why}: it is not reachable, and CI=true makes that a failure`);
  console.warn(`skipping ${what}: ${why} is not reachable`);
  return false;
}

/** A name unique to this run, for a database, a schema or a key prefix. */
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
