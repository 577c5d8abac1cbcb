import { beforeAll, describe, expect, it } from 'vitest';
import { RelayAgent, RelayApp } from '../../src/client/index.js';
import type { Analytics, AnalyticsPoint } from '../../src/shared/api.js';
import { relay } from '../helpers/cli.js';
import { startCluster } from '../helpers/cluster.js';
import { startSharedDaemon, type Daemon } from '../helpers/daemon.js';
import { channelName, collect, connected, registerChannelApp, subscribed, subscriberClient } from '../helpers/pusher.js';
import { servicesFor } from '../helpers/services.js';
import { relayOnTty } from '../helpers/tty.js';
import { startReceiver } from '../helpers/webhooks.js';
import { eventually } from '../helpers/ws.js';

/**
 * Usage analytics as an operator reads them: real traffic (the public API, pusher-js
 * subscribers, an app and an agent on the relay protocol) through the real relayd, read back
 * with `relay analytics` and the public API. Each test has its own app on one relayd.
 */

const clusterReady = await servicesFor(['postgres', 'redis'], 'the analytics cluster test (two relayd on PostgreSQL + Redis)');

let daemon: Daemon;
beforeAll(async () => {
  // Webhooks go to a receiver on 127.0.0.1, at once.
  daemon = await startSharedDaemon({ args: ['--webhook-allow-private', '--webhook-debounce', '0s'] });
});

const MINUTE = 60_000;

async function token(app: string, scopes: string[], on: Daemon = daemon): Promise<string> {
  const created = await relay(['tokens', 'create', '--app', app, '--name', `t-${scopes.join('-')}`, ...scopes.flatMap((s) => ['--scope', s]), '-q'], { daemon: on });
  expect(created.exitCode, created.stderr).toBe(0);
  return created.stdout.trim();
}

async function publish(on: Daemon, app: string, bearer: string, channel: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${on.url}/api/v1/apps/${app}/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'tick', channel, data: JSON.stringify({ i }) }),
    });
    expect(res.status).toBe(200);
  }
}

async function analytics(args: string[], on: Daemon = daemon): Promise<Analytics> {
  const result = await relay(['analytics', ...args, '--json'], { daemon: on });
  expect(result.exitCode, result.stderr).toBe(0);
  return result.json<{ analytics: Analytics }>().analytics;
}

const sum = (series: AnalyticsPoint[], metric: keyof AnalyticsPoint): number => series.reduce((total, p) => total + Number(p[metric] ?? 0), 0);

