import { ANALYTICS_METRICS, type AnalyticsMetric, type AnalyticsResolution } from '../../../shared/api.js';
import { parseTimeBound } from '../../../shared/duration.js';
import { closest } from '../../../shared/environment.js';
import { RelayError } from '../../../shared/errors.js';
import type { AnalyticsQueryParams } from '../../../client/http.js';
import type { Context } from '../../context.js';
import { chart, column, fmt, line, print, styles, table, time } from '../../output.js';
import { checkId } from '../checks.js';
import { renderCharts, summaryRows } from './render.js';

export interface Options {
  org: string;
  app: string | undefined;
  since: string;
  until: string | undefined;
  by: string | undefined;
  metrics: string[];
}

const RESOLUTIONS: readonly AnalyticsResolution[] = ['minute', 'hour', 'day'];

/**
 * The flags as relayd's query, checked before any request (exit 2). `since` and `until` go
 * as given, so that relayd's clock, not this machine's, says what `24h` means; `now` only
 * checks that they make a range.
 */
export function analyticsQuery(opts: Options, now: number): AnalyticsQueryParams {
  checkId(opts.org, 'organization id');
  if (opts.app !== undefined) checkId(opts.app, 'app id');
  const since = parseTimeBound(opts.since, now, '--since');
  const until = opts.until === undefined ? now : parseTimeBound(opts.until, now, '--until');
  if (since >= until) {
    throw new RelayError('invalid_request', `--since ${opts.since.trim()} is not before --until ${opts.until?.trim() ?? '(now)'}`, { hint: 'give --since the earlier time' });
  }
  const by = RESOLUTIONS.find((r) => r === opts.by);
  if (opts.by !== undefined && by === undefined) throw new RelayError('invalid_request', `invalid --by "${opts.by}": use minute, hour or day`);
  const metrics = [...new Set(opts.metrics.map(checkMetric))];
  return {
    app: opts.app,
    since: opts.since.trim(),
    until: opts.until?.trim(),
    by,
    metrics: metrics.length === 0 ? undefined : metrics,
  };
}

export function checkMetric(name: string): AnalyticsMetric {
  const metric = ANALYTICS_METRICS.find((m) => m === name);
  if (metric !== undefined) return metric;
  const guess = closest(name, ANALYTICS_METRICS);
  throw new RelayError('invalid_request', `unknown --metric "${name}"${guess === null ? '' : `: did you mean ${guess}?`}`, { hint: `the metrics: ${ANALYTICS_METRICS.join(', ')}` });
}

export async function run(opts: Options, ctx: Context): Promise<void> {
  const query = analyticsQuery(opts, Date.now());
  const result = await (await ctx.client()).analytics(opts.org, query);
  await print(ctx, {
    json: result,
    human: async () => {
      const a = result.analytics;
      const s = await styles(ctx);
      const subject = a.app === null ? fmt`org ${a.org}, every app added up` : fmt`app ${a.app} (org ${a.org})`;
      line(ctx, fmt`${s.bold(subject)}  ${time(ctx, a.since, 'date')} to ${time(ctx, a.until, 'date')}, by ${a.by}`);
      line(ctx);
      await table(ctx, [column.id('METRIC'), column.fixed('TOTAL'), column.text('WHAT')], summaryRows(a, !ctx.io.isStdoutTTY));
      const charts = renderCharts(a, { width: ctx.io.width, color: ctx.io.color, ...(query.metrics === undefined ? {} : { metrics: query.metrics }) });
      if (charts.length === 0) return;
      line(ctx);
      chart(ctx, charts);
    },
  });
}
