import type { Logger } from '../log.js';
import type { Store } from './store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';

/** Where the store is: a SQLite file (the default, in the data dir) or a PostgreSQL database that several relayd may share. */
export type StoreLocation = { driver: 'sqlite'; path: string } | { driver: 'postgres'; url: string };

export interface StoreConfig {
  location: StoreLocation;
  log: Logger;
}

/**
 * Opens the store and brings its schema up to date; a store it will not run on (a corrupt
 * file, an unreachable server, a schema newer than this relayd) is a StartupError.
 */
export async function createStore(config: StoreConfig): Promise<Store> {
  const { location, log } = config;
  switch (location.driver) {
    case 'sqlite':
      return new SqliteStore(location.path, log);
    case 'postgres': {
      // Loaded only here: the default mode never loads the PostgreSQL client.
      const { PostgresStore } = await import('./postgres/postgres-store.js');
      return PostgresStore.open(location.url, log);
    }
    default: {
      const unknown: never = location;
      throw new Error(`unknown store driver "${String((unknown as { driver: unknown }).driver)}"`);
    }
  }
}

export type { Store } from './store.js';
