import { createRequire } from 'node:module';
import WebSocket from 'ws';
import type { RelaydProcess } from './lib/relayd-process.js';
import { nodeScript } from './lib/baseline.js';
import { fmt, heading, percentile, row } from './lib/report.js';

const require = createRequire(import.meta.url);
const WS = JSON.stringify(require.resolve('ws'));
const ROUND_TRIPS = 6000;
const WARMUP = 500;

/** The baseline: a bare `ws` server in its own process that sends every message back. */
const ECHO = `
  const { WebSocketServer } = require(${WS});
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(data, { binary: false })));
  wss.on('listening', () => console.log(wss.address().port));
`;

/** The agent, in its own process as a real one would be: replies to each event at once. */
const AGENT = `
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

/**
 * `threads` loops, each sending one message and waiting for its answer before the next (as
 * the events of one thread go), until `total` round trips are done. `send(id)` sends the
 * message `id`; `answered(id)` must be called when its answer comes.
 */
async function loop(threads: number, total: number, send: (id: number, thread: number) => void, setAnswer: (fn: (id: number) => void) => void): Promise<Run> {
  const latencies: number[] = [];
  const started = new Map<number, { at: bigint; thread: number }>();
  let next = 0;
  let done = 0;
  const t0 = process.hrtime.bigint();
  return new Promise((resolve) => {
    const fire = (thread: number): void => {
      const id = next++;
      started.set(id, { at: process.hrtime.bigint(), thread });
      send(id, thread);
    };
    setAnswer((id) => {
      const s = started.get(id);
      if (!s) return;
      started.delete(id);
      done++;
      if (done > WARMUP) latencies.push(Number(process.hrtime.bigint() - s.at) / 1e6);
      if (next < total + WARMUP) fire(s.thread);
      else if (started.size === 0) resolve({ latencies, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
    });
    for (let t = 0; t < threads; t++) fire(t);
  });
}

async function echoRun(url: string, threads: number): Promise<Run> {
  const ws = new WebSocket(url);
  await new Promise((r) => ws.once('open', r));
  const run = await loop(
    threads,
    ROUND_TRIPS,
    (id, thread) => ws.send(JSON.stringify({ type: 'event', ref: String(id), agent: 'bench-agent', thread: `t${thread}`, payload: { n: id } })),
    (answered) => ws.on('message', (data) => answered(Number((JSON.parse(data.toString()) as { ref: string }).ref))),
  );
  ws.close();
  return run;
}

async function relayRun(daemon: RelaydProcess, appToken: string, threads: number): Promise<Run> {
  const ws = new WebSocket(`${daemon.wsUrl}/v1/connect`, { headers: { authorization: `Bearer ${appToken}` } });
  await new Promise((r) => ws.once('message', r));
  const run = await loop(
    threads,
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
  try {
    for (const threads of [1, 100]) {
      const base = await echoRun(`ws://127.0.0.1:${echo.line}`, threads);
      const relay = await relayRun(daemon, app.body.secret, threads);
      const [b50, b99, r50, r99] = [percentile(base.latencies, 50), percentile(base.latencies, 99), percentile(relay.latencies, 50), percentile(relay.latencies, 99)];
      process.stdout.write(`  ${threads} concurrent thread${threads === 1 ? '' : 's'}:\n`);
      row('  bare ws echo (baseline) p50 / p99', `${fmt(b50, 2)} / ${fmt(b99, 2)} ms`);
      row('  relayd round trip p50 / p99', `${fmt(r50, 2)} / ${fmt(r99, 2)} ms`, `p50 overhead ${fmt(r50 - b50, 2)} ms (goal: at most 1 ms), p99 ${fmt(r99 / b99, 1)}x`);
      if (threads === 100) {
        const baseRate = ROUND_TRIPS / base.seconds;
        const rate = ROUND_TRIPS / relay.seconds;
        row('  bare ws echo messages/s', `${fmt(baseRate, 0)} /s`);
        row('  relayd events/s, each stored and replied', `${fmt(rate, 0)} /s`, `${fmt((rate / baseRate) * 100, 0)} % of baseline`);
      }
    }
  } finally {
    echo.proc.kill();
    agentProc.proc.kill();
  }
}