describe('usage analytics', () => {
  it('counts 50 publishes and a peak of 3 connections in the minutes they happened, and what was delivered', async () => {
    const app = await registerChannelApp(daemon, 'an-traffic');
    const bearer = await token(app.id, ['events:publish']);
    const name = channelName('ticks-');
    const clients = [subscriberClient(daemon, app), subscriberClient(daemon, app), subscriberClient(daemon, app)];
    await Promise.all(clients.map((c) => connected(c)));
    const allOpen = Date.now();
    const channel = await subscribed(clients[0] as (typeof clients)[number], name);
    const got = collect(channel, 'tick');
    await publish(daemon, app.id, bearer, name, 50);
    await eventually(async () => got.length === 50, 10_000, 'the subscriber to get all 50');
    for (const c of clients) c.disconnect();

    const read = await analytics(['--app', app.id, '--since', '15m', '--by', 'minute']);
    expect(read).toMatchObject({ org: 'default', app: app.id, by: 'minute' });
    expect(read.totals).toMatchObject({ published: 50, publishedApi: 50, publishedRest: 0, publishedClient: 0, delivered: 50, connectionsPeak: 3, channelsPeak: 1 });
    expect(sum(read.series, 'published')).toBe(50);
    expect(read.totals.bytesIn).toBeGreaterThan(0);
    expect(read.totals.bytesOut).toBeGreaterThan(0);
    // Every bucket of the range is there, each with every metric (fixed keys), one minute apart.
    // 15 minutes back from now: 16 buckets, or 15 when now is on the minute.
    expect([15, 16]).toContain(read.series.length);
    for (const point of read.series) expect(Object.keys(point).sort()).toEqual(['at', ...read.metrics].sort());
    expect(Date.parse((read.series[1] as AnalyticsPoint).at) - Date.parse((read.series[0] as AnalyticsPoint).at)).toBe(MINUTE);
    // The peak is in the minute the three were open together; no publish falls outside the test's minutes.
    const peakMinute = new Date(Math.floor(allOpen / MINUTE) * MINUTE).toISOString();
    expect(read.series.find((p) => p.at === peakMinute)?.connectionsPeak).toBe(3);
    const testStart = Math.floor(allOpen / MINUTE) * MINUTE;
    for (const p of read.series) if (Number(p.published) > 0) expect(Date.parse(p.at)).toBeGreaterThanOrEqual(testStart);

    // By hour (the default for a day) the same totals; --metric keeps only what is asked.
    const hourly = await analytics(['--app', app.id, '--metric', 'published', '--metric', 'connectionsPeak']);
    expect(hourly.by).toBe('hour');
    expect(hourly.metrics).toEqual(['published', 'connectionsPeak']);
    expect(hourly.totals).toEqual({ published: 50, connectionsPeak: 3 });
    expect(sum(hourly.series, 'published')).toBe(50);

    // On a terminal: the totals table, then a coloured chart per metric, as wide as the window.
    const tty = relayOnTty(['analytics', '--app', app.id, '--since', '30m', '--metric', 'published', '--metric', 'connectionsPeak'], { daemon, columns: 100 });
    expect(await tty.exited).toBe(0);
    const shown = tty.output();
    const plain = shown.replace(/\u001b\[[0-9;]*m/g, '');
    expect(plain).toMatch(/published\s+total 50/);
    expect(plain).toMatch(/connectionsPeak\s+peak 3/);
    expect(plain).toMatch(/50 ┤.*╭/);
    expect(shown).toMatch(/\u001b\[3\dm/);
    for (const line of plain.split(/\r?\n/)) expect(line.length).toBeLessThanOrEqual(100);
  });

  it("counts an app's agent events by outcome, with their latency", async () => {
    const appToken = (await relay(['apps', 'register', '--id', 'an-agents', '--name', 'Agents', '-q'], { daemon })).stdout.trim();
    const agentToken = (await relay(['agents', 'register', '--id', 'an-echo', '--name', 'Echo', '-q'], { daemon })).stdout.trim();
    const agent = new RelayAgent({ url: daemon.url, token: agentToken, handler: (event) => ({ echo: event.payload }) });
    const app = new RelayApp({ url: daemon.url, token: appToken });
    await Promise.all([agent.connect(), app.connect()]);
    try {
      for (let i = 0; i < 3; i++) expect(await app.send('an-echo', 'thread-1', { i })).toEqual({ echo: { i } });
      const refused = await app.send('no-such-agent', 'thread-1', {}).catch((err: unknown) => err);
      expect(refused).toMatchObject({ code: 'agent_not_found' });
    } finally {
      await Promise.all([app.close(), agent.close()]);
    }
    const read = await analytics(['--app', 'an-agents', '--since', '10m']);
    expect(read.totals).toMatchObject({ agentAccepted: 3, agentReplied: 3, agentFailed: 0, agentRejected: 1, connectionsPeak: 1 });
    expect(read.totals.agentLatencyP50).toEqual(expect.any(Number));
    expect(Number(read.totals.agentLatencyP99)).toBeGreaterThanOrEqual(Number(read.totals.agentLatencyP50));
  });

  it('counts webhook attempts the endpoint took and those it refused', async () => {
    const app = await registerChannelApp(daemon, 'an-hooks');
    const receiver = await startReceiver();
    receiver.queue = [500];
    const added = await relay(['webhooks', 'add', '--app', app.id, '--url', receiver.url, '--event', 'channel_occupied'], { daemon });
    expect(added.exitCode, added.stderr).toBe(0);
    const client = subscriberClient(daemon, app);
    await connected(client);
    await subscribed(client, channelName('hooked-'));
    // Refused once (500), then taken on the retry.
    await receiver.waitForRequests(2);
    const read = await eventually(
      async () => {
        const r = await analytics(['--app', app.id, '--since', '10m', '--metric', 'webhooksOk', '--metric', 'webhooksFailed']);
        return r.totals.webhooksOk === 1 && r;
      },
      10_000,
      'the second attempt to be counted',
    );
    expect(read.totals).toEqual({ webhooksOk: 1, webhooksFailed: 1 });
    client.disconnect();
  });

  it('the public API answers the same series to a token with analytics:read, and 403 to one without', async () => {
    const app = await registerChannelApp(daemon, 'an-public');
    const publisher = await token(app.id, ['events:publish']);
    const reader = await token(app.id, ['analytics:read']);
    await publish(daemon, app.id, publisher, channelName(), 7);
    const get = (bearer: string, query: string): Promise<Response> => fetch(`${daemon.url}/api/v1/apps/${app.id}/analytics${query}`, { headers: { authorization: `Bearer ${bearer}` } });

    const res = await get(reader, '?since=30m&by=minute&metrics=published,delivered');
    expect(res.status).toBe(200);
    const { analytics: body } = (await res.json()) as { analytics: Analytics };
    expect(body).toMatchObject({ app: app.id, by: 'minute', metrics: ['published', 'delivered'], totals: { published: 7, delivered: 0 } });
    expect([30, 31]).toContain(body.series.length);
    const cli = await analytics(['--app', app.id, '--since', body.since, '--until', body.until, '--by', 'minute', '--metric', 'published', '--metric', 'delivered']);
    expect(cli.series).toEqual(body.series);

    // A token over its rate limit: each 429 is counted for the app.
    const created = await relay(['tokens', 'create', '--app', app.id, '--name', 't-slow', '--scope', 'events:publish', '--rate-limit', '1/min,burst=1', '-q'], { daemon });
    const slow = created.stdout.trim();
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${daemon.url}/api/v1/apps/${app.id}/events`, { method: 'POST', headers: { authorization: `Bearer ${slow}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'tick', channel: 'slow', data: '{}' }) });
      statuses.push(res.status);
    }
    expect(statuses).toEqual([200, 429, 429]);
    const limited = (await (await get(reader, '?since=30m&metrics=published,rateLimited')).json()) as { analytics: Analytics };
    expect(limited.analytics.totals).toEqual({ published: 8, rateLimited: 2 });

    const refused = await get(publisher, '');
    expect(refused.status).toBe(403);
    expect(JSON.stringify(await refused.json())).toContain('analytics:read');
    // Bad queries are 400s that say what is wrong.
    for (const [query, words] of [
      ['?by=week', 'by'],
      ['?metrics=published,nope', 'unknown metric "nope"'],
      ['?since=yesterday', 'invalid since'],
      ['?since=1h&until=2h', 'must be before'],
      ['?since=30d&by=minute', 'at most 3000'],
    ] as const) {
      const bad = await get(reader, query);
      expect(bad.status, query).toBe(400);
      expect(((await bad.json()) as { error: { message: string } }).error.message, query).toContain(words);
    }
  });
});

describe.skipIf(!clusterReady)('usage analytics across nodes', () => {
  it('each node counts its own traffic and any node reads the sum', async () => {
    const { nodes } = await startCluster();
    const [a, b] = nodes as [Daemon, Daemon];
    const app = await registerChannelApp(a, 'an-cluster');
    const bearer = await token(app.id, ['events:publish'], a);
    await publish(a, app.id, bearer, channelName(), 4);
    await publish(b, app.id, bearer, channelName(), 6);
    // Node B's own counts are in at once; node A's within its flush interval (5 s).
    const read = await eventually(
      async () => {
        const r = await analytics(['--app', app.id, '--since', '10m'], b);
        return r.totals.published === 10 && r;
      },
      15_000,
      'both nodes to be counted',
    );
    expect(read.totals).toMatchObject({ published: 10, publishedApi: 10 });
  });
});
