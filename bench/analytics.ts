import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { spawnRelayd, type RelaydProcess } from './lib/relayd-process.js';
import { fmt, heading, medianRound, row } from './lib/report.js';
import { CONNECTIONS, DURATION_S, ROUNDS, WARMUP_S, load } from './publish.js';

/** Subscribers of the published channel on each relayd: every publish is also counted as deliveries. */
const SUBSCRIBERS = 10;

interface Target {
  daemon: RelaydProcess;
  url: string;
  token: string;
  sockets: WebSocket[];
}

async function target(daemon: RelaydProcess): Promise<Target> {
  await daemon.admin('POST', '/admin/v1/orgs/default/apps', { id: 'bench-usage', name: 'Bench usage' });
  const created = await daemon.admin<{ secret: string }>('POST', '/admin/v1/orgs/default/apps/bench-usage/tokens', { name: 'bench', scopes: ['events:publish'], rateLimit: '10000000/min,burst=10000000' });
  const { body: credentials } = await daemon.admin<{ key: string }>('GET', '/admin/v1/orgs/default/apps/bench-usage/credentials');
  const sockets = await Promise.all(
    Array.from({ length: SUBSCRIBERS }, async () => {
      const ws = new WebSocket(`${daemon.wsUrl}/app/${credentials.key}?protocol=7`);
      await new Promise<void>((resolve, reject) => {
        ws.on('error', reject);
        ws.on('message', (raw) => {
          const frame = JSON.parse(String(raw)) as { event: string };
          if (frame.event === 'pusher:connection_established') ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'orders' } }));
          if (frame.event === 'pusher_internal:subscription_succeeded') resolve();
        });
      });
      return ws;
    }),
  );
  return { daemon, url: `${daemon.url}/api/v1/apps/bench-usage/events`, token: created.body.secret, sockets };
}

/**
 * What counting usage costs a publish: the same publish, with 10 subscribers on its channel, to
 * a relayd that counts (the default) and to one started with `--analytics off`, in alternating
 * rounds (medians). Both run beside each other on this machine.
 */
export async function benchAnalytics(daemon: RelaydProcess): Promise<void> {
  const body = JSON.stringify({ name: 'order-placed', channel: 'orders', data: JSON.stringify({ id: 1, total: 99.5, note: 'x'.repeat(100) }) });
  heading(`Usage analytics: publish to a channel with ${SUBSCRIBERS} subscribers, relayd counting usage against one with --analytics off; ${CONNECTIONS} clients, ${ROUNDS} alternating rounds of ${DURATION_S} s (medians), ${body.length}-byte body`);
  const dataDir = mkdtempSync(join(tmpdir(), 'relay-bench-analytics-off-'));
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('RELAY_')));
  const off = await spawnRelayd(dataDir, ['--analytics', 'off'], env);
  try {
    const counting = await target(daemon);
    const baseline = await target(off);
    const run = (t: Target, seconds: number): ReturnType<typeof load> => load(t.url, { authorization: `Bearer ${t.token}` }, seconds, body);
    await run(baseline, WARMUP_S);
    await run(counting, WARMUP_S);
    const results = { off: [] as Awaited<ReturnType<typeof load>>[], on: [] as Awaited<ReturnType<typeof load>>[] };
    for (let round = 0; round < ROUNDS; round++) {
      results.off.push(await run(baseline, DURATION_S));
      results.on.push(await run(counting, DURATION_S));
    }
    const base = medianRound(results.off);
    const on = medianRound(results.on);
    row('publish, --analytics off (baseline)', `${fmt(base.rps, 0)} req/s`, `p99 ${base.p99} ms`);
    row('publish, counting usage (the default)', `${fmt(on.rps, 0)} req/s`, `${fmt(on.rps / base.rps, 3)}x of baseline (goal ≥ 0.95x), p99 ${on.p99} ms`);
    const failed = [...results.off, ...results.on].reduce((sum, r) => sum + r.non2xx, 0);
    if (failed > 0) row('  non-2xx answers or errors (should be 0)', String(failed));
    const read = await daemon.admin<{ analytics: { totals: { published: number; delivered: number } } }>('GET', '/admin/v1/orgs/default/analytics?app=bench-usage&since=10m&metrics=published,delivered');
    row('  counted by the analytics', `${read.body.analytics.totals.published} published`, `${read.body.analytics.totals.delivered} delivered`);
    for (const ws of [...counting.sockets, ...baseline.sockets]) ws.close();
  } finally {
    await off.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
