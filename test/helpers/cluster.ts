import { randomBytes } from 'node:crypto';
import { afterEach } from 'vitest';
import { createTestDatabase, createTestRedisPrefix } from './services.js';
import { startDaemon, startDaemonExpectingExit, type Daemon, type Refusal, type StartOptions } from './daemon.js';

/**
 * Several real relayd on one PostgreSQL database and one Redis prefix of the test's own, each
 * with its own data dir and the cluster's master key; everything is dropped after the test.
 */
export interface Cluster {
  storeUrl: string;
  brokerUrl: string;
  masterKey: string;
  nodes: Daemon[];
  /** Starts one more node of the cluster (or one with other flags, to see it refused). */
  start(nodeId: string, options?: StartOptions): Promise<Daemon>;
  startExpectingExit(nodeId: string, options?: StartOptions): Promise<Refusal>;
}

const drops: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const drop of drops.splice(0)) await drop();
});

export async function startCluster(nodeIds: string[] = ['node-a', 'node-b']): Promise<Cluster> {
  const db = await createTestDatabase();
  const redis = await createTestRedisPrefix();
  drops.push(db.drop, redis.drop);
  const masterKey = randomBytes(32).toString('base64');
  const nodeArgs = (nodeId: string, options: StartOptions): StartOptions => ({
    ...options,
    args: ['--store', db.url, '--broker', redis.url, '--node-id', nodeId, ...(options.args ?? [])],
    env: { RELAY_MASTER_KEY: masterKey, ...options.env },
  });
  const cluster: Cluster = {
    storeUrl: db.url,
    brokerUrl: redis.url,
    masterKey,
    nodes: [],
    start: async (nodeId, options = {}) => {
      const node = await startDaemon(nodeArgs(nodeId, options));
      cluster.nodes.push(node);
      return node;
    },
    startExpectingExit: (nodeId, options = {}) => startDaemonExpectingExit(nodeArgs(nodeId, options)),
  };
  // One after the other: the first creates the schema; the migrations' lock makes it safe either way, and it is tested on its own.
  for (const id of nodeIds) await cluster.start(id);
  return cluster;
}
