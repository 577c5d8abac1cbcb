import type { Broker } from './broker.js';
import { MemoryBroker } from './memory-broker.js';

export type BrokerDriver = 'memory';

export interface BrokerConfig {
  driver: BrokerDriver;
}

export function createBroker(config: BrokerConfig): Broker {
  switch (config.driver) {
    case 'memory':
      return new MemoryBroker();
    default: {
      const unknown: never = config.driver;
      throw new Error(`unknown broker driver "${String(unknown)}"`);
    }
  }
}

export type { Broker, BrokerEventHandler } from './broker.js';
export { CONTROL_CHANNEL } from './broker.js';
