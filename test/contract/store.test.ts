import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { createStore } from '../../daemon/store/index.js';
import { MIGRATIONS as POSTGRES_MIGRATIONS } from '../../daemon/store/postgres/migrations.js';
import { PostgresStore } from '../../daemon/store/postgres/postgres-store.js';
import { MIGRATIONS as SQLITE_MIGRATIONS } from '../../daemon/store/sqlite/migrations/index.js';
import { SqliteStore } from '../../daemon/store/sqlite/sqlite-store.js';
import type { Store, UsageRecord } from '../../daemon/store/store.js';
import { emptyUsage } from '../../daemon/store/usage.js';
import { StartupError } from '../../daemon/startup-error.js';
import { createTestDatabase, postgresUrlFor, servicesFor, uniqueName } from '../helpers/services.js';
import { describeStore, type OpenedStore } from './store.contract.js';

describeStore('SQLite', async (): Promise<OpenedStore> => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-store-'));
  const path = join(dir, 'relay.db');
  let store: Store = new SqliteStore(path);
  return {
    get store() {
      return store;
    },
    reopen: async () => {
      await store.close();
      store = new SqliteStore(path);
      return store;
    },
    close: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

const postgresUp = await servicesFor(['postgres'], 'the PostgreSQL store tests');

describe.runIf(postgresUp)('PostgreSQL store', () => {
  const databases: { drop(): Promise<void> }[] = [];
  afterAll(async () => {
    await Promise.all(databases.map((d) => d.drop()));
  });

  async function freshDatabase(): Promise<string> {
    const db = await createTestDatabase();
    databases.push(db);
    return db.url;
  }

  describeStore('PostgreSQL', async (): Promise<OpenedStore> => {
    const url = await freshDatabase();
    let store: Store = await PostgresStore.open(url);
    return {
      get store() {
        return store;
      },
      reopen: async () => {
        await store.close();
        store = await PostgresStore.open(url);
        return store;
      },
      close: () => store.close(),
    };
  });

  describe('migrations', () => {
    it('has the same migration history as SQLite: the same versions, with the same names', () => {
      expect(POSTGRES_MIGRATIONS.map((m) => [m.version, m.name])).toEqual(SQLITE_MIGRATIONS.map((m) => [m.version, m.name]));
    });

    it('migrates once when several nodes start together on a fresh database, and they all start', async () => {
      const url = await freshDatabase();
      const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresStore.open(url)));
      try {
        // Each works on the one schema: what one writes, another reads.
        await stores[0]?.insertOrg({ id: 'default', name: 'Default', createdAt: 1 }, null);
        expect(await stores[3]?.getOrg('default')).toEqual({ id: 'default', name: 'Default', createdAt: 1 });
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        const rows = await sql<{ v: string; n: string }[]>`SELECT version::text AS v, count(*)::text AS n FROM schema_migrations GROUP BY version ORDER BY schema_migrations.version`;
        expect(rows.map((r) => [Number(r.v), Number(r.n)])).toEqual(POSTGRES_MIGRATIONS.map((m) => [m.version, 1]));
      } finally {
        await sql.end();
      }
    });

    it('refuses a database migrated by a newer relayd, and starts again on its own schema', async () => {
      const url = await freshDatabase();
      await (await PostgresStore.open(url)).close();
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await sql`INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'from the future', 0)`;
        const refused = PostgresStore.open(url);
        await expect(refused).rejects.toBeInstanceOf(StartupError);
        await expect(refused).rejects.toThrow(new RegExp(`schema version 99, newer than this relayd knows \\(${Math.max(...POSTGRES_MIGRATIONS.map((m) => m.version))}\\).*Upgrade relayd`));
        await sql`DELETE FROM schema_migrations WHERE version = 99`;
      } finally {
        await sql.end();
      }
      await (await PostgresStore.open(url)).close();
    });

    it('keeps the change numbers of nodes apart: blocks reserved at once by two nodes never overlap', async () => {
      const url = await freshDatabase();
      const [a, b] = await Promise.all([PostgresStore.open(url), PostgresStore.open(url)]);
      try {
        const firsts = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).reserveChangeSeqs(1000)));
        const sorted = [...firsts].sort((x, y) => x - y);
        expect(sorted.map((f, i) => f - (sorted[0] as number) - i * 1000)).toEqual(Array(20).fill(0));
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  });

  describe('usage analytics', () => {
    it('adds to the same rows from two nodes at once without losing counts, whatever the order of the batches', async () => {
      const url = await freshDatabase();
      const [a, b] = await Promise.all([PostgresStore.open(url), PostgresStore.open(url)]);
      try {
        const start = Date.UTC(2026, 11, 4, 12);
        const row = (node: string, n: number): UsageRecord => ({ org: 'default', appId: 'acme-pm', node, resolution: 'hour', start, counts: { ...emptyUsage(), publishedApi: 1, connectionsPeak: n } });
        await Promise.all(
          Array.from({ length: 40 }, (_, n) => (n % 2 === 0 ? a : b).addUsage(n % 4 < 2 ? [row('', n), row('x', n)] : [row('x', n), row('', n)])),
        );
        const rows = await a.listUsage('default', 'acme-pm', 'hour', start, start + 1);
        expect(rows.map((r) => [r.node, r.counts.publishedApi, r.counts.connectionsPeak])).toEqual([
          ['', 40, 39],
          ['x', 40, 39],
        ]);
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  });

  describe('createStore', () => {
    it('opens PostgreSQL for a postgres location', async () => {
      const url = await freshDatabase();
      const log = { debug() {}, info() {}, warn() {}, error() {} } as unknown as Parameters<typeof createStore>[0]['log'];
      const store = await createStore({ location: { driver: 'postgres', url }, log });
      try {
        expect(store).toBeInstanceOf(PostgresStore);
        expect(await store.listOrgs()).toEqual([]);
      } finally {
        await store.close();
      }
    });

    it('says in one line, naming the URL without its password, that the server is unreachable, the database missing, or the login refused', async () => {
      const refusal = async (url: string): Promise<string> => {
        const err = await PostgresStore.open(url).then(
          (store) => store.close().then(() => new Error('opened')),
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(StartupError);
        const message = (err as Error).message;
        expect(message).not.toContain('\n');
        expect(message).not.toContain('s3cret');
        return message;
      };
      // A port nobody listens on.
      expect(await refusal('postgres://relay:s3cret@127.0.0.1:1/relay')).toBe('cannot reach PostgreSQL at postgres://relay@127.0.0.1:1/relay: connection refused; is it running?');
      const missing = uniqueName('relay_missing');
      expect(await refusal(postgresUrlFor(missing).replace('postgres@', 'postgres:s3cret@'))).toMatch(new RegExp(`^PostgreSQL at postgres://postgres@127\\.0\\.0\\.1:5432/${missing} has no such database .*create it`));
      // Trust authentication lets any password in; a role that does not exist is still refused.
      const nobody = new URL(postgresUrlFor('test'));
      nobody.username = 'no_such_role';
      nobody.password = 's3cret';
      expect(await refusal(nobody.toString())).toMatch(/^PostgreSQL at postgres:\/\/no_such_role@127\.0\.0\.1:5432\/test refused relayd's credentials/);
    });
  });
});
