import autocannon from 'autocannon';
import type { RelaydProcess } from './lib/relayd-process.js';
import { nodeScript } from './lib/baseline.js';
import { fmt, heading, medianRound, row } from './lib/report.js';

export const CONNECTIONS = 50;
/** Rounds alternate between the baseline and relayd, and each figure is the median of its rounds: a shared machine's drift hits both alike. */
export const ROUNDS = 5;
export const DURATION_S = 4;
/** Each server is loaded this long first, uncounted: both are measured warm (JIT-compiled, buffers and SQLite pages grown). */
export const WARMUP_S = 2;
const BODY = JSON.stringify({ name: 'order-shipped', channels: ['orders', 'orders-eu'], data: JSON.stringify({ id: 12345, items: 3, note: 'x'.repeat(200) }) });

/** A bare node `http` server in its own process that reads and parses the same JSON body. */
async function startBareHttp(): Promise<{ url: string; stop(): void }> {
  const script = `
    const http = require('node:http');
    let n = 0;
    const server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        const answer = JSON.stringify({ id: 'evt_' + (n++) + body.name.length });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) });
        res.end(answer);
      });
    });
    server.listen(0, '127.0.0.1', () => console.log(server.address().port));
  `;
  const { line: port, proc } = await nodeScript(script);
  return { url: `http://127.0.0.1:${port}`, stop: () => proc.kill() };
}

export async function load(url: string, headers: Record<string, string>, duration = DURATION_S, body = BODY): Promise<{ rps: number; non2xx: number; p99: number }> {
  const result = await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration,
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { rps: result.requests.average, non2xx: result.non2xx + result.errors, p99: result.latency.p99 };
}

/** Publish requests/s through the whole path (token, scope, rate limit, validation, group-committed persistence) beside bare http. */
export async function benchPublish(daemon: RelaydProcess): Promise<void> {
  heading(`Publish: ${CONNECTIONS} concurrent keep-alive clients, ${ROUNDS} alternating rounds of ${DURATION_S} s each after ${WARMUP_S} s of warm-up (medians), ${BODY.length}-byte body`);
  await daemon.admin('POST', '/admin/v1/orgs/default/apps', { id: 'bench-publish', name: 'Bench' });
  const created = await daemon.admin<{ secret: string }>('POST', '/admin/v1/orgs/default/apps/bench-publish/tokens', {
    name: 'bench',
    scopes: ['events:publish'],
    rateLimit: '10000000/min,burst=10000000',
  });

  const bare = await startBareHttp();
  const baseRounds: Awaited<ReturnType<typeof load>>[] = [];
  const relaydRounds: Awaited<ReturnType<typeof load>>[] = [];
  const publishUrl = `${daemon.url}/api/v1/apps/bench-publish/events`;
  const auth = { authorization: `Bearer ${created.body.secret}` };
  try {
    await load(`${bare.url}/`, {}, WARMUP_S);
    await load(publishUrl, auth, WARMUP_S);
    for (let round = 0; round < ROUNDS; round++) {
      baseRounds.push(await load(`${bare.url}/`, {}));
      relaydRounds.push(await load(publishUrl, auth));
    }
  } finally {
    bare.stop();
  }
  const baseline = medianRound(baseRounds);
  const relayd = medianRound(relaydRounds);
  row('bare node http, JSON.parse (baseline)', `${fmt(baseline.rps, 0)} req/s`, `p99 ${baseline.p99} ms`);
  row('relayd POST /api/v1/apps/{id}/events', `${fmt(relayd.rps, 0)} req/s`, `${fmt((relayd.rps / baseline.rps) * 100, 0)} % of baseline (goal ≥ 50 %), p99 ${relayd.p99} ms`);
  const failed = relaydRounds.reduce((sum, r) => sum + r.non2xx, 0);
  if (failed > 0) row('  non-2xx answers or errors (should be 0)', String(failed));
}
