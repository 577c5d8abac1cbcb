import autocannon from 'autocannon';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { spawnRelayd, type RelaydProcess } from './lib/relayd-process.js';
import { nodeScript } from './lib/baseline.js';
import { fmt, heading, percentile, row } from './lib/report.js';

const require = createRequire(import.meta.url);
const WS = JSON.stringify(require.resolve('ws'));
const SUBSCRIBERS = [1, 100, 1000];
const PUBLISHERS = 8;
const DURATION_S = 4;
const LATENCY_SUBSCRIBERS = 100;
const LATENCY_PUBLISHES = 500;
const WARMUP = 50;
const IDLE = 2000;
const NOTE = 'x'.repeat(100);

/**
 * The baseline: a bare `ws` server in its own process. It greets and confirms any subscribe
 * as relayd does; POST /publish parses the same JSON body, encodes one Pusher frame and sends
 * that buffer to every client: a minimal broadcaster, with no auth, validation, persistence
 * or channel routing.
 */
const BARE = `
  const http = require('node:http');
  const { WebSocketServer } = require(${WS});
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const frame = Buffer.from(JSON.stringify({ event: body.name, channel: body.channel, data: body.data }));
      for (const ws of wss.clients) ws.send(frame, { binary: false });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
      res.end('{}');
    });
  });
  const wss = new WebSocketServer({ server });
  let n = 0;
  wss.on('connection', (ws) => {
    ws.send(JSON.stringify({ event: 'pusher:connection_established', data: JSON.stringify({ socket_id: '1.' + n++, activity_timeout: 120 }) }));
    ws.on('message', (raw) => {
      const frame = JSON.parse(raw.toString());
      ws.send(JSON.stringify({ event: 'pusher_internal:subscription_succeeded', channel: frame.data.channel, data: '{}' }));
    });
  });
  server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

export interface Target {
  name: string;
  wsUrl: string;
  publishUrl: string;
  headers: Record<string, string>;
  pid: number;
}

export interface Farm {
  delivered: number;
  /** Called with every delivered frame when set; left unset while measuring throughput, so that the farm spends its time receiving. */
  onDelivery: ((raw: WebSocket.RawData) => void) | undefined;
  close(): Promise<void>;
}

/** Opens `n` Pusher-protocol subscribers of `channel`, 100 handshakes at a time, and waits until each has its subscription confirmed. */
export async function subscribe(target: Target, n: number, channel: string): Promise<Farm> {
  const sockets: WebSocket[] = [];
  const farm: Farm = {
    delivered: 0,
    onDelivery: undefined,
    close: async () => {
      await Promise.all(
        sockets.map((ws) => new Promise<void>((resolve) => (ws.readyState === ws.CLOSED ? resolve() : (ws.once('close', () => resolve()), ws.terminate())))),
      );
    },
  };
  for (let start = 0; start < n; start += 100) {
    await Promise.all(
      Array.from(
        { length: Math.min(100, n - start) },
        () =>
          new Promise<void>((resolve, reject) => {
            const ws = new WebSocket(target.wsUrl);
            sockets.push(ws);
            let subscribed = false;
            ws.once('error', reject);
            ws.once('unexpected-response', (_req, res) => reject(new Error(`${target.name}: handshake refused: ${res.statusCode}`)));
            ws.once('close', (code) => subscribed || reject(new Error(`${target.name}: closed ${code} before subscribing`)));
            ws.on('message', (raw) => {
              if (subscribed) {
                farm.delivered++;
                farm.onDelivery?.(raw);
                return;
              }
              const frame = JSON.parse(raw.toString()) as { event: string };
              if (frame.event === 'pusher:connection_established') ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel } }));
              else if (frame.event === 'pusher_internal:subscription_succeeded') {
                subscribed = true;
                resolve();
              } else reject(new Error(`${target.name}: ${raw.toString()}`));
            });
          }),
      ),
    );
  }
  return farm;
}

/** utime + stime of a process, in seconds. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}

/** The soft limit on open files of this process (the daemons it spawns inherit it). */
export function openFilesLimit(): number {
  const soft = /Max open files\s+(\S+)/.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
  return soft === undefined || soft === 'unlimited' ? Infinity : Number(soft);
}

const settle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface Throughput {
  perSecond: number;
  /** Share of one core the server used while it fanned out. */
  cpu: number;
  errors: number;
}

/** `PUBLISHERS` keep-alive clients publishing to `channel` as fast as they are answered for `DURATION_S`; deliveries counted on the farm. */
export async function fanOut(target: Target, farm: Farm, channel: string): Promise<Throughput> {
  const before = farm.delivered;
  const cpuBefore = cpuSeconds(target.pid);
  const started = performance.now();
  const result = await autocannon({
    url: target.publishUrl,
    method: 'POST',
    connections: PUBLISHERS,
    duration: DURATION_S,
    headers: { 'content-type': 'application/json', ...target.headers },
    body: JSON.stringify({ name: 'tick', channel, data: JSON.stringify({ t: 0, note: NOTE }) }),
  });
  const seconds = (performance.now() - started) / 1000;
  return {
    perSecond: (farm.delivered - before) / seconds,
    cpu: (cpuSeconds(target.pid) - cpuBefore) / seconds,
    errors: result.non2xx + result.errors,
  };
}

/**
 * One publish at a time, each stamped with its send time, the next sent once every
 * subscriber has it and the publish is answered: time from sending the request to each
 * subscriber's receipt, over all deliveries (so the p99 is the tail of the fan-out).
 */
async function latencies(target: Target, farm: Farm, channel: string, subscribers: number): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const url = new URL(target.publishUrl);
  const samples: number[] = [];
  let waiting: (() => void) | undefined;
  let received = 0;
  farm.onDelivery = (raw) => {
    const sent = Number((JSON.parse((JSON.parse(raw.toString()) as { data: string }).data) as { t: number }).t);
    samples.push(performance.now() - sent);
    if (++received === subscribers) waiting?.();
  };
  try {
    for (let i = 0; i < LATENCY_PUBLISHES + WARMUP; i++) {
      if (i === WARMUP) samples.length = 0;
      received = 0;
      const delivered = new Promise<void>((resolve) => (waiting = resolve));
      const body = JSON.stringify({ name: 'tick', channel, data: JSON.stringify({ t: performance.now(), note: NOTE }) });
      const answered = new Promise<void>((resolve, reject) => {
        const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...target.headers } }, (res) => {
          res.resume();
          res.once('end', () => (res.statusCode && res.statusCode < 300 ? resolve() : reject(new Error(`${target.name}: publish answered ${res.statusCode}`))));
        });
        req.once('error', reject);
        req.end(body);
      });
      await Promise.all([answered, delivered]);
    }
  } finally {
    farm.onDelivery = undefined;
    agent.destroy();
  }
  return samples;
}

/** Resident memory each idle, subscribed connection adds to the server process, after a warm-up so that lazily compiled code isn't counted. */
async function memoryPerSubscriber(target: Target): Promise<number> {
  const warm = await subscribe(target, 100, 'bench-idle-warmup');
  await warm.close();
  await settle(1000);
  const before = rssKb(target.pid);
  const farm = await subscribe(target, IDLE, 'bench-idle');
  await settle(1500);
  const after = rssKb(target.pid);
  await farm.close();
  return ((after - before) * 1024) / IDLE;
}

async function startBare(): Promise<{ target: Target; proc: ChildProcess }> {
  const { line: port, proc } = await nodeScript(BARE);
  return {
    proc,
    target: { name: 'bare', wsUrl: `ws://127.0.0.1:${port}/app?protocol=7`, publishUrl: `http://127.0.0.1:${port}/publish`, headers: {}, pid: proc.pid as number },
  };
}

