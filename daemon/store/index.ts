import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { Store } from './store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';

export type StoreDriver = 'sqlite';

export interface StoreConfig {
  driver: StoreDriver;
  dataDir: string;
  log: Logger;
}

/** Opens the store; a store it will not run on (corrupt, say) is a StartupError. */
export function createStore(config: StoreConfig): Store {
  switch (config.driver) {
    case 'sqlite':
      return new SqliteStore(join(config.dataDir, 'relay.db'), config.log);
    default: {
      const unknown: never = config.driver;
      throw new Error(`unknown store driver "${String(unknown)}"`);
    }
  }
}

export type { Store } from './store.js';
