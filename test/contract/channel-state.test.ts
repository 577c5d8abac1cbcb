import { afterAll, beforeAll, describe } from 'vitest';
import { createChannelState } from '../../daemon/channel-state/index.js';
import { createTestRedisPrefix, servicesFor } from '../helpers/services.js';
import { describeChannelState } from './channel-state.contract.js';

/** The memory driver's expiries run on this clock: a test moves it rather than waiting. */
let now = Date.now();
const clock = { now: () => now };

describeChannelState('memory', {
  newNode: (nodeId) => createChannelState({ location: { driver: 'memory' }, nodeId, clock }),
  elapse: async (ms) => {
    now += ms;
  },
  crossNode: false,
});

const redisUp = await servicesFor(['redis'], 'the Redis channel state contract');

describe.runIf(redisUp)('Redis channel state', () => {
  let redis: Awaited<ReturnType<typeof createTestRedisPrefix>>;
  beforeAll(async () => {
    redis = await createTestRedisPrefix();
  });
  afterAll(async () => {
    await redis?.drop();
  });

  describeChannelState('redis', {
    newNode: (nodeId) => createChannelState({ location: { driver: 'redis', url: redis.url }, nodeId, clock }),
    elapse: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    crossNode: true,
  });
});
