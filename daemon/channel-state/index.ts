import type { Clock } from '../core/clock.js';
import type { ChannelState } from './channel-state.js';
import { MemoryChannelState } from './memory-channel-state.js';

/** `memory` for one node; `redis` (the broker's URL, redis://host:port[/db][?prefix=P]) for several. */
export type ChannelStateLocation = { driver: 'memory' } | { driver: 'redis'; url: string };

export interface ChannelStateConfig {
  location: ChannelStateLocation;
  /** This node's id: its share of counts and members is kept under it. */
  nodeId: string;
  clock: Clock;
}

/**
 * The Redis driver (and ioredis) is imported only when asked for, so that a node in the
 * default mode never loads it. It is connected before this resolves: an unreachable Redis
 * is a StartupError naming it.
 */
export async function createChannelState(config: ChannelStateConfig): Promise<ChannelState> {
  const { location } = config;
  switch (location.driver) {
    case 'memory':
      return new MemoryChannelState(config.nodeId, config.clock);
    case 'redis': {
      const [{ RedisChannelState }, { parseRedisUrl }] = await Promise.all([import('./redis-channel-state.js'), import('../broker/redis-connection.js')]);
      return RedisChannelState.connect(parseRedisUrl(location.url), config.nodeId);
    }
    default: {
      const unknown: never = location;
      throw new Error(`unknown channel state driver "${String((unknown as { driver: unknown }).driver)}"`);
    }
  }
}

export type { AppRef, ChannelState } from './channel-state.js';
