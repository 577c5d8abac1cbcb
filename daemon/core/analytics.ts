import { ANALYTICS_METRICS, type Analytics, type AnalyticsMetric, type AnalyticsPoint, type AnalyticsResolution } from '../../src/shared/api.js';
import { formatDuration, parseTimeBound } from '../../src/shared/duration.js';
import { RelayError } from '../../src/shared/errors.js';
import type { AnalyticsQuery } from '../../src/shared/schemas.js';
import { USAGE_LATENCY_BOUNDS_MS, type Store, type UsageCounts, type UsageRecord, type UsageResolution } from '../store/store.js';
import { emptyUsage, mergeUsageOverTime, mergeUsageSideBySide } from '../store/usage.js';
import type { Clock } from './clock.js';
import type { AgentEventOutcome, ConnectionKind, PublishSource, Usage } from './usage.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const SIZE: Record<UsageResolution, number> = { minute: MINUTE, hour: HOUR, day: DAY };

/** Minutes are kept this long, then rolled up into hours; hours this long, then into days. */
export const MINUTES_KEPT_MS = 2 * DAY;
export const HOURS_KEPT_MS = 30 * DAY;
/** The most buckets one answer holds (two days of minutes, with room). */
const MAX_POINTS = 3_000;
/** Rows one rollup transaction takes. */
const ROLLUP_BATCH = 2_000;

export interface AnalyticsDeps {
  store: Store;
  clock: Clock;
  nodeId: string;
  /** How often this node adds its counts to the store. */
  flushMs: number;
  /** Day rows older than this are deleted. */
  retentionMs: number;
  /** False with `--analytics off`: nothing is counted, and a query is refused. */
  enabled: boolean;
  onError(err: unknown, what: string): void;
}

/** One app's counts in the current minute, not yet in the store. */
interface Bucket {
  org: string;
  appId: string;
  counts: UsageCounts;
  /** Something happened since the last flush (an idle app's connections are written once a minute). */
  dirty: boolean;
}

/** What the app has open on this node now, and since when that has been so (for connection-minutes). */
interface Open {
  connections: number;
  channels: number;
  since: number;
}

/**
 * Usage analytics: every node counts its apps' traffic in memory, minute by minute, and adds
 * the counts to the store every few seconds (no write per event); readers add up the nodes'
 * rows. The leader rolls minutes up into hours after two days, hours into days after thirty,
 * and deletes days after the retention.
 */
export class AnalyticsService implements Usage {
  readonly #deps: AnalyticsDeps;
  /** org → app → this minute's bucket. */
  #current = new Map<string, Map<string, Bucket>>();
  /** Finished minutes (and flushed-out deltas) waiting for the store. */
  #ready: UsageRecord[] = [];
  #minuteStart: number;
  #minuteEnd: number;
  readonly #open = new Map<string, Map<string, Open>>();
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> = Promise.resolve();
  #rollups: NodeJS.Timeout | null = null;
  #rolling: Promise<void> | null = null;

  constructor(deps: AnalyticsDeps) {
    this.#deps = deps;
    this.#minuteStart = floor(deps.clock.now(), MINUTE);
    this.#minuteEnd = this.#minuteStart + MINUTE;
  }

  start(): void {
    this.#timer = setInterval(() => void this.flush(), this.#deps.flushMs);
    this.#timer.unref();
  }