/** Registers an app with a publish token whose rate limit doesn't bind; the relayd target for its channel key. */
export async function relaydTarget(daemon: RelaydProcess, appId: string): Promise<Target> {
  await daemon.admin('POST', '/admin/v1/orgs/default/apps', { id: appId, name: 'Bench' });
  const token = await daemon.admin<{ secret: string }>('POST', `/admin/v1/orgs/default/apps/${appId}/tokens`, {
    name: 'bench',
    scopes: ['events:publish'],
    rateLimit: '10000000/min,burst=10000000',
  });
  const { body: credentials } = await daemon.admin<{ key: string }>('GET', `/admin/v1/orgs/default/apps/${appId}/credentials`);
  return {
    name: 'relayd',
    wsUrl: `${daemon.wsUrl}/app/${credentials.key}?protocol=7`,
    publishUrl: `${daemon.url}/api/v1/apps/${appId}/events`,
    headers: { authorization: `Bearer ${token.body.secret}` },
    pid: daemon.process.pid as number,
  };
}

const plural = (n: number): string => `${n} subscriber${n === 1 ? '' : 's'}`;

/** Fan-out from a publish to 1, 100 and 1000 subscribers, publish → receive latency, and memory per idle subscriber, each beside a bare `ws` broadcaster. */
export async function benchFanout(daemon: RelaydProcess): Promise<void> {
  const limit = openFilesLimit();
  const relayd = await relaydTarget(daemon, 'bench-fanout');
  const bare = await startBare();
  try {
    heading(`Fan-out: ${PUBLISHERS} keep-alive publishers for ${DURATION_S} s to one channel, frames delivered per second to the subscribers`);
    for (const n of SUBSCRIBERS) {
      if (limit < n + 200) {
        row(`  ${plural(n)}: skipped, open files limit too low`, `${limit}`, `needs ${n + 200}; run with \`ulimit -n 4096\``);
        continue;
      }
      const results: Throughput[] = [];
      for (const target of [bare.target, relayd]) {
        const channel = `bench-fanout-${n}`;
        const farm = await subscribe(target, n, channel);
        results.push(await fanOut(target, farm, channel));
        await farm.close();
      }
      const [b, r] = results as [Throughput, Throughput];
      process.stdout.write(`  ${plural(n)}:\n`);
      row('  bare ws broadcast (baseline)', `${fmt(b.perSecond, 0)} msg/s`, `server CPU ${fmt(b.cpu * 100, 0)} %`);
      row('  relayd', `${fmt(r.perSecond, 0)} msg/s`, `${fmt((r.perSecond / b.perSecond) * 100, 0)} % of baseline${n === 1000 ? ' (goal ≥ 70 %)' : ''}, server CPU ${fmt(r.cpu * 100, 0)} %`);
      if (r.errors + b.errors > 0) row('  non-2xx answers or errors (should be 0)', String(r.errors + b.errors));
    }

    heading(`Publish → receive latency: ${LATENCY_SUBSCRIBERS} subscribers, ${LATENCY_PUBLISHES} publishes one at a time after ${WARMUP} of warm-up`);
    const measured: number[][] = [];
    for (const target of [bare.target, relayd]) {
      const farm = await subscribe(target, LATENCY_SUBSCRIBERS, 'bench-latency');
      measured.push(await latencies(target, farm, 'bench-latency', LATENCY_SUBSCRIBERS));
      await farm.close();
    }
    const [b50, b99, r50, r99] = [percentile(measured[0]!, 50), percentile(measured[0]!, 99), percentile(measured[1]!, 50), percentile(measured[1]!, 99)];
    row('bare ws broadcast (baseline) p50 / p99', `${fmt(b50, 2)} / ${fmt(b99, 2)} ms`);
    row('relayd, Bearer-token publish p50 / p99', `${fmt(r50, 2)} / ${fmt(r99, 2)} ms`, `p50 overhead ${fmt(r50 - b50, 2)} ms, p99 ${fmt(r99 / b99, 1)}x`);
  } finally {
    bare.proc.kill();
  }

  heading(`Memory: resident bytes per idle subscribed connection (${IDLE} connections, fresh processes)`);
  // Bench sockets and the server's both count against the limit relayd inherits from this process.
  if (limit < IDLE + 500) {
    row('skipped, open files limit too low', `${limit}`, `needs ${IDLE + 500}; run with \`ulimit -n 4096\``);
    return;
  }
  // Fresh processes on both sides: a heap grown and freed by the runs above would absorb new connections without growing.
  const freshBare = await startBare();
  const dataDir = mkdtempSync(join(tmpdir(), 'relay-bench-memory-'));
  const fresh = await spawnRelayd(dataDir, [], Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('RELAY_'))));
  try {
    const bareBytes = await memoryPerSubscriber(freshBare.target);
    row('bare ws server (baseline)', `${fmt(bareBytes / 1024, 1)} KiB`);
    const relaydBytes = await memoryPerSubscriber(await relaydTarget(fresh, 'bench-memory'));
    row('relayd', `${fmt(relaydBytes / 1024, 1)} KiB`, `${fmt(relaydBytes / bareBytes, 2)}x the baseline (goal ≤ 1.5x)`);
  } finally {
    freshBare.proc.kill();
    await fresh.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
