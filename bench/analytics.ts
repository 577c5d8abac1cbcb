import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { AnalyticsService } from '../daemon/core/analytics.js';
import { systemClock } from '../daemon/core/clock.js';
import type { Store } from '../daemon/store/store.js';
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
 * a relayd that counts (the default), to one started with `--analytics off`, and to one that
 * serves Prometheus metrics too, in alternating rounds (medians). Both run beside each other on this machine.
 */
export async function benchAnalytics(daemon: RelaydProcess): Promise<void> {
  const body = JSON.stringify({ name: 'order-placed', channel: 'orders', data: JSON.stringify({ id: 1, total: 99.5, note: 'x'.repeat(100) }) });
  heading(`Usage analytics: publish to a channel with ${SUBSCRIBERS} subscribers, relayd counting usage (and serving Prometheus metrics) against one with --analytics off; ${CONNECTIONS} clients, ${ROUNDS} alternating rounds of ${DURATION_S} s (medians), ${body.length}-byte body`);
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('RELAY_')));
  const offDir = mkdtempSync(join(tmpdir(), 'relay-bench-analytics-off-'));
  const metricsDir = mkdtempSync(join(tmpdir(), 'relay-bench-analytics-metrics-'));
  const off = await spawnRelayd(offDir, ['--analytics', 'off'], env);
  const withMetrics = await spawnRelayd(metricsDir, ['--metrics-port', '0'], env);
  try {
    const targets = { off: await target(off), on: await target(daemon), metrics: await target(withMetrics) };
    const kinds = ['off', 'on', 'metrics'] as const;
    const run = (t: Target, seconds: number): ReturnType<typeof load> => load(t.url, { authorization: `Bearer ${t.token}` }, seconds, body);
    for (const kind of kinds) await run(targets[kind], WARMUP_S);
    const results: Record<(typeof kinds)[number], Awaited<ReturnType<typeof load>>[]> = { off: [], on: [], metrics: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const kind of kinds) results[kind].push(await run(targets[kind], DURATION_S));
    }
    const base = medianRound(results.off);
    const on = medianRound(results.on);
    const both = medianRound(results.metrics);
    row('publish, --analytics off (baseline)', `${fmt(base.rps, 0)} req/s`, `p99 ${base.p99} ms`);
    row('publish, counting usage (the default)', `${fmt(on.rps, 0)} req/s`, `${fmt(on.rps / base.rps, 3)}x of baseline (goal ≥ 0.95x), p99 ${on.p99} ms`);
    row('publish, usage and Prometheus (--metrics-port)', `${fmt(both.rps, 0)} req/s`, `${fmt(both.rps / base.rps, 3)}x of baseline, p99 ${both.p99} ms`);
    const failed = kinds.flatMap((k) => results[k]).reduce((sum, r) => sum + r.non2xx, 0);
    if (failed > 0) row('  non-2xx answers or errors (should be 0)', String(failed));
    // The counting alone, in this process: what one publish (and its deliveries) adds. It is never
    // started, so it never flushes and needs no store.
    const counter = new AnalyticsService({ store: undefined as unknown as Store, clock: systemClock, nodeId: 'bench', flushMs: 60_000, retentionMs: 86_400_000, enabled: true, onError: () => undefined });
    const calls = 1_000_000;
    const started = performance.now();
    for (let i = 0; i < calls; i++) {
      counter.published('default', `app-${i % 100}`, 'api', 1, 191);
      counter.delivered('default', `app-${i % 100}`, SUBSCRIBERS, 1910);
    }
    const perPublishUs = ((performance.now() - started) * 1000) / calls;
    row('  counting one publish and its deliveries', `${fmt(perPublishUs * 1000, 0)} ns`, `${fmt((perPublishUs * base.rps) / 10_000, 3)}% of a core at the baseline's rate`);
    const read = await daemon.admin<{ analytics: { totals: { published: number; delivered: number } } }>('GET', '/admin/v1/orgs/default/analytics?app=bench-usage&since=10m&metrics=published,delivered');
    row('  counted by the analytics', `${read.body.analytics.totals.published} published`, `${read.body.analytics.totals.delivered} delivered`);
    for (const kind of kinds) for (const ws of targets[kind].sockets) ws.close();
  } finally {
    await Promise.all([off.stop(), withMetrics.stop()]);
    for (const dir of [offDir, metricsDir]) rmSync(dir, { recursive: true, force: true });
  }
}
