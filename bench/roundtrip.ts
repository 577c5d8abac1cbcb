import { createRequire } from 'node:module';
import WebSocket from 'ws';
import { randomBytes } from 'node:crypto';
import { startNode, stopNode, type Node } from './cluster.js';
import type { RelaydProcess } from './lib/relayd-process.js';
import { createTestDatabase, createTestRedisPrefix, unreachableService } from './lib/services.js';
import { nodeScript } from './lib/baseline.js';
import { fmt, heading, percentile, row } from './lib/report.js';

const require = createRequire(import.meta.url);
const WS = JSON.stringify(require.resolve('ws'));
const ROUND_TRIPS = 6000;
const WARMUP = 500;
/**
 * The paced run's offered load: well within what relayd sustains on a 2-core machine, so that
 * its latency is relayd's own work and not a queue. The saturated run measures the queue.
 */
const PACED_RATE = 2000;
/** The cluster's paced load: within what two nodes on PostgreSQL + Redis sustain beside each other on 2 cores. */
const CLUSTER_PACED_RATE = 500;

/** The baseline: a bare `ws` server in its own process that sends every message back. */
const ECHO = `
  const { WebSocketServer } = require(${WS});
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(data, { binary: false })));
  wss.on('listening', () => console.log(wss.address().port));
`;

/** The agent, in its own process as a real one would be: replies to each event at once (bench/schemas.ts runs it too). */
export const AGENT = `
  const WebSocket = require(${WS});
  const ws = new WebSocket(process.env.URL, { headers: { authorization: 'Bearer ' + process.env.TOKEN } });
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString());
    if (frame.type === 'welcome') console.log('ready');
    if (frame.type === 'event') ws.send(JSON.stringify({ type: 'reply', eventId: frame.eventId, payload: frame.payload }));
  });
`;

interface Run {
  latencies: number[];
  seconds: number;
}

/** How the round trips are started; each thread has at most one message in flight, as the events of one thread go. */
type Pace =
  /** Saturated: each thread sends its next message as soon as the previous one is answered. */
  | { kind: 'closed' }
  /** Paced: `perSecond` messages in all, each from a thread with nothing in flight: the latency of a load the server keeps up with. */
  | { kind: 'paced'; perSecond: number };

/**
 * `threads` threads, each with one message in flight at most, until `total` round trips
 * (after the warm-up) are done. `send(id, thread)` sends the message `id`; the function
 * handed to `setAnswer` must be called with the id when its answer comes. Latency is from
 * sending to the answer.
 */
async function loop(threads: number, pace: Pace, total: number, send: (id: number, thread: number) => void, setAnswer: (fn: (id: number) => void) => void): Promise<Run> {
  const latencies: number[] = [];
  const started = new Map<number, { at: bigint; thread: number }>();
  const idle: number[] = [];
  let next = 0;
  let done = 0;
  const t0 = process.hrtime.bigint();
  /** Throughput is counted from the end of the warm-up. */
  let measuredFrom = t0;
  let ticker: NodeJS.Timeout | undefined;
  const fire = (thread: number): void => {
    const id = next++;
    started.set(id, { at: process.hrtime.bigint(), thread });
    send(id, thread);
  };
  /** Paced: as many as are due by now, from the idle threads; a server that falls behind is sent the backlog as soon as threads free up. */
  const issueDue = (): void => {
    if (pace.kind !== 'paced') return;
    const due = Math.min(total + WARMUP, Math.floor((Number(process.hrtime.bigint() - t0) / 1e9) * pace.perSecond));
    while (next < due && idle.length > 0) fire(idle.shift() as number);
  };
  return new Promise((resolve) => {
    setAnswer((id) => {
      const s = started.get(id);
      if (!s) return;
      started.delete(id);
      done++;
      if (done === WARMUP) measuredFrom = process.hrtime.bigint();
      if (done > WARMUP) latencies.push(Number(process.hrtime.bigint() - s.at) / 1e6);
      if (done === total + WARMUP) {
        clearInterval(ticker);
        resolve({ latencies, seconds: Number(process.hrtime.bigint() - measuredFrom) / 1e9 });
        return;
      }
      if (pace.kind === 'closed') {
        if (next < total + WARMUP) fire(s.thread);
      } else {
        idle.push(s.thread);
        issueDue();
      }
    });
    if (pace.kind === 'closed') {
      for (let t = 0; t < threads; t++) fire(t);
      return;
    }
    for (let t = 0; t < threads; t++) idle.push(t);
    ticker = setInterval(issueDue, 1);
  });
}

async function echoRun(url: string, threads: number, pace: Pace): Promise<Run> {
  const ws = new WebSocket(url);
  await new Promise((r) => ws.once('open', r));
  const run = await loop(
    threads,
    pace,
    ROUND_TRIPS,
    (id, thread) => ws.send(JSON.stringify({ type: 'event', ref: String(id), agent: 'bench-agent', thread: `t${thread}`, payload: { n: id } })),
    (answered) => ws.on('message', (data) => answered(Number((JSON.parse(data.toString()) as { ref: string }).ref))),
  );
  ws.close();
  return run;
}

async function relayRun(daemon: RelaydProcess, appToken: string, threads: number, pace: Pace): Promise<Run> {
  const ws = new WebSocket(`${daemon.wsUrl}/v1/connect`, { headers: { authorization: `Bearer ${appToken}` } });
  await new Promise((r) => ws.once('message', r));
  const run = await loop(
    threads,
    pace,
    ROUND_TRIPS,
    (id, thread) => ws.send(JSON.stringify({ type: 'event', ref: String(id), agent: 'bench-agent', thread: `t${thread}`, payload: { n: id } })),
    (answered) =>
      ws.on('message', (data) => {
        const frame = JSON.parse(data.toString()) as { type: string; ref: string; eventId: string };
        if (frame.type !== 'reply') return;
        ws.send(JSON.stringify({ type: 'ack', eventId: frame.eventId }));
        answered(Number(frame.ref));
      }),
  );
  ws.close();
  return run;
}

