import { afterEach, describe, expect, it } from 'vitest';
import type { AnalyticsEnvelope } from '../../src/shared/api.js';
import { relay } from '../helpers/cli.js';
import { deadUrl, startDaemon, type Daemon } from '../helpers/daemon.js';

/**
 * `relay analytics` as a user runs it. The first block needs no relayd (the flags are checked
 * before any request: exit 2, never 6 against a dead URL); the second drives a real relayd
 * and NEEDS THE SERVER ROUTE of issue 20 (`GET /admin/v1/orgs/{org}/analytics`).
 */

const ANSI = /\u001b\[/;

describe('relay analytics: flags checked before relayd is asked (no daemon)', () => {
  it.each([
    [['--metric', 'deliverd'], /unknown --metric "deliverd": did you mean delivered\?/],
    [['--metric', 'published,nope'], /unknown --metric "nope"[\s\S]*hint: the metrics: published, /],
    [['--by', 'week'], /invalid --by "week": use minute, hour or day/],
    [['--since', 'yesterday'], /invalid --since "yesterday": use a duration back from now/],
    [['--until', '2026-13-45'], /invalid --until "2026-13-45"/],
    [['--since', '1h', '--until', '2h'], /--since 1h is not before --until 2h/],
    [['--app', 'Acme_PM'], /invalid app id "Acme_PM"/],
    [['--org', 'Not An Org'], /invalid organization id "Not An Org"/],
  ])('%j exits 2: %s', async (args, message) => {
    const result = await relay(['analytics', ...args, '--url', await deadUrl()]);
    expect(result.stderr).toMatch(message);
    expect(result.exitCode, result.stderr).toBe(2);
    expect(result.stdout).toBe('');
  });

  it('sound flags go on to ask relayd (exit 6 when it is not there)', async () => {
    const result = await relay(['analytics', '--app', 'acme-pm', '--since', '7d', '--until', '2026-12-01T00:00:00Z', '--by', 'day', '--metric', 'published', '--metric', 'bytesIn,agentLatencyP95', '--url', await deadUrl()]);
    expect(result.stderr).toMatch(/cannot reach relayd/);
    expect(result.exitCode).toBe(6);
  });
});

// ---- against a real relayd (the route is the lead's: daemon/http/routes.ts) ----

describe('relay analytics through relayd', () => {
  let daemon: Daemon | null = null;
  afterEach(async () => {
    await daemon?.stop();
    daemon = null;
  });

  it('prints the answer as relayd sent it with --json and --jq, and plain text piped', async () => {
    daemon = await startDaemon();
    const app = await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon });
    expect(app.exitCode, app.stderr).toBe(0);

    const json = await relay(['analytics', '--app', 'acme-pm', '--since', '3h', '--by', 'hour', '--metric', 'published,agentLatencyP95', '--json'], { daemon });
    expect(json.exitCode, json.stderr).toBe(0);
    const { analytics } = json.json<AnalyticsEnvelope>();
    expect(analytics).toMatchObject({ org: 'default', app: 'acme-pm', by: 'hour', metrics: ['published', 'agentLatencyP95'] });
    expect(analytics.totals).toEqual({ published: 0, agentLatencyP95: null });
    expect(analytics.series.length).toBeGreaterThanOrEqual(3);

    const jq = await relay(['analytics', '--metric', 'published', '--jq', '.analytics.totals.published'], { daemon });
    expect(jq.exitCode, jq.stderr).toBe(0);
    expect(jq.stdout).toBe('0\n');

    const human = await relay(['analytics'], { daemon, env: { COLUMNS: '100' } });
    expect(human.exitCode, human.stderr).toBe(0);
    expect(human.stdout).not.toMatch(ANSI);
    const lines = human.stdout.split('\n');
    expect(lines[0]).toMatch(/^org default, every app added up {2}\S+ to \S+, by (minute|hour|day)$/);
    // Piped, the totals are tab-separated fields: metric, exact total, what it counts.
    expect(lines).toContain('published\t0\tchannel messages published, every way in');
    expect(lines).toContain('agentLatencyP95\t-\tagent events\' latency (acceptance to reply or failure), 95th percentile');
    expect(lines).toContain('agentLatencyP95  no agent events');
    expect(lines).toContain('published  total 0');
    for (const line of lines.filter((l) => !l.includes('\t'))) expect(line.length).toBeLessThanOrEqual(100);
  });

  it('an app that does not exist is not found (exit 3)', async () => {
    daemon = await startDaemon();
    const result = await relay(['analytics', '--app', 'nope'], { daemon });
    expect(result.exitCode, result.stderr).toBe(3);
    expect(result.stderr).toMatch(/nope/);
    expect(result.stdout).toBe('');
  });
});
