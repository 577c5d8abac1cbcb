import type { Clock } from '../core/clock.js';
import type { ChannelState } from './channel-state.js';
import { MemoryChannelState } from './memory-channel-state.js';

/** `memory` for one node. */
export type ChannelStateLocation = { driver: 'memory' };

export interface ChannelStateConfig {
  location: ChannelStateLocation;
  /** This node's id: its share of counts and members is kept under it. */
  nodeId: string;
  clock: Clock;
}

export async function createChannelState(config: ChannelStateConfig): Promise<ChannelState> {
  const { location } = config;
  switch (location.driver) {
    case 'memory':
      return new MemoryChannelState(config.nodeId, config.clock);
    default: {
      const unknown: never = location.driver;
      throw new Error(`unknown channel state driver "${String(unknown)}"`);
    }
  }
}

export type { AppRef, ChannelState } from './channel-state.js';
