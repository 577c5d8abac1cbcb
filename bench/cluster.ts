import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { cpuSeconds, fanOut, openFilesLimit, relaydTarget, subscribe, type Farm, type Target, type Throughput } from './fanout.js';
import { spawnRelayd, type RelaydProcess } from './lib/relayd-process.js';
import { fmt, heading, medianRound, percentile, row } from './lib/report.js';
import { createTestDatabase, createTestRedisPrefix, unreachableService } from './lib/services.js';
import { CONNECTIONS, DURATION_S, ROUNDS, WARMUP_S, load } from './publish.js';

const SUBSCRIBERS = 1000;
const LATENCY_SECONDS = 5;
const SAMPLE_EVERY = 10;
/** Publishes/s of the light-load latency run: what the cluster adds when nothing queues. */
const TRICKLE = 5;

export const cleanEnv = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('RELAY_')));

export interface Node {
  daemon: RelaydProcess;
  dir: string;
}

export async function startNode(args: string[], masterKey: string): Promise<Node> {
  const dir = mkdtempSync(join(tmpdir(), 'relay-bench-cluster-'));
  const daemon = await spawnRelayd(dir, args, { ...cleanEnv(), RELAY_MASTER_KEY: masterKey });
  return { daemon, dir };
}

export async function stopNode(node: Node): Promise<void> {
  await node.daemon.stop();
  rmSync(node.dir, { recursive: true, force: true });
}

/** A publish target with a token whose limit doesn't bind, as the publish section makes. */
async function publishTarget(daemon: RelaydProcess, appId: string): Promise<{ url: string; auth: Record<string, string> }> {
  await daemon.admin('POST', '/admin/v1/orgs/default/apps', { id: appId, name: 'Bench' });
  const created = await daemon.admin<{ secret: string }>('POST', `/admin/v1/orgs/default/apps/${appId}/tokens`, { name: 'bench', scopes: ['events:publish'], rateLimit: '10000000/min,burst=10000000' });
  return { url: `${daemon.url}/api/v1/apps/${appId}/events`, auth: { authorization: `Bearer ${created.body.secret}` } };
}

/** Waits until a farm has received nothing for half a second. */
async function drained(farm: Farm): Promise<void> {
  let seen = -1;
  while (seen !== farm.delivered) {
    seen = farm.delivered;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Deliveries on several farms, counted as one. */
function together(farms: Farm[]): Farm {
  return {
    get delivered() {
      return farms.reduce((sum, f) => sum + f.delivered, 0);
    },
    set delivered(_ignored: number) {
      // fanOut only reads it
    },
    get onDelivery() {
      return farms[0]?.onDelivery;
    },
    set onDelivery(listener) {
      for (const f of farms) f.onDelivery = listener;
    },
    close: async () => {
      await Promise.all(farms.map((f) => f.close()));
    },
  };
}

/**
 * Publishes at a steady `perSecond` (open loop: not waiting for answers) for LATENCY_SECONDS;
 * every delivery's publish → receive time, per farm.
 */
async function steadyLatencies(target: Target, farms: Farm[], channel: string, perSecond: number): Promise<number[][]> {
  const samples = farms.map(() => [] as number[]);
  farms.forEach((farm, i) => {
    let n = 0;
    // One delivery in SAMPLE_EVERY is timed, read with a pattern rather than two JSON.parse: the
    // bench's one process receives every delivery, and must not be what delays them.
    farm.onDelivery = (raw) => {
      if (++n % SAMPLE_EVERY !== 0) return;
      const sent = Number(/\\"t\\":([0-9.]+)/.exec(raw.toString())?.[1]);
      if (sent > 0) samples[i]!.push(performance.now() - sent);
    };
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const url = new URL(target.publishUrl);
  const total = Math.round(perSecond * LATENCY_SECONDS);
  const started = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const body = JSON.stringify({ name: 'tick', channel, data: JSON.stringify({ t: performance.now() }) });
    inFlight.push(
      new Promise<void>((resolve) => {
        const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...target.headers } }, (res) => {
          res.resume();
          res.once('end', () => resolve());
        });
        req.once('error', () => resolve());
        req.end(body);
      }),
    );
  }
  await Promise.all(inFlight);
  await new Promise((resolve) => setTimeout(resolve, 500));
  for (const farm of farms) farm.onDelivery = undefined;
  agent.destroy();
  return samples;
}

/**
 * The cluster mode beside the default, in one run: publish req/s on PostgreSQL beside SQLite,
 * and fan-out to 1000 subscribers split over two nodes (PostgreSQL + Redis, published on one)
 * beside one default node, with publish → receive latency at half the cluster's load.
 */
