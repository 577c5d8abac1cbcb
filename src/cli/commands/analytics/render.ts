import asciichart from 'asciichart';
import type { Analytics, AnalyticsMetric, AnalyticsResolution } from '../../../shared/api.js';
import { formatDuration } from '../../../shared/duration.js';
import { duration } from '../../format.js';

/**
 * The human view of `relay analytics` as pure functions of the answer: the totals' rows and a
 * chart per metric, for a given width and with or without colour, so that tests can hold them
 * to the width and to plain text. Nothing here writes or knows about streams.
 */

/**
 * How a metric adds up over time, which decides how buckets merge when a chart has fewer
 * columns than the series has buckets, and what its total means: sums add (the total is
 * kept); peaks and latency percentiles take the largest (the peak is kept); averages average.
 */
type Kind = 'sum' | 'peak' | 'average' | 'latency';
type Unit = 'count' | 'bytes' | 'ms';

interface Metric {
  kind: Kind;
  unit: Unit;
  /** asciichart's colour of the series, when colours are on. */
  colour: string;
  /** What the metric counts, for the totals table. */
  meaning: string;
}

const count = (meaning: string, colour = asciichart.cyan): Metric => ({ kind: 'sum', unit: 'count', colour, meaning });
const latency = (which: string): Metric => ({ kind: 'latency', unit: 'ms', colour: asciichart.yellow, meaning: `agent events' latency (acceptance to reply or failure), ${which}` });

/** Every metric of ANALYTICS_METRICS (src/shared/api.ts), as the CLI shows it. */
export const METRICS: Record<AnalyticsMetric, Metric> = {
  published: count('channel messages published, every way in'),
  publishedApi: count('published through the public API'),
  publishedRest: count("published through Pusher's REST API"),
  publishedClient: count('client events sent by subscribers'),
  delivered: count('messages sent to subscribers, one per subscriber reached', asciichart.green),
  connectionsPeak: { kind: 'peak', unit: 'count', colour: asciichart.magenta, meaning: 'the most connections open at once' },
  connectionsAvg: { kind: 'average', unit: 'count', colour: asciichart.magenta, meaning: 'connections open on average' },
  channelsPeak: { kind: 'peak', unit: 'count', colour: asciichart.magenta, meaning: 'the most channels with subscribers at once' },
  agentAccepted: count('agent events accepted'),
  agentRejected: count('agent events refused at the door', asciichart.red),
  agentReplied: count('agent events replied to', asciichart.green),
  agentFailed: count('agent events failed', asciichart.red),
  agentLatencyP50: latency('median'),
  agentLatencyP95: latency('95th percentile'),
  agentLatencyP99: latency('99th percentile'),
  webhooksOk: count('webhook attempts the endpoint took (2xx)', asciichart.green),
  webhooksFailed: count('webhook attempts that failed', asciichart.red),
  rateLimited: count('requests and frames refused for the rate limit', asciichart.red),
  bytesIn: { kind: 'sum', unit: 'bytes', colour: asciichart.blue, meaning: 'payload bytes into relayd (publishes, agent events)' },
  bytesOut: { kind: 'sum', unit: 'bytes', colour: asciichart.blue, meaning: 'payload bytes out of relayd (frames to subscribers and apps)' },
};

/** Charted when no --metric is given: traffic, reach, load, agents, their speed and refusals. */
export const CHARTED: readonly AnalyticsMetric[] = ['published', 'delivered', 'connectionsPeak', 'agentAccepted', 'agentLatencyP95', 'rateLimited'];

/** Rows of a chart: enough to read a shape, few enough that six charts fit a screen or two. */
const HEIGHT = 8;
/** The fewest columns a chart gets, however narrow the terminal. */
const MIN_COLUMNS = 10;

const isMetric = (name: string): name is AnalyticsMetric => Object.hasOwn(METRICS, name);

/** A value as relayd sent it, or null: latencies without events, and anything that is not a number (a chart never gets NaN). */
function numberOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

const grouped = (n: number): string => String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

function bytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let value = n;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${Number(value.toFixed(1))} ${units[unit]}`;
}

/**
 * A metric's total as the table shows it: on a terminal with its unit (`12,345`, `1.5 MB`,
 * `250ms`, `3.25`); `exact` (piped) the number as relayd sent it, for scripts, as times are
 * ISO 8601 there. `-` where there is none (latency without agent events).
 */
export function formatTotal(metric: AnalyticsMetric, value: unknown, exact: boolean): string {
  const n = numberOrNull(value);
  if (n === null) return '-';
  if (exact) return String(n);
  const { kind, unit } = METRICS[metric];
  if (unit === 'bytes') return bytes(n);
  if (unit === 'ms') return duration(n);
  return kind === 'average' ? n.toFixed(2) : grouped(n);
}

/** A value on a chart's y axis: short (`12.5k`, `1.5 MB`, `250ms`, `0.25`). */
function axisLabel(unit: Unit, n: number): string {
  if (unit === 'bytes') return bytes(n);
  if (unit === 'ms') return duration(n);
  const abs = Math.abs(n);
  for (const [size, suffix] of [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ] as const) {
    if (abs >= size) return `${Number((n / size).toFixed(2))}${suffix}`;
  }
  return String(Number(n.toFixed(2)));
}

/**
 * The step between two rows of the y axis: the smallest round one (1, 2, 2.5 or 5 times a
 * power of ten; of a power of 1024 for bytes) that fits `max` in HEIGHT rows, so that the
 * axis reads 0, 250, 500 and not 0, 199.5, 399. Whole for whole values.
 */
export function axisStep(max: number, unit: Unit, whole: boolean): number {
  const scale = unit === 'bytes' ? 1024 ** Math.max(0, Math.floor(Math.log(max) / Math.log(1024))) : 1;
  const rough = max / HEIGHT / scale;
  const power = 10 ** Math.floor(Math.log10(rough));
  for (const m of [1, 2, 2.5, 5, 10]) {
    const step = m * power * scale;
    if (m * power >= rough && (!whole || Number.isInteger(step))) return step;
  }
  return 10 * power * scale;
}

/** The rows of the totals table: every metric of the answer, in its order. */
export function summaryRows(analytics: Analytics, exact: boolean): [metric: string, total: string, meaning: string][] {
  return analytics.metrics.map((name: string) =>
    isMetric(name) ? [name, formatTotal(name, analytics.totals[name], exact), METRICS[name].meaning] : [name, String(numberOrNull((analytics.totals as Record<string, unknown>)[name]) ?? '-'), ''],
  );
}

/**
 * A series in fewer points: buckets merged `group` at a time (sums add, so the total is kept;
 * peaks and latencies take the largest, so the peak is kept; averages average; a group
 * without any value stays null). Groups end with the last bucket, so a short group, if any,
 * is the oldest: the newest point is never a half-empty group that reads as traffic falling off.
 */
export function downsample(values: (number | null)[], group: number, kind: Kind): (number | null)[] {
  if (group <= 1) return [...values];
  const out: (number | null)[] = [];
  for (let end = values.length; end > 0; end -= group) out.unshift(merge(values.slice(Math.max(0, end - group), end), kind));
  return out;
}

/** Round spans of buckets to merge into a point (5 minutes, 6 hours, a week), which the chart names under its axis. */
const GROUPS: Record<AnalyticsResolution, number[]> = {
  minute: [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 45, 60, 90, 120, 180, 240, 360, 480, 720, 1440],
  hour: [1, 2, 3, 4, 6, 8, 12, 24, 36, 48, 72, 96, 168],
  day: [1, 2, 3, 4, 5, 7, 10, 14, 21, 28],
};

/** How many buckets a point of the chart takes so that `length` of them fit `columns`: a round span when there is one. */
export function groupSize(length: number, columns: number, by: AnalyticsResolution): number {
  const least = Math.ceil(length / Math.max(1, columns));
  // A bucket this CLI does not know (a newer relayd's) merges as many as it takes.
  return (GROUPS[by] ?? []).find((g) => g >= least) ?? least;
}

function merge(values: (number | null)[], kind: Kind): number | null {
  if (kind === 'sum') return values.reduce<number>((total, v) => total + (v ?? 0), 0);
  const present = values.filter((v): v is number => v !== null);
  if (present.length === 0) return null;
  if (kind === 'average') return present.reduce((a, b) => a + b, 0) / present.length;
  return present.reduce((a, b) => Math.max(a, b));
}

/** A short series widened to fill `columns`: each bucket drawn the same number of times, a step. */
function stretch(values: (number | null)[], columns: number): (number | null)[] {
  const times = values.length === 0 ? 1 : Math.max(1, Math.floor(columns / values.length));
  return times === 1 ? values : values.flatMap((v) => new Array<number | null>(times).fill(v));
}

const BUCKET_MS: Record<AnalyticsResolution, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** A bucket's start under the x axis, UTC as the heading says: the day alone for days. */
function timeLabel(iso: string, by: AnalyticsResolution): string {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return '?';
  const text = new Date(at).toISOString();
  return by === 'day' ? text.slice(0, 10) : `${text.slice(0, 10)} ${text.slice(11, 16)}`;
}

function title(metric: AnalyticsMetric, analytics: Analytics, allNull: boolean): string {
  const { kind } = METRICS[metric];
  const total = formatTotal(metric, analytics.totals[metric], false);
  switch (kind) {
    case 'sum':
      return `total ${total}`;
    case 'peak':
      return `peak ${total}`;
    case 'average':
      return `average ${total}`;
    case 'latency':
      return allNull || total === '-' ? 'no agent events' : `${total} over the range`;
  }
}

export interface ChartOptions {
  /** The terminal's width in columns: the chart and its axis fit it (from about 30 columns; a title may run longer). */
  width: number;
  /** asciichart's colour codes and a bold title; without it, plain text. */
  color: boolean;
}

/**
 * One metric's chart: a title line (the metric and its total over the range), the chart
 * (HEIGHT rows, from 0 up, fitted to the width) and the times of the first and last buckets
 * under its x axis. Nulls (latency without agent events) are drawn as 0.
 */
export function chartLines(analytics: Analytics, metric: AnalyticsMetric, options: ChartOptions): string[] {
  const spec = METRICS[metric];
  const raw = analytics.series.map((point) => numberOrNull(point[metric]));
  const allNull = raw.every((v) => v === null);
  const name = options.color ? `\u001b[1m${metric}\u001b[22m` : metric;
  const head = `${name}  ${title(metric, analytics, allNull)}`;
  if (raw.length === 0) return [`${head}  (no buckets in this range)`];

  // The y labels take the width of the longest, which depends on the largest value, which
  // depends on how buckets merge to fit what the labels leave: widen the guess until it holds.
  const fit = (labelWidth: number): { values: (number | null)[]; group: number } => {
    const columns = Math.max(MIN_COLUMNS, options.width - labelWidth - 2);
    if (raw.length <= columns) return { values: stretch(raw, columns), group: 1 };
    const group = groupSize(raw.length, columns, analytics.by);
    return { values: downsample(raw, group, spec.kind), group };
  };
  const yAxis = (values: (number | null)[]): { top: number; height: number; labelWidth: number } => {
    const max = Math.max(0, ...values.map((v) => v ?? 0));
    if (max === 0) return { top: 0, height: 0, labelWidth: axisLabel(spec.unit, 0).length };
    const step = axisStep(max, spec.unit, spec.unit !== 'count' || spec.kind !== 'average');
    const height = Math.ceil(max / step);
    const labels = Array.from({ length: height + 1 }, (_, row) => axisLabel(spec.unit, row * step));
    return { top: height * step, height, labelWidth: Math.max(...labels.map((l) => l.length)) };
  };
  let width = 1;
  let fitted = fit(width);
  let { top, height, labelWidth } = yAxis(fitted.values);
  for (let tries = 0; labelWidth > width && tries < 5; tries++) {
    width = labelWidth;
    fitted = fit(width);
    ({ top, height, labelWidth } = yAxis(fitted.values));
  }
  width = Math.max(width, labelWidth);

  const plotted = fitted.values.map((v) => v ?? 0);
  const chart = asciichart
    .plot(plotted, {
      min: 0,
      max: top,
      height,
      // asciichart writes the axis over a label shorter than its offset: labels end with a
      // space, and the axis goes right after them (offset 2).
      offset: 2,
      format: (x) => `${axisLabel(spec.unit, x).padStart(width)} `,
      // The first value's mark plain like the other ticks: asciichart's own (┼) also lands on
      // the top row when the axis starts at 0, where it reads as a value.
      symbols: ['┤', '┤', '╶', '╴', '─', '╰', '╭', '╮', '╯', '│'],
      ...(options.color ? { colors: [spec.colour] } : {}),
    })
    .split('\n')
    .map((l) => l.trimEnd());

  // asciichart puts the first point on the axis, after the labels and a space.
  const first = width + 1;
  const lastColumn = first + plotted.length - 1;
  const from = timeLabel(analytics.series[0]!.at, analytics.by);
  let to = timeLabel(analytics.series.at(-1)!.at, analytics.by);
  if (analytics.by !== 'day' && to.slice(0, 10) === from.slice(0, 10)) to = to.slice(11);
  const each = fitted.group > 1 && Object.hasOwn(BUCKET_MS, analytics.by) ? `one point: ${formatDuration(fitted.group * BUCKET_MS[analytics.by])}` : '';
  let axis = ' '.repeat(first) + from;
  const room = lastColumn + 1 - axis.length - to.length;
  if (raw.length > 1 && room >= 2) {
    const gap = room - each.length;
    axis += gap >= 4 && each !== '' ? `${' '.repeat(Math.floor(gap / 2))}${each}${' '.repeat(Math.ceil(gap / 2))}${to}` : `${' '.repeat(room)}${to}`;
  }
  return [head, ...chart, axis];
}

/** The charts of `metrics` (default: CHARTED), those the answer holds, a blank line apart. */
export function renderCharts(analytics: Analytics, options: ChartOptions & { metrics?: readonly AnalyticsMetric[] }): string[] {
  const held = new Set<string>(analytics.metrics);
  const charted = (options.metrics ?? CHARTED).filter((m) => isMetric(m) && held.has(m));
  return charted.flatMap((metric, i) => [...(i === 0 ? [] : ['']), ...chartLines(analytics, metric, options)]);
}
