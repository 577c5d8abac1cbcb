import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AnalyticsService, percentile } from '../../daemon/core/analytics.js';
import type { Clock } from '../../daemon/core/clock.js';
import { SqliteStore } from '../../daemon/store/sqlite/sqlite-store.js';
import type { Analytics } from '../../src/shared/api.js';

/**
 * The analytics service on a real SQLite store with a clock the test moves: two nodes count
 * on one store, the leader rolls minutes into hours and hours into days, and the totals a
 * reader sees stay what they were.
 */

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function setUp(start: number): { store: SqliteStore; clock: Clock & { at: number }; node(id: string): AnalyticsService } {
  const dir = mkdtempSync(join(tmpdir(), 'relay-analytics-'));
  dirs.push(dir);
  const store = new SqliteStore(join(dir, 'relay.db'));
  const clock = {
    at: start,
    now() {
      return this.at;
    },
  };
  const node = (id: string): AnalyticsService =>
    new AnalyticsService({ store, clock, nodeId: id, flushMs: 1000, retentionMs: 365 * DAY, enabled: true, onError: (err) => { throw err; } });
  return { store, clock, node };
}

const totalsOf = (a: Analytics): Analytics['totals'] => a.totals;

describe('analytics rollups', () => {
  it('minutes rolled into hours, and hours into days, give the totals the minutes gave', async () => {
    const start = Date.UTC(2026, 9, 1, 10, 0, 0);
    const { store, clock, node } = setUp(start);
    const a = node('a');
    const b = node('b');
    // Two hours of traffic on two nodes: publishes, deliveries, connections, agent events.
    for (let m = 0; m < 120; m += 7) {
      clock.at = start + m * MINUTE + 5_000;
      a.published('default', 'app1', 'api', 3, 300);
      b.published('default', 'app1', 'rest', 2, 100);
      a.delivered('default', 'app1', 10, 1000);
      a.connection('default', 'app1', 'pusher', 1);
      b.connection('default', 'app1', 'relay', 1);
      a.agentEvent('default', 'app1', 'accepted', null, 50);
      b.agentEvent('default', 'app1', 'replied', 40 + m, 20);
      a.published('default', 'app2', 'client', 1, 10);
      clock.at += 20_000;
      a.connection('default', 'app1', 'pusher', -1);
      await a.flush();
      await b.flush();
    }
    clock.at = start + 3 * HOUR;
    const query = { since: String(start), until: String(start + 3 * HOUR) };
    const byMinute = await a.query('default', 'app1', { ...query, by: 'minute' });
    const byHour = await a.query('default', 'app1', { ...query, by: 'hour' });
    expect(byMinute.totals).toMatchObject({ published: 90, publishedApi: 54, publishedRest: 36, delivered: 180, agentAccepted: 18, agentReplied: 18 });
    // b's relay connections stay open: 18 at the end; a's pusher ones never overlap.
    expect(byMinute.totals.connectionsPeak).toBe(19);
    expect(totalsOf(byHour)).toEqual(totalsOf(byMinute));

    // Three days later the minutes are hours; after 31 more, the hours are days.
    clock.at = start + 3 * DAY;
    await a.rollUp();
    expect(await store.listUsage('default', 'app1', 'minute', start, start + 3 * HOUR)).toEqual([]);
    const rolled = await a.query('default', 'app1', { ...query, by: 'hour' });
    expect(rolled.totals).toEqual(byHour.totals);
    expect(rolled.series).toEqual(byHour.series);
    await expect(a.query('default', 'app1', { ...query, by: 'minute' })).rejects.toThrow(/minutes are kept for 2d/);

    clock.at = start + 34 * DAY;
    await a.rollUp();
    expect(await store.listUsage('default', 'app1', 'hour', start, start + 3 * HOUR)).toEqual([]);
    const days = await a.query('default', 'app1', { since: String(start - DAY), until: String(start + 2 * DAY), by: 'day' });
    const { connectionsAvg: _avg, ...dayTotals } = days.totals;
    const { connectionsAvg: _avg2, ...hourTotals } = byHour.totals;
    expect(dayTotals).toEqual(hourTotals);
    // The org's view adds its apps up.
    const org = await a.query('default', null, { since: String(start - DAY), until: String(start + 2 * DAY), by: 'day', metrics: ['published'] });
    expect(org.totals).toEqual({ published: 90 + 18 });
    // Past the retention, nothing is left.
    clock.at = start + 400 * DAY;
    await a.rollUp();
    expect(await store.listUsage('default', null, 'day', 0, clock.at)).toEqual([]);
    await store.close();
  });

  it('connection-minutes give the average open over a bucket', async () => {
    const start = Date.UTC(2026, 9, 1, 10, 0, 0);
    const { store, clock, node } = setUp(start);
    const a = node('a');
    a.connection('default', 'app1', 'pusher', 1);
    a.connection('default', 'app1', 'pusher', 1);
    clock.at = start + 30_000;
    a.connection('default', 'app1', 'pusher', -1);
    clock.at = start + 2 * MINUTE;
    const read = await a.query('default', 'app1', { since: String(start), until: String(start + 2 * MINUTE), by: 'minute', metrics: ['connectionsAvg', 'connectionsPeak'] });
    // Two for half a minute, then one: 1.5 in the first minute, 1 in the second.
    expect(read.series.map((p) => [p.connectionsAvg, p.connectionsPeak])).toEqual([
      [1.5, 2],
      [1, 1],
    ]);
    expect(read.totals).toEqual({ connectionsAvg: 1.25, connectionsPeak: 2 });
    await store.close();
  });
});

describe('latency percentiles', () => {
  it.each([
    [[], 0.5, null],
    [[0, 0, 0, 4], 0.5, 38],
    [[10, 0, 0, 0], 0.99, 5],
    [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3], 0.5, 300_000],
  ])('%j at %d is %j ms', (histogram, q, expected) => {
    expect(percentile(histogram, q)).toBe(expected);
  });
});
