import autocannon from 'autocannon';
import { createServer, type Server } from 'node:net';
import WebSocket from 'ws';
import type { RelaydProcess } from './lib/relayd-process.js';
import { fmt, heading, medianRound, row } from './lib/report.js';

const CONNECTIONS = 50;
const ROUNDS = 3;
const DURATION_S = 4;
const BODY = JSON.stringify({ name: 'order-shipped', channel: 'orders', data: JSON.stringify({ id: 12345, note: 'x'.repeat(200) }) });

/** An endpoint that accepts connections and never answers: every attempt waits out relayd's timeout. */
async function deadEndpoint(): Promise<{ url: string; server: Server }> {
  const server = createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/hooks`, server };
}

/**
 * Raises webhook events all through the measurement: a subscriber that keeps joining and
 * leaving channels (channel_occupied, subscription_count, channel_vacated), as a busy app's
 * browsers do. Returns how many cycles it made.
 */
function churn(daemon: RelaydProcess, key: string): { stop(): Promise<number> } {
  const ws = new WebSocket(`${daemon.wsUrl}/app/${key}?protocol=7`);
  let cycles = 0;
  let running = true;
  let n = 0;
  ws.on('message', (raw) => {
    const frame = JSON.parse(raw.toString()) as { event: string; channel?: string };
    if (frame.event === 'pusher_internal:subscription_succeeded' && frame.channel) {
      ws.send(JSON.stringify({ event: 'pusher:unsubscribe', data: { channel: frame.channel } }));
      cycles++;
      if (running) setTimeout(next, 5);
    } else if (frame.event === 'pusher:connection_established') next();
  });
  function next(): void {
    if (running && ws.readyState === ws.OPEN) ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: `churn-${n++}` } }));
  }
  return {
    stop: async () => {
      running = false;
      ws.close();
      return cycles;
    },
  };
}

async function setUp(daemon: RelaydProcess, app: string): Promise<{ token: string; key: string }> {
  await daemon.admin('POST', '/admin/v1/orgs/default/apps', { id: app, name: 'Bench' });
  const token = await daemon.admin<{ secret: string }>('POST', `/admin/v1/orgs/default/apps/${app}/tokens`, {
    name: 'bench',
    scopes: ['events:publish'],
    rateLimit: '10000000/min,burst=10000000',
  });
  const credentials = await daemon.admin<{ key: string }>('GET', `/admin/v1/orgs/default/apps/${app}/credentials`);
  return { token: token.body.secret, key: credentials.body.key };
}

async function measure(daemon: RelaydProcess, app: string, token: string, key: string): Promise<{ rps: number; non2xx: number; p99: number; cycles: number }> {
  const events = churn(daemon, key);
  const result = await autocannon({
    url: `${daemon.url}/api/v1/apps/${app}/events`,
    method: 'POST',
    connections: CONNECTIONS,
    duration: DURATION_S,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: BODY,
  });
  const cycles = await events.stop();
  return { rps: result.requests.average, non2xx: result.non2xx + result.errors, p99: result.latency.p99, cycles };
}

/** Publish throughput while webhook events pile up for an endpoint that never answers, beside the same load with no webhook. */
export async function benchWebhooks(daemon: RelaydProcess): Promise<void> {
  heading(`Webhooks: publish with ${CONNECTIONS} clients while a subscriber churns channels, without and with a dead webhook endpoint, ${ROUNDS} alternating rounds of ${DURATION_S} s (medians)`);
  const without = await setUp(daemon, 'bench-hooks-off');
  const withHook = await setUp(daemon, 'bench-hooks-on');
  const dead = await deadEndpoint();
  const added = await daemon.admin<{ webhook: { id: string } }>('POST', '/admin/v1/orgs/default/apps/bench-hooks-on/webhooks', { url: dead.url });

  const baseRounds: Awaited<ReturnType<typeof measure>>[] = [];
  const hookedRounds: Awaited<ReturnType<typeof measure>>[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    baseRounds.push(await measure(daemon, 'bench-hooks-off', without.token, without.key));
    hookedRounds.push(await measure(daemon, 'bench-hooks-on', withHook.token, withHook.key));
  }
  const baseline = medianRound(baseRounds);
  const hooked = medianRound(hookedRounds);
  row('no webhook (baseline)', `${fmt(baseline.rps, 0)} req/s`, `p99 ${baseline.p99} ms, ${baseline.cycles} subscribe/unsubscribe cycles`);
  row('webhook endpoint that never answers', `${fmt(hooked.rps, 0)} req/s`, `${fmt((hooked.rps / baseline.rps) * 100, 0)} % of baseline (goal ≥ 90 %), p99 ${hooked.p99} ms, ${hooked.cycles} cycles`);
  const deliveries = await daemon.admin<{ deliveries: { status: string; attempts: unknown[] }[] }>('GET', `/admin/v1/webhooks/${added.body.webhook.id}/deliveries?limit=1000`);
  const pending = deliveries.body.deliveries.filter((d) => d.status === 'pending').length;
  row('  deliveries stored for the dead endpoint', String(deliveries.body.deliveries.length), `${pending} pending, being retried`);
  const failed = [...baseRounds, ...hookedRounds].reduce((sum, r) => sum + r.non2xx, 0);
  if (failed > 0) row('  non-2xx answers or errors (should be 0)', String(failed));

  await daemon.admin('DELETE', `/admin/v1/webhooks/${added.body.webhook.id}`);
  dead.server.close();
}