  /** Shutdown: the last counts go to the store. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.follow();
    await this.flush();
  }

  // ---- counting (Usage): in memory only

  published(org: string, appId: string, source: PublishSource, messages: number, bytes: number): void {
    const b = this.#bucket(org, appId);
    if (source === 'api') b.counts.publishedApi += messages;
    else if (source === 'rest') b.counts.publishedRest += messages;
    else b.counts.publishedClient += messages;
    b.counts.bytesIn += bytes;
  }

  delivered(org: string, appId: string, messages: number, bytes: number): void {
    const b = this.#bucket(org, appId);
    b.counts.delivered += messages;
    b.counts.bytesOut += bytes;
  }

  connection(org: string, appId: string, _kind: ConnectionKind, change: 1 | -1): void {
    const b = this.#bucket(org, appId);
    const open = this.#opened(org, appId);
    this.#accrue(b, open, this.#deps.clock.now());
    open.connections = Math.max(0, open.connections + change);
    b.counts.connectionsPeak = Math.max(b.counts.connectionsPeak, open.connections);
    this.#forgetIdle(org, appId, open);
  }

  channel(org: string, appId: string, change: 1 | -1): void {
    const b = this.#bucket(org, appId);
    const open = this.#opened(org, appId);
    open.channels = Math.max(0, open.channels + change);
    b.counts.channelsPeak = Math.max(b.counts.channelsPeak, open.channels);
    this.#forgetIdle(org, appId, open);
  }

  agentEvent(org: string, appId: string, outcome: AgentEventOutcome, latencyMs: number | null, bytes: number): void {
    const c = this.#bucket(org, appId).counts;
    if (outcome === 'accepted') {
      c.agentAccepted += 1;
      c.bytesIn += bytes;
    } else if (outcome === 'rejected') {
      c.agentRejected += 1;
    } else {
      if (outcome === 'replied') c.agentReplied += 1;
      else c.agentFailed += 1;
      c.bytesOut += bytes;
      if (latencyMs !== null) {
        const i = USAGE_LATENCY_BOUNDS_MS.findIndex((bound) => latencyMs <= bound);
        const at = i === -1 ? USAGE_LATENCY_BOUNDS_MS.length : i;
        c.agentLatency[at] = (c.agentLatency[at] ?? 0) + 1;
      }
    }
  }

  webhookAttempt(org: string, appId: string, ok: boolean): void {
    const c = this.#bucket(org, appId).counts;
    if (ok) c.webhooksOk += 1;
    else c.webhooksFailed += 1;
  }

  rateLimited(org: string, appId: string): void {
    this.#bucket(org, appId).counts.rateLimited += 1;
  }

  /** The app's bucket of this minute, marked as having something to write. */
  #bucket(org: string, appId: string): Bucket {
    const now = this.#deps.clock.now();
    if (now >= this.#minuteEnd) this.#rollover(now);
    return this.#currentBucket(org, appId);
  }

  #currentBucket(org: string, appId: string): Bucket {
    const bucket = ofApp(this.#current, org, appId, () => this.#newBucket(org, appId));
    bucket.dirty = true;
    return bucket;
  }

