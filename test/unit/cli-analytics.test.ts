import { describe, expect, it } from 'vitest';
import { analyticsQuery, checkMetric, type Options } from '../../src/cli/commands/analytics/analytics.js';
import { CHARTED, METRICS, axisStep, chartLines, downsample, formatTotal, groupSize, renderCharts, summaryRows } from '../../src/cli/commands/analytics/render.js';
import { ANALYTICS_METRICS, type Analytics, type AnalyticsMetric, type AnalyticsPoint, type AnalyticsResolution } from '../../src/shared/api.js';

/** `relay analytics`: the flags it checks before asking relayd, and the table and charts it draws from an answer. */

const ANSI = /\u001b\[/;
const STEP: Record<AnalyticsResolution, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
const START = Date.parse('2026-12-05T10:00:00Z');

/** An answer with `length` buckets from START, each metric's value from `value(metric, i)`, totals summed (or as given). */
function answer(
  length: number,
  value: (metric: AnalyticsMetric, i: number) => number | null,
  over: Partial<Analytics> = {},
): Analytics {
  const by = over.by ?? 'hour';
  const series: AnalyticsPoint[] = Array.from({ length }, (_, i) => {
    const point: AnalyticsPoint = { at: new Date(START + i * STEP[by]).toISOString() };
    for (const m of ANALYTICS_METRICS) point[m] = value(m, i);
    return point;
  });
  const totals: Analytics['totals'] = {};
  for (const m of ANALYTICS_METRICS) {
    const values = series.map((p) => p[m]).filter((v): v is number => typeof v === 'number');
    totals[m] = values.length === 0 ? (METRICS[m].kind === 'latency' ? null : 0) : METRICS[m].kind === 'sum' ? values.reduce((a, b) => a + b, 0) : Math.max(...values);
  }
  return {
    org: 'default',
    app: 'acme-pm',
    by,
    since: new Date(START).toISOString(),
    until: new Date(START + length * STEP[by]).toISOString(),
    metrics: [...ANALYTICS_METRICS],
    totals,
    series,
    ...over,
  };
}

/** A traffic-like shape: a wave, latencies missing every fifth bucket. */
const wave = (m: AnalyticsMetric, i: number): number | null => {
  if (METRICS[m].kind === 'latency') return i % 5 === 0 ? null : 20 + ((i * 37) % 400);
  if (METRICS[m].kind === 'average') return 3.5 + Math.sin(i / 3);
  if (METRICS[m].unit === 'bytes') return 1000 * ((i * 7919) % 97);
  return Math.round(50 + 40 * Math.sin(i / 4));
};

/** The chart's rows: between the title and the x axis. */
const rows = (lines: string[]): string[] => lines.slice(1, -1);
/** The numbers of a chart's y axis, top first (`1.5k` → 1500). */
const yLabels = (lines: string[]): number[] =>
  rows(lines).map((l) => {
    const [, n, suffix] = /^\s*([\d.]+)(k|M)?\S*\s/.exec(l) ?? [];
    return Number(n) * (suffix === 'k' ? 1e3 : suffix === 'M' ? 1e6 : 1);
  });

describe('downsample: fewer points, the same totals and peaks', () => {
  const values = [1, 2, 3, 4, 5, 6, 7];
  it.each([
    ['sum', 1, [1, 2, 3, 4, 5, 6, 7]],
    ['sum', 2, [1, 5, 9, 13]],
    ['sum', 3, [1, 9, 18]],
    ['sum', 7, [28]],
    ['sum', 10, [28]],
    ['peak', 3, [1, 4, 7]],
    ['latency', 2, [1, 3, 5, 7]],
    ['average', 3, [1, 3, 6]],
  ] as const)('%s in groups of %d → %j (a short group is the oldest)', (kind, group, expected) => {
    expect(downsample(values, group, kind)).toEqual(expected);
  });

  it('keeps the total of sums and the peak of peaks over a long series', () => {
    const long = Array.from({ length: 1440 }, (_, i) => (i * 7919) % 101);
    for (const group of [2, 5, 30, 60, 1440]) {
      expect(downsample(long, group, 'sum').reduce((a, b) => (a ?? 0) + (b ?? 0), 0)).toBe(long.reduce((a, b) => a + b, 0));
      expect(Math.max(...(downsample(long, group, 'peak') as number[]))).toBe(Math.max(...long));
    }
  });

  it('latencies ignore buckets without agent events; a group of none stays null; sums count them as 0', () => {
    expect(downsample([null, 40, null, null, 10, null], 2, 'latency')).toEqual([40, null, 10]);
    expect(downsample([null, 40, null, null], 2, 'average')).toEqual([40, null]);
    expect(downsample([null, 4, null, null], 2, 'sum')).toEqual([4, 0]);
  });

  it.each([
    [1440, 70, 'minute', 30],
    [1440, 1440, 'minute', 1],
    [1440, 75, 'minute', 20],
    [10_080, 70, 'minute', 180],
    [720, 70, 'hour', 12],
    [365, 70, 'day', 7],
    [10_000, 10, 'day', 1000],
  ] as const)('%d %s buckets in %d columns merge %d at a time (a round span)', (length, columns, by, group) => {
    expect(groupSize(length, columns, by)).toBe(group);
    expect(Math.ceil(length / group)).toBeLessThanOrEqual(columns);
  });
});

describe('the y axis steps by round values', () => {
  it.each([
    [3, 'count', true, 1],
    [9, 'count', true, 2],
    [96, 'count', true, 20],
    [1760, 'count', true, 250],
    [0.3, 'count', false, 0.05],
    [400, 'ms', true, 50],
    [96_000, 'bytes', true, 20 * 1024],
    [3 * 1024 ** 3, 'bytes', true, 0.5 * 1024 ** 3],
  ] as const)('max %d (%s) → a step of %d', (max, unit, whole, step) => {
    expect(axisStep(max, unit, whole)).toBe(step);
  });
});

describe('totals', () => {
  it.each([
    ['published', 1234567, '1,234,567', '1234567'],
    ['bytesOut', 1536, '1.5 KB', '1536'],
    ['bytesIn', 300, '300 B', '300'],
    ['agentLatencyP95', 250, '250ms', '250'],
    ['agentLatencyP99', 1500, '1.5s', '1500'],
    ['agentLatencyP50', null, '-', '-'],
    ['connectionsAvg', 3.14159, '3.14', '3.14159'],
    ['connectionsPeak', 42, '42', '42'],
  ] as const)('%s %j reads %j on a terminal and %j piped', (metric, value, human, exact) => {
    expect(formatTotal(metric, value, false)).toBe(human);
    expect(formatTotal(metric, value, true)).toBe(exact);
  });

  it('the table has every metric of the answer, in its order, with what it counts', () => {
    const a = answer(24, wave, { metrics: ['delivered', 'agentLatencyP95', 'bytesIn'] });
    const table = summaryRows(a, false);
    expect(table.map(([m]) => m)).toEqual(['delivered', 'agentLatencyP95', 'bytesIn']);
    expect(table.every(([, total, meaning]) => total !== '' && meaning !== '')).toBe(true);
    expect(summaryRows(answer(24, wave), true)).toHaveLength(ANALYTICS_METRICS.length);
  });
});

describe('charts', () => {
  it.each([40, 60, 80, 120, 200])('every line of the charts fits %d columns, and the chart fills at least half of them', (width) => {
    for (const length of [1, 2, 7, 24, 60, 1440, 10_080]) {
      for (const by of ['minute', 'hour', 'day'] as const) {
        const lines = renderCharts(answer(length, wave, { by }), { width, color: false });
        const charts = lines.join('\n').split('\n\n').map((c) => c.split('\n'));
        expect(charts).toHaveLength(CHARTED.length);
        for (const chart of charts) {
          for (const line of chart.slice(1)) expect(line.length, `${length} by ${by}:\n${chart.join('\n')}`).toBeLessThanOrEqual(width);
          expect(Math.max(...rows(chart).map((l) => l.length)), `${length} by ${by}`).toBeGreaterThan(width * 0.5);
        }
      }
    }
  });

  it('draws plain text without colours, and colours each series with them', () => {
    const a = answer(60, wave);
    const plain = renderCharts(a, { width: 80, color: false });
    expect(plain.join('\n')).not.toMatch(ANSI);
    const coloured = renderCharts(a, { width: 80, color: true });
    expect(coloured.join('\n')).toMatch(ANSI);
    // The same picture once the colour codes are gone.
    expect(coloured.map((l) => l.replace(/\u001b\[[0-9;]*m/g, ''))).toEqual(plain);
  });

  it('charts the main metrics by default, the ones named otherwise, and only those in the answer', () => {
    const titles = (lines: string[]): string[] => lines.filter((l, i) => i === 0 || lines[i - 1] === '').map((l) => l.split(' ')[0] as string);
    expect(titles(renderCharts(answer(24, wave), { width: 80, color: false }))).toEqual([...CHARTED]);
    expect(titles(renderCharts(answer(24, wave), { width: 80, color: false, metrics: ['bytesIn', 'webhooksFailed'] }))).toEqual(['bytesIn', 'webhooksFailed']);
    expect(titles(renderCharts(answer(24, wave, { metrics: ['published', 'rateLimited'] }), { width: 80, color: false }))).toEqual(['published', 'rateLimited']);
  });

  it('titles a chart with its total over the range and labels the first and last buckets', () => {
    const a = answer(24, () => 2);
    const lines = chartLines(a, 'published', { width: 80, color: false });
    expect(lines[0]).toBe('published  total 48');
    expect(lines.at(-1)).toMatch(/^\s+2026-12-05 10:00\s+2026-12-06 09:00$/);
    expect(chartLines(a, 'connectionsPeak', { width: 80, color: false })[0]).toBe('connectionsPeak  peak 2');
    expect(chartLines(answer(3, wave, { by: 'day' }), 'delivered', { width: 80, color: false }).at(-1)).toMatch(/^\s+2026-12-05\s+2026-12-07$/);
    // Within one day, the last label is the time alone.
    expect(chartLines(answer(60, wave, { by: 'minute' }), 'delivered', { width: 80, color: false }).at(-1)).toMatch(/^\s+2026-12-05 10:00\s+10:59$/);
  });

  it('merged points keep their sums and peaks: the axis reaches them, and says how long a point is', () => {
    // A minute a message for a day, and one spike of 500 connections.
    const a = answer(1440, (m, i) => (m === 'connectionsPeak' ? (i === 700 ? 500 : 1) : 1), { by: 'minute' });
    const published = chartLines(a, 'published', { width: 80, color: false });
    expect(published.at(-1)).toContain('one point: 20m');
    expect(yLabels(published)[0]).toBeGreaterThanOrEqual(20);
    expect(yLabels(published)[0]).toBeLessThan(30);
    const peak = chartLines(a, 'connectionsPeak', { width: 80, color: false });
    expect(yLabels(peak)[0]).toBe(500);
    expect(peak[0]).toBe('connectionsPeak  peak 500');
  });

  it('draws nulls (latency without agent events) as 0 and says when there were none at all', () => {
    const none = answer(24, (m) => (METRICS[m].kind === 'latency' ? null : 0));
    const lines = chartLines(none, 'agentLatencyP95', { width: 80, color: false });
    expect(lines[0]).toBe('agentLatencyP95  no agent events');
    expect(rows(lines)).toHaveLength(1);
    const some = chartLines(answer(24, wave), 'agentLatencyP95', { width: 80, color: false });
    expect(some[0]).toMatch(/^agentLatencyP95  \d+ms over the range$/);
    expect(yLabels(some).at(-1)).toBe(0);
  });

  it('an empty series or an answer of zeros draws without failing', () => {
    expect(chartLines(answer(0, wave), 'published', { width: 80, color: false })).toEqual(['published  total 0  (no buckets in this range)']);
    const zeros = chartLines(answer(24, () => 0), 'delivered', { width: 80, color: false });
    expect(rows(zeros)).toEqual([`0 ┤${'─'.repeat(zeros[1]!.length - 3)}`]);
  });

  it('small whole counts get a row per unit', () => {
    const lines = chartLines(answer(24, (_, i) => (i === 3 ? 3 : 0)), 'rateLimited', { width: 80, color: false });
    expect(yLabels(lines)).toEqual([3, 2, 1, 0]);
  });

  it('survives what a chart cannot draw: NaN, strings, metrics it does not know', () => {
    const a = answer(10, wave);
    (a.series[2] as Record<string, unknown>).published = 'lots';
    (a.series[3] as Record<string, unknown>).published = Number.NaN;
    a.metrics = [...a.metrics, 'futureMetric' as AnalyticsMetric];
    expect(() => renderCharts(a, { width: 80, color: false })).not.toThrow();
    expect(summaryRows(a, false).at(-1)).toEqual(['futureMetric', '-', '']);
    // A bucket a newer relayd may have.
    const weekly = answer(500, wave);
    weekly.by = 'week' as AnalyticsResolution;
    expect(() => renderCharts(weekly, { width: 80, color: false })).not.toThrow();
  });
});

describe('flags, checked before relayd is asked', () => {
  const now = Date.parse('2026-12-06T10:00:00Z');
  const opts = (over: Partial<Options>): Options => ({ org: 'default', app: undefined, since: '24h', until: undefined, by: undefined, metrics: [], ...over });

  it('sends the range as given, so that relayd’s clock decides, and only what was asked', () => {
    expect(analyticsQuery(opts({}), now)).toEqual({ app: undefined, since: '24h', until: undefined, by: undefined, metrics: undefined });
    expect(analyticsQuery(opts({ app: 'acme-pm', since: '2026-12-01', until: '1h', by: 'day', metrics: ['published', 'bytesIn', 'published'] }), now)).toEqual({
      app: 'acme-pm',
      since: '2026-12-01',
      until: '1h',
      by: 'day',
      metrics: ['published', 'bytesIn'],
    });
  });

  it.each([
    [{ since: 'yesterday' }, /invalid --since "yesterday"/],
    [{ until: '2026-13-45' }, /invalid --until "2026-13-45"/],
    [{ since: '1h', until: '2h' }, /--since 1h is not before --until 2h/],
    [{ since: '2026-12-07' }, /--since 2026-12-07 is not before --until \(now\)/],
    [{ by: 'week' }, /invalid --by "week": use minute, hour or day/],
    [{ app: 'Acme' }, /invalid app id "Acme"/],
    [{ metrics: ['deliverd'] }, /unknown --metric "deliverd": did you mean delivered\?/],
    [{ metrics: ['agentLatencyP90'] }, /did you mean agentLatencyP95\?|did you mean agentLatencyP50\?|did you mean agentLatencyP99\?/],
  ])('%j is refused: %s', (over, message) => {
    expect(() => analyticsQuery(opts(over as Partial<Options>), now)).toThrow(expect.objectContaining({ code: 'invalid_request', message: expect.stringMatching(message) }));
  });

  it('an unknown metric with nothing near lists them all', () => {
    expect(() => checkMetric('throughput')).toThrow(expect.objectContaining({ message: 'unknown --metric "throughput"', hint: expect.stringContaining('published, publishedApi') }));
  });
});
