import type { MetricFamily } from 'parse-prometheus-text-format';
import { describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { startDaemon, startDaemonExpectingExit, type Daemon } from '../helpers/daemon.js';
import { parseMetrics, samples, valueOf } from '../helpers/metrics.js';
import { channelName, connected, next, registerChannelApp, subscribed, subscriberClient } from '../helpers/pusher.js';

/** The metrics URL from relayd's "relayd listening" line, or null when it has none. */
function metricsUrlOf(daemon: Daemon): string | null {
  for (const line of daemon.logs()) {
    try {
      const entry = JSON.parse(line) as { msg?: string; metricsUrl?: string };
      if (entry.msg === 'relayd listening') return entry.metricsUrl ?? null;
    } catch {
      // not a JSON line
    }
  }
  throw new Error('relayd logged no "relayd listening" line');
}

async function scrape(daemon: Daemon): Promise<MetricFamily[]> {
  const url = metricsUrlOf(daemon);
  if (url === null) throw new Error('relayd has no metrics listener');
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(await res.text());
}

async function apiToken(daemon: Daemon, app: string): Promise<string> {
  const created = await relay(['tokens', 'create', '--app', app, '--name', 'metrics', '-q'], { daemon });
  expect(created.exitCode, created.stderr).toBe(0);
  return created.stdout.trim();
}

async function publish(daemon: Daemon, app: string, token: string, channel: string, data: string): Promise<void> {
  const res = await fetch(`${daemon.url}/api/v1/apps/${app}/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'greeting', channel, data }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
}

describe('Prometheus metrics (--metrics-port)', () => {
  it('serve /metrics on a port of their own, with the node label and the process metrics, and nothing else', async () => {
    const daemon = await startDaemon({ args: ['--metrics-port', '0', '--node-id', 'metrics-node'] });
    const url = metricsUrlOf(daemon) as string;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(new URL(url).port).not.toBe(new URL(daemon.url).port);

    const families = await scrape(daemon);
    expect(samples(families, 'relay_subscriptions')).toEqual({ 'node=metrics-node': 0 });
    expect(samples(families, 'relay_broker_up')).toEqual({ 'node=metrics-node': 1 });
    for (const name of ['relay_process_cpu_seconds_total', 'relay_process_resident_memory_bytes']) {
      expect(valueOf(families, name, { node: 'metrics-node' }), name).toBeGreaterThan(0);
    }
    expect(Object.keys(samples(families, 'relay_nodejs_eventloop_lag_seconds'))).toEqual(['node=metrics-node']);
    expect((await fetch(url.replace(/\/metrics$/, '/'))).status).toBe(404);
    expect((await fetch(url, { method: 'POST' })).status).toBe(404);
    // The API's port has no metrics.
    expect((await fetch(`${daemon.url}/metrics`)).status).toBe(404);
    // The scrapes' keep-alive connections do not hold the shutdown up.
    expect(await daemon.stop()).toBe(0);
  });

  it('move with traffic: a subscriber on a channel, and a message published to it through the API', async () => {
    const daemon = await startDaemon({ args: ['--metrics-port', '0'] });
    const app = await registerChannelApp(daemon, 'metered');
    const token = await apiToken(daemon, 'metered');
    const before = await scrape(daemon);

    const client = subscriberClient(daemon, app);
    await connected(client);
    const channel = channelName('metrics-');
    const subscription = await subscribed(client, channel);
    const received = next<string>(subscription, 'greeting');
    await publish(daemon, 'metered', token, channel, 'hello');
    expect(await received).toBe('hello');

    const after = await scrape(daemon);
    const app_ = { app: 'metered' };
    const moved = (name: string, labels: Record<string, string> = {}): number => valueOf(after, name, labels) - valueOf(before, name, labels);
    expect(moved('relay_messages_published_total', { ...app_, source: 'api' })).toBe(1);
    expect(moved('relay_message_bytes_total', { ...app_, direction: 'in' })).toBeGreaterThan(0);
    expect(moved('relay_messages_delivered_total', app_)).toBe(1);
    expect(moved('relay_message_bytes_total', { ...app_, direction: 'out' })).toBeGreaterThan(0);
    expect(valueOf(after, 'relay_connections', { ...app_, kind: 'pusher' })).toBe(1);
    expect(valueOf(after, 'relay_channels_occupied', app_)).toBe(1);
    expect(valueOf(after, 'relay_subscriptions')).toBe(1);
    // The publication was written to history first, in a group commit.
    expect(moved('relay_store_write_batch_size_count')).toBeGreaterThanOrEqual(1);
    expect(moved('relay_store_write_batch_duration_seconds_sum')).toBeGreaterThan(0);

    client.disconnect();
    // Gauges come back down once the socket's leave is done; scrape until they do (a real wait, bounded by the test's timeout).
    let last = after;
    while (valueOf(last, 'relay_connections', { ...app_, kind: 'pusher' }) !== 0 || valueOf(last, 'relay_subscriptions') !== 0) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      last = await scrape(daemon);
    }
    expect(valueOf(last, 'relay_channels_occupied', app_)).toBe(0);
  });

  it('name at most --metrics-max-apps apps; the others count as _other, with a warning logged once', async () => {
    // With analytics off, too: Prometheus listens to usage on its own.
    const daemon = await startDaemon({ args: ['--metrics-port', '0', '--metrics-max-apps', '2', '--analytics', 'off'] });
    for (const id of ['app-one', 'app-two', 'app-three']) {
      await registerChannelApp(daemon, id);
      const token = await apiToken(daemon, id);
      await publish(daemon, id, token, 'news', 'x');
      await publish(daemon, id, token, 'news', 'y');
    }
    const published = samples(await scrape(daemon), 'relay_messages_published_total');
    const apps = Object.keys(published).map((key) => /(?:^|,)app=([^,]+)/.exec(key)?.[1]);
    expect(new Set(apps).size).toBe(3);
    expect(apps).toContain('_other');
    expect(apps.filter((a) => a !== '_other')).toHaveLength(2);
    expect(Object.values(published).reduce((a, b) => a + b, 0)).toBe(6);
    expect(daemon.logs().filter((line) => line.includes('--metrics-max-apps'))).toHaveLength(1);
  });

  it('are off by default: no metrics URL, and no /metrics on the API port', async () => {
    const daemon = await startDaemon();
    expect(metricsUrlOf(daemon)).toBeNull();
    expect((await fetch(`${daemon.url}/metrics`)).status).toBe(404);
  });

  it('refuse a port that is not one, and the API\'s own port', async () => {
    const bad = await startDaemonExpectingExit({ args: ['--metrics-port', 'nine'] });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/--metrics-port \/ RELAY_METRICS_PORT: invalid port "nine"/);
    const same = await startDaemonExpectingExit({ args: ['--port', '7499'], env: { RELAY_METRICS_PORT: '7499' } });
    expect(same.exitCode).toBe(2);
    expect(same.stderr).toMatch(/7499 is relayd's --port too/);
  });
});
