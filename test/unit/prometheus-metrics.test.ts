import type { MetricFamily } from 'parse-prometheus-text-format';
import { describe, expect, it } from 'vitest';
import { PrometheusMetrics } from '../../daemon/metrics/prometheus.js';
import { parseMetrics, samples } from '../helpers/metrics.js';

function metricsWith(maxApps: number, readings = { subscriptions: () => 0, brokerAvailable: () => true }): { metrics: PrometheusMetrics; warnings: string[] } {
  const warnings: string[] = [];
  const metrics = new PrometheusMetrics({ node: 'n1', maxApps, readings, warn: (_fields, message) => warnings.push(message) });
  return { metrics, warnings };
}

async function scrape(metrics: PrometheusMetrics): Promise<MetricFamily[]> {
  return parseMetrics(await metrics.metrics());
}

describe('PrometheusMetrics', () => {
  it('counts usage per app, named org/app outside the default org, with the node on every series', async () => {
    const { metrics } = metricsWith(10);
    metrics.published('default', 'shop', 'api', 3, 30);
    metrics.published('default', 'shop', 'client', 1, 5);
    metrics.published('acme', 'shop', 'rest', 2, 20);
    metrics.delivered('default', 'shop', 4, 40);
    metrics.connection('default', 'shop', 'pusher', 1);
    metrics.connection('default', 'shop', 'pusher', 1);
    metrics.connection('default', 'shop', 'pusher', -1);
    metrics.channel('acme', 'shop', 1);
    metrics.agentEvent('default', 'shop', 'replied', 120, 9);
    metrics.webhookAttempt('default', 'shop', false);
    metrics.rateLimited('acme', 'shop');
    const families = await scrape(metrics);
    expect(samples(families, 'relay_messages_published_total')).toEqual({
      'app=shop,node=n1,source=api': 3,
      'app=shop,node=n1,source=client': 1,
      'app=acme/shop,node=n1,source=rest': 2,
    });
    expect(samples(families, 'relay_message_bytes_total')).toEqual({ 'app=shop,direction=in,node=n1': 35, 'app=acme/shop,direction=in,node=n1': 20, 'app=shop,direction=out,node=n1': 40 });
    expect(samples(families, 'relay_messages_delivered_total')).toEqual({ 'app=shop,node=n1': 4 });
    expect(samples(families, 'relay_connections')).toEqual({ 'app=shop,kind=pusher,node=n1': 1 });
    expect(samples(families, 'relay_channels_occupied')).toEqual({ 'app=acme/shop,node=n1': 1 });
    expect(samples(families, 'relay_agent_events_total')).toEqual({ 'app=shop,node=n1,outcome=replied': 1 });
    expect(samples(families, 'relay_agent_event_latency_seconds_count')).toEqual({ 'app=shop,node=n1': 1 });
    expect(samples(families, 'relay_agent_event_latency_seconds_sum')).toEqual({ 'app=shop,node=n1': 0.12 });
    expect(samples(families, 'relay_agent_event_latency_seconds_bucket')).toMatchObject({ 'app=shop,le=0.1,node=n1': 0, 'app=shop,le=0.25,node=n1': 1 });
    expect(samples(families, 'relay_webhook_attempts_total')).toEqual({ 'app=shop,node=n1,result=failed': 1 });
    expect(samples(families, 'relay_rate_limited_total')).toEqual({ 'app=acme/shop,node=n1': 1 });
  });

  it('names the first maxApps apps and counts the rest as _other, warning once', async () => {
    const { metrics, warnings } = metricsWith(2);
    for (const app of ['a', 'b', 'c', 'd']) metrics.published('default', app, 'api', 1, 1);
    // An app named before the cap keeps its name; one folded into _other stays there.
    metrics.published('default', 'a', 'api', 1, 1);
    metrics.connection('default', 'c', 'relay', 1);
    metrics.connection('default', 'd', 'relay', 1);
    metrics.connection('default', 'c', 'relay', -1);
    expect(samples(await scrape(metrics), 'relay_messages_published_total')).toEqual({
      'app=a,node=n1,source=api': 2,
      'app=b,node=n1,source=api': 1,
      'app=_other,node=n1,source=api': 2,
    });
    expect(samples(await scrape(metrics), 'relay_connections')).toEqual({ 'app=_other,kind=relay,node=n1': 1 });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/--metrics-max-apps/);
  });

  it('reads the node\'s figures when scraped, and keeps them in a registry of its own', async () => {
    let subscriptions = 3;
    const { metrics } = metricsWith(1, { subscriptions: () => subscriptions, brokerAvailable: () => false });
    metrics.storeBatch(7, 0.002, true);
    metrics.storeBatch(3, 0.5, false);
    metrics.brokerError();
    let families = await scrape(metrics);
    expect(samples(families, 'relay_subscriptions')).toEqual({ 'node=n1': 3 });
    expect(samples(families, 'relay_broker_up')).toEqual({ 'node=n1': 0 });
    expect(samples(families, 'relay_broker_errors_total')).toEqual({ 'node=n1': 1 });
    expect(samples(families, 'relay_store_write_batch_size_count')).toEqual({ 'node=n1': 1 });
    expect(samples(families, 'relay_store_write_batch_errors_total')).toEqual({ 'node=n1': 1 });
    expect(families.some((f) => f.name === 'relay_nodejs_eventloop_lag_seconds')).toBe(true);
    subscriptions = 5;
    families = await scrape(metrics);
    expect(samples(families, 'relay_subscriptions')).toEqual({ 'node=n1': 5 });
    // A second instance (another relayd in the same process, as in tests) does not collide.
    expect(() => metricsWith(1)).not.toThrow();
  });
});