export async function benchCluster(daemon: RelaydProcess): Promise<void> {
  heading('Cluster mode: PostgreSQL store and Redis broker beside the SQLite + memory default');
  const missing = await unreachableService();
  if (missing) {
    row(`skipped: ${missing}`, '');
    return;
  }
  const db = await createTestDatabase();
  const redis = await createTestRedisPrefix();
  const masterKey = randomBytes(32).toString('base64');
  const nodes: Node[] = [];
  try {
    // Publish: the same path, the store the only difference (memory broker, one node).
    const pgDb = await createTestDatabase();
    try {
      const pg = await startNode(['--store', pgDb.url], masterKey);
      nodes.push(pg);
      const sqlite = await publishTarget(daemon, 'bench-cluster-publish');
      const postgres = await publishTarget(pg.daemon, 'bench-cluster-publish');
      await load(sqlite.url, sqlite.auth, WARMUP_S);
      await load(postgres.url, postgres.auth, WARMUP_S);
      const sqliteRounds: Awaited<ReturnType<typeof load>>[] = [];
      const pgRounds: Awaited<ReturnType<typeof load>>[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        sqliteRounds.push(await load(sqlite.url, sqlite.auth));
        pgRounds.push(await load(postgres.url, postgres.auth));
      }
      const s = medianRound(sqliteRounds);
      const p = medianRound(pgRounds);
      process.stdout.write(`  Publish, ${CONNECTIONS} keep-alive clients, ${ROUNDS} alternating rounds of ${DURATION_S} s (medians):\n`);
      row('  SQLite store (baseline)', `${fmt(s.rps, 0)} req/s`, `p99 ${s.p99} ms`);
      row('  PostgreSQL store', `${fmt(p.rps, 0)} req/s`, `${fmt(p.rps / s.rps, 2)}x SQLite (goal ≥ 0.4x), p99 ${p.p99} ms`);
      const failed = pgRounds.reduce((sum, r) => sum + r.non2xx, 0);
      if (failed > 0) row('  non-2xx answers or errors (should be 0)', String(failed));
      await stopNode(nodes.pop() as Node);
    } finally {
      await pgDb.drop();
    }

    const limit = openFilesLimit();
    if (limit < SUBSCRIBERS + 300) {
      row('fan-out skipped: open files limit too low', `${limit}`, `needs ${SUBSCRIBERS + 300}; run with \`ulimit -n 4096\``);
      return;
    }
    const a = await startNode(['--store', db.url, '--broker', redis.url, '--node-id', 'bench-a'], masterKey);
    nodes.push(a);
    const b = await startNode(['--store', db.url, '--broker', redis.url, '--node-id', 'bench-b'], masterKey);
    nodes.push(b);

    const single = await relaydTarget(daemon, 'bench-cluster-fanout');
    const onA = await relaydTarget(a.daemon, 'bench-cluster-fanout');
    const onB: Target = { ...onA, name: 'relayd node B', wsUrl: onA.wsUrl.replace(a.daemon.wsUrl, b.daemon.wsUrl), pid: b.daemon.process.pid as number };

    const channel = 'bench-cluster-fanout';
    const one = await subscribe(single, SUBSCRIBERS, channel);
    const oneNode = await fanOut(single, one, channel);
    await drained(one);

    const farms = [await subscribe(onA, SUBSCRIBERS / 2, channel), await subscribe(onB, SUBSCRIBERS / 2, channel)];
    const both = together(farms);
    const cpuB = cpuSeconds(onB.pid);
    const startedAt = performance.now();
    const twoNodes: Throughput = await fanOut(onA, both, channel);
    const cpuBShare = (cpuSeconds(onB.pid) - cpuB) / ((performance.now() - startedAt) / 1000);
    process.stdout.write(`  Fan-out to ${SUBSCRIBERS} subscribers, 8 keep-alive publishers for ${DURATION_S} s:\n`);
    row('  one node, SQLite + memory (baseline)', `${fmt(oneNode.perSecond, 0)} msg/s`, `CPU ${fmt(oneNode.cpu * 100, 0)} %`);
    row(
      '  two nodes, half the subscribers on each',
      `${fmt(twoNodes.perSecond, 0)} msg/s`,
      `${fmt(twoNodes.perSecond / oneNode.perSecond, 2)}x one node (goal ≥ 0.5x), CPU A ${fmt(twoNodes.cpu * 100, 0)} % B ${fmt(cpuBShare * 100, 0)} %`,
    );
    if (oneNode.errors + twoNodes.errors > 0) row('  non-2xx answers or errors (should be 0)', String(oneNode.errors + twoNodes.errors));

    // What the throughput run left in flight is delivered first, so that it does not count as latency.
    await drained(both);
    const rate = Math.max(1, Math.round(twoNodes.perSecond / SUBSCRIBERS / 2));
    const ms = (samples: number[]): string => `${fmt(percentile(samples, 50), 2)} / ${fmt(percentile(samples, 99), 2)} ms`;
    for (const [label, perSecond] of [[`half the two nodes' load`, rate], ['a trickle', TRICKLE]] as const) {
      const [alone] = (await steadyLatencies(single, [one], channel, perSecond)) as [number[]];
      const [onNodeA, onNodeB] = (await steadyLatencies(onA, farms, channel, perSecond)) as [number[], number[]];
      process.stdout.write(`  Publish → receive at ${label} (${perSecond} publishes/s for ${LATENCY_SECONDS} s, ${SUBSCRIBERS} subscribers):\n`);
      row('  one node (baseline) p50 / p99', ms(alone));
      row('  subscribers on node A p50 / p99', ms(onNodeA));
      row('  subscribers on node B p50 / p99', ms(onNodeB), perSecond === rate ? 'goal p50 < 5 ms' : '');
    }
    await one.close();
    await both.close();
  } finally {
    for (const node of nodes) await stopNode(node);
    await db.drop();
    await redis.drop();
  }
}