  /** A new minute's bucket starts with what is open (its peak is at least that). */
  #newBucket(org: string, appId: string): Bucket {
    const counts = emptyUsage();
    const open = this.#open.get(org)?.get(appId);
    if (open) {
      counts.connectionsPeak = open.connections;
      counts.channelsPeak = open.channels;
    }
    return { org, appId, counts, dirty: false };
  }

  #opened(org: string, appId: string): Open {
    return ofApp(this.#open, org, appId, () => ({ connections: 0, channels: 0, since: this.#deps.clock.now() }));
  }

  #forgetIdle(org: string, appId: string, open: Open): void {
    if (open.connections > 0 || open.channels > 0) return;
    const apps = this.#open.get(org);
    apps?.delete(appId);
    if (apps?.size === 0) this.#open.delete(org);
  }

  /** Connection-minutes up to `until`, into the bucket. */
  #accrue(bucket: Bucket, open: Open, until: number): void {
    if (until > open.since) bucket.counts.connectionMinutes += (open.connections * (until - open.since)) / MINUTE;
    open.since = Math.max(open.since, until);
  }

  /** The minute is over (perhaps several): its buckets, connection-minutes to its end, wait for the store. */
  #rollover(now: number): void {
    while (now >= this.#minuteEnd) {
      for (const [org, apps] of this.#open) {
        for (const [appId, open] of apps) {
          if (open.connections > 0) this.#accrue(this.#currentBucket(org, appId), open, this.#minuteEnd);
        }
      }
      this.#take(this.#minuteStart);
      this.#minuteStart = this.#minuteEnd;
      this.#minuteEnd += MINUTE;
    }
  }

  /** Every dirty bucket of the minute starting at `start` goes to #ready; the minute's buckets are cleared. */
  #take(start: number): void {
    for (const apps of this.#current.values()) {
      for (const bucket of apps.values()) {
        if (bucket.dirty) this.#ready.push({ org: bucket.org, appId: bucket.appId, node: this.#deps.nodeId, resolution: 'minute', start, counts: bucket.counts });
      }
    }
    this.#current = new Map();
  }

  /**
   * Adds what this node counted to the store: finished minutes, and this minute so far (as a
   * delta; its peaks are kept, and the store takes the larger). One flush at a time.
   */
  flush(): Promise<void> {
    // A flush that fails unexpectedly is reported and the next one still runs: the chain never stays rejected.
    this.#flushing = this.#flushing.then(() => this.#flushOnce()).catch((err: unknown) => this.#deps.onError(err, 'could not flush usage analytics'));
    return this.#flushing;
  }

  async #flushOnce(): Promise<void> {
    const now = this.#deps.clock.now();
    if (now >= this.#minuteEnd) this.#rollover(now);
    for (const [org, apps] of this.#current) {
      for (const [appId, bucket] of apps) {
        if (!bucket.dirty) continue;
        const open = this.#open.get(org)?.get(appId);
        if (open) this.#accrue(bucket, open, now);
        this.#ready.push({ org, appId, node: this.#deps.nodeId, resolution: 'minute', start: this.#minuteStart, counts: bucket.counts });
        apps.set(appId, this.#newBucket(org, appId));
      }
    }
    if (this.#ready.length === 0) return;
    const records = this.#ready;
    this.#ready = [];
    try {
      await this.#deps.store.addUsage(records);
    } catch (err) {
      // Kept for the next flush: counts are lost only if the store stays down until shutdown.
      this.#ready = [...records, ...this.#ready];
      this.#deps.onError(err, 'could not write usage analytics; will retry');
    }
  }

  // ---- rollups: once for the cluster, on the leader

  lead(): void {
    this.#armRollup(Math.min(5_000, this.#deps.flushMs));
  }

  async follow(): Promise<void> {
    if (this.#rollups) clearTimeout(this.#rollups);
    this.#rollups = null;
    await this.#rolling;
  }

  #armRollup(delay: number): void {
    this.#rollups = setTimeout(() => {
      this.#rolling = this.rollUp()
        .catch((err: unknown) => this.#deps.onError(err, 'could not roll up usage analytics'))
        .finally(() => {
          this.#rolling = null;
          if (this.#rollups !== null) this.#armRollup(MINUTE);
        });
    }, delay);
    this.#rollups.unref();
  }

  /** Minutes older than two days (whole hours) into hours, hours older than thirty days (whole UTC days) into days; then the retention. */
  async rollUp(): Promise<void> {
    const now = this.#deps.clock.now();
    const store = this.#deps.store;
    const steps: [UsageResolution & ('minute' | 'hour'), number, UsageResolution][] = [
      ['minute', floor(now - MINUTES_KEPT_MS, HOUR), 'hour'],
      ['hour', floor(now - HOURS_KEPT_MS, DAY), 'day'],
    ];
    for (const [from, before, to] of steps) {
      while ((await store.rollUpUsage(from, before, ROLLUP_BATCH, (rows) => combine(rows, to))) === ROLLUP_BATCH) {
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    const expired = now - this.#deps.retentionMs;
    for (const resolution of ['minute', 'hour', 'day'] as const) await store.pruneUsage(resolution, expired);
  }

  // ---- reading

  /** An app's usage (or, with `appId` null, the org's), bucket by bucket, as `GET .../analytics` answers. */
  async query(org: string, appId: string | null, query: AnalyticsQuery): Promise<Analytics> {
    if (!this.#deps.enabled) throw new RelayError('conflict', 'usage analytics are off on this relayd', { hint: 'start relayd with --analytics on (RELAY_ANALYTICS=on)' });
    const now = this.#deps.clock.now();
    const until = query.until === undefined ? now : parseTimeBound(query.until, now, 'until');
    const since = query.since === undefined ? until - DAY : parseTimeBound(query.since, now, 'since');
    if (since >= until) throw new RelayError('invalid_request', `since (${iso(since)}) must be before until (${iso(until)})`);
    const by = query.by ?? pickResolution(until - since);
    const size = SIZE[by];
    const from = floor(since, size);
    const to = floor(until - 1, size) + size;
    const points = (to - from) / size;
    if (points > MAX_POINTS) {
      throw new RelayError('invalid_request', `that range is ${points} ${by}s; at most ${MAX_POINTS} buckets: ask for a coarser --by or a shorter range`);
    }
    const kept = by === 'minute' ? MINUTES_KEPT_MS : by === 'hour' ? HOURS_KEPT_MS : null;
    if (kept !== null && from < floor(now - kept, by === 'minute' ? HOUR : DAY)) {
      throw new RelayError('invalid_request', `${by}s are kept for ${formatDuration(kept)}, then rolled up: for an older range ask --by ${by === 'minute' ? 'hour' : 'day'}`);
    }
    // This node's own counts are in the answer at once; other nodes' within their flush interval.
    await this.flush();
    const resolutions: UsageResolution[] = by === 'day' ? ['minute', 'hour', 'day'] : by === 'hour' ? ['minute', 'hour'] : ['minute'];
    const rows = (await Promise.all(resolutions.map((r) => this.#deps.store.listUsage(org, appId, r, from, to)))).flat();
    const buckets = new Map<number, UsageCounts>();
    for (const counts of sideBySide(rows)) {
      const at = floor(counts.start, size);
      const held = buckets.get(at);
      buckets.set(at, held ? mergeUsageOverTime(held, counts.counts) : counts.counts);
    }
    const metrics = query.metrics ?? [...ANALYTICS_METRICS];
    const series: AnalyticsPoint[] = [];
    let total = emptyUsage();
    for (let at = from; at < to; at += size) {
      const counts = buckets.get(at) ?? emptyUsage();
      total = mergeUsageOverTime(total, counts);
      const point: AnalyticsPoint = { at: iso(at) };
      for (const metric of metrics) point[metric] = value(metric, counts, size / MINUTE);
      series.push(point);
    }
    const totals: Analytics['totals'] = {};
    for (const metric of metrics) totals[metric] = value(metric, total, (to - from) / MINUTE);
    return { org, app: appId, by, since: iso(from), until: iso(to), metrics, totals, series };
  }
}

/** The app's entry in an org → app map, made at need. */
function ofApp<T>(orgs: Map<string, Map<string, T>>, org: string, appId: string, make: () => T): T {
  let apps = orgs.get(org);
  if (!apps) {
    apps = new Map();
    orgs.set(org, apps);
  }
  let entry = apps.get(appId);
  if (entry === undefined) {
    entry = make();
    apps.set(appId, entry);
  }
  return entry;
}

/** The rows of one moment from several nodes (or apps) as one: peaks add. */
function sideBySide(rows: UsageRecord[]): { start: number; counts: UsageCounts }[] {
  const moments = new Map<string, { start: number; counts: UsageCounts }>();
  for (const row of rows) {
    const key = `${row.resolution}:${row.start}`;
    const held = moments.get(key);
    if (held) held.counts = mergeUsageSideBySide(held.counts, row.counts);
    else moments.set(key, { start: row.start, counts: row.counts });
  }
  return [...moments.values()];
}

/** A rollup step's rows, each app's added up across nodes at each moment, then over the coarser bucket. */
export function combine(rows: UsageRecord[], to: UsageResolution): UsageRecord[] {
  const byApp = new Map<string, UsageRecord[]>();
  for (const row of rows) {
    const key = `${row.org}\u0000${row.appId}`;
    byApp.set(key, [...(byApp.get(key) ?? []), row]);
  }
  const out: UsageRecord[] = [];
  for (const appRows of byApp.values()) {
    const { org, appId } = appRows[0] as UsageRecord;
    const buckets = new Map<number, UsageCounts>();
    for (const moment of sideBySide(appRows)) {
      const at = floor(moment.start, SIZE[to]);
      const held = buckets.get(at);
      buckets.set(at, held ? mergeUsageOverTime(held, moment.counts) : moment.counts);
    }
    for (const [start, counts] of buckets) out.push({ org, appId, node: '', resolution: to, start, counts });
  }
  return out;
}

/** A metric's value over a bucket of `minutes` minutes. */
function value(metric: AnalyticsMetric, c: UsageCounts, minutes: number): number | null {
  switch (metric) {
    case 'published':
      return c.publishedApi + c.publishedRest + c.publishedClient;
    case 'publishedApi':
    case 'publishedRest':
    case 'publishedClient':
    case 'delivered':
    case 'connectionsPeak':
    case 'channelsPeak':
    case 'agentAccepted':
    case 'agentRejected':
    case 'agentReplied':
    case 'agentFailed':
    case 'webhooksOk':
    case 'webhooksFailed':
    case 'rateLimited':
    case 'bytesIn':
    case 'bytesOut':
      return c[metric];
    case 'connectionsAvg':
      return Math.round((c.connectionMinutes / minutes) * 100) / 100;
    case 'agentLatencyP50':
      return percentile(c.agentLatency, 0.5);
    case 'agentLatencyP95':
      return percentile(c.agentLatency, 0.95);
    case 'agentLatencyP99':
      return percentile(c.agentLatency, 0.99);
  }
}

/**
 * A percentile from the latency histogram, interpolated within its bucket (as Prometheus's
 * histogram_quantile does); past the last bound, the last bound. Null with no events.
 */
export function percentile(histogram: number[], q: number): number | null {
  const count = histogram.reduce((a, b) => a + b, 0);
  if (count === 0) return null;
  const rank = q * count;
  const bounds: readonly number[] = USAGE_LATENCY_BOUNDS_MS;
  const last = bounds[bounds.length - 1] as number;
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    const n = histogram[i] ?? 0;
    if (n > 0 && seen + n >= rank) {
      if (i >= bounds.length) return last;
      const low = i === 0 ? 0 : (bounds[i - 1] as number);
      const high = bounds[i] as number;
      return Math.round(low + ((high - low) * (rank - seen)) / n);
    }
    seen += n;
  }
  return last;
}

/** Up to 6 hours: minutes; up to 14 days: hours; longer: days. */
function pickResolution(span: number): AnalyticsResolution {
  if (span <= 6 * HOUR) return 'minute';
  if (span <= 14 * DAY) return 'hour';
  return 'day';
}

function floor(at: number, size: number): number {
  return Math.floor(at / size) * size;
}

function iso(at: number): string {
  return new Date(at).toISOString();
}
