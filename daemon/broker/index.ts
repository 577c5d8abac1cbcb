import type { Logger } from '../log.js';
import type { Broker } from './broker.js';
import { MemoryBroker } from './memory-broker.js';

/** `memory` for one node; `redis` (redis://host:port[/db][?prefix=P]) for several. */
export type BrokerLocation = { driver: 'memory' } | { driver: 'redis'; url: string };

export interface BrokerConfig {
  location: BrokerLocation;
  log: Logger;
}

/**
 * The Redis driver (and ioredis) is imported only when asked for, so that a node on the
 * memory broker never loads it. It is connected before this resolves: an unreachable Redis
 * is a StartupError naming it.
 */
export async function createBroker(config: BrokerConfig): Promise<Broker> {
  const { location } = config;
  switch (location.driver) {
    case 'memory':
      return new MemoryBroker();
    case 'redis': {
      const [{ RedisBroker }, { parseRedisUrl }] = await Promise.all([import('./redis-broker.js'), import('./redis-connection.js')]);
      return RedisBroker.connect(parseRedisUrl(location.url), config.log);
    }
    default: {
      const unknown: never = location;
      throw new Error(`unknown broker driver "${String((unknown as { driver: unknown }).driver)}"`);
    }
  }
}

export type { Broker, BrokerDriver, BrokerEventHandler } from './broker.js';
export { CONTROL_CHANNEL } from './broker.js';