export async function benchRoundTrip(daemon: RelaydProcess): Promise<void> {
  heading(`Agent relay round trip: app → relayd → agent → relayd → app, ${ROUND_TRIPS} round trips after ${WARMUP} of warm-up`);
  const app = await daemon.admin<{ secret: string }>('POST', '/admin/v1/orgs/default/apps', { id: 'bench-relay', name: 'Bench' });
  const agent = await daemon.admin<{ secret: string }>('POST', '/admin/v1/orgs/default/agents', { id: 'bench-agent', name: 'Bench agent' });
  const echo = await nodeScript(ECHO);
  const agentProc = await nodeScript(AGENT, { URL: `${daemon.wsUrl}/v1/connect`, TOKEN: agent.body.secret });
  const compare = async (label: string, threads: number, pace: Pace): Promise<{ base: Run; relay: Run }> => {
    const base = await echoRun(`ws://127.0.0.1:${echo.line}`, threads, pace);
    const relay = await relayRun(daemon, app.body.secret, threads, pace);
    const [b50, b99, r50, r99] = [percentile(base.latencies, 50), percentile(base.latencies, 99), percentile(relay.latencies, 50), percentile(relay.latencies, 99)];
    process.stdout.write(`  ${label}:\n`);
    row('  bare ws echo (baseline) p50 / p99', `${fmt(b50, 2)} / ${fmt(b99, 2)} ms`);
    const goal = pace.kind === 'paced' || threads === 1 ? ' (goal: at most 1 ms)' : '';
    row('  relayd round trip p50 / p99', `${fmt(r50, 2)} / ${fmt(r99, 2)} ms`, `p50 overhead ${fmt(r50 - b50, 2)} ms${goal}, p99 ${fmt(r99 / b99, 1)}x`);
    return { base, relay };
  };
  try {
    await compare('1 thread, each event sent when the previous one is answered', 1, { kind: 'closed' });
    await compare(`100 concurrent threads, ${fmt(PACED_RATE, 0)} events/s in all`, 100, { kind: 'paced', perSecond: PACED_RATE });
    const { base, relay } = await compare('100 concurrent threads, saturated (each sends again as soon as answered: p50 ≈ 100 ÷ events/s)', 100, { kind: 'closed' });
    const baseRate = ROUND_TRIPS / base.seconds;
    const rate = ROUND_TRIPS / relay.seconds;
    row('  bare ws echo messages/s', `${fmt(baseRate, 0)} /s`);
    row('  relayd events/s, each stored and replied', `${fmt(rate, 0)} /s`, `${fmt((rate / baseRate) * 100, 0)} % of baseline`);
  } finally {
    echo.proc.kill();
    agentProc.proc.kill();
  }
  await crossNode();
}

/**
 * Two nodes on PostgreSQL + Redis: the app on node A with its agent on A (one node does all),
 * then with its agent on B (the event and the reply each cross the broker), at a paced load.
 */
async function crossNode(): Promise<void> {
  const missing = await unreachableService();
  if (missing) {
    row(`  across nodes: skipped: ${missing}`, '');
    return;
  }
  const db = await createTestDatabase();
  const redis = await createTestRedisPrefix();
  const masterKey = randomBytes(32).toString('base64');
  const nodes: Node[] = [];
  try {
    const a = await startNode(['--store', db.url, '--broker', redis.url, '--node-id', 'bench-a'], masterKey);
    nodes.push(a);
    const b = await startNode(['--store', db.url, '--broker', redis.url, '--node-id', 'bench-b'], masterKey);
    nodes.push(b);
    const app = await a.daemon.admin<{ secret: string }>('POST', '/admin/v1/orgs/default/apps', { id: 'bench-relay', name: 'Bench' });
    const agent = await a.daemon.admin<{ secret: string }>('POST', '/admin/v1/orgs/default/agents', { id: 'bench-agent', name: 'Bench agent' });
    const pace: Pace = { kind: 'paced', perSecond: CLUSTER_PACED_RATE };
    const runWithAgentOn = async (node: Node): Promise<Run> => {
      const agentProc = await nodeScript(AGENT, { URL: `${node.daemon.wsUrl}/v1/connect`, TOKEN: agent.body.secret });
      try {
        return await relayRun(a.daemon, app.body.secret, 100, pace);
      } finally {
        agentProc.proc.kill();
        await new Promise((resolve) => agentProc.proc.once('exit', resolve));
      }
    };
    const same = await runWithAgentOn(a);
    const cross = await runWithAgentOn(b);
    const [s50, s99, c50, c99] = [percentile(same.latencies, 50), percentile(same.latencies, 99), percentile(cross.latencies, 50), percentile(cross.latencies, 99)];
    process.stdout.write(`  Two nodes on PostgreSQL + Redis, app on node A, 100 concurrent threads, ${fmt(CLUSTER_PACED_RATE, 0)} events/s in all:
`);
    row('  agent on node A too (baseline) p50 / p99', `${fmt(s50, 2)} / ${fmt(s99, 2)} ms`);
    row('  agent on node B p50 / p99', `${fmt(c50, 2)} / ${fmt(c99, 2)} ms`, `p50 ${fmt(c50 - s50, 2)} ms above one node (goal: at most 2 ms), p99 ${fmt(c99 / s99, 1)}x`);
  } finally {
    for (const node of nodes) await stopNode(node);
    await db.drop();
    await redis.drop();
  }
}
