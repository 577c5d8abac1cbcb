import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { USAGE_LATENCY_BOUNDS_MS } from '../store/store.js';
import type { AgentEventOutcome, ConnectionKind, PublishSource, Usage } from '../core/usage.js';

/** The `app` label of the apps past the cap. */
export const OTHER_APPS = '_other';

/** What the node reads at scrape time, from the parts that already keep it. */
export interface NodeReadings {
  /** Subscriptions of this node's sockets. */
  subscriptions(): number;
  brokerAvailable(): boolean;
}

export interface PrometheusOptions {
  node: string;
  /** Apps named in the `app` label; the others count as OTHER_APPS. */
  maxApps: number;
  readings: NodeReadings;
  /** Told once, the first time an app goes past the cap. */
  warn(fields: Record<string, unknown>, message: string): void;
}

type Labels<K extends string> = Partial<Record<K, string | number>>;

/**
 * One app's label sets, made once when the app is first seen: prom-client hashes the labels
 * it is given at every call, but they need not be built again at every call.
 */
interface AppLabels {
  app: Labels<'app'>;
  published: Record<PublishSource, Labels<'app' | 'source'>>;
  bytesIn: Labels<'app' | 'direction'>;
  bytesOut: Labels<'app' | 'direction'>;
  connections: Record<ConnectionKind, Labels<'app' | 'kind'>>;
  agentEvents: Record<AgentEventOutcome, Labels<'app' | 'outcome'>>;
  webhookOk: Labels<'app' | 'result'>;
  webhookFailed: Labels<'app' | 'result'>;
}

function labelsOf(app: string): AppLabels {
  return {
    app: { app },
    published: { api: { app, source: 'api' }, rest: { app, source: 'rest' }, client: { app, source: 'client' } },
    bytesIn: { app, direction: 'in' },
    bytesOut: { app, direction: 'out' },
    connections: { pusher: { app, kind: 'pusher' }, relay: { app, kind: 'relay' } },
    agentEvents: { accepted: { app, outcome: 'accepted' }, rejected: { app, outcome: 'rejected' }, replied: { app, outcome: 'replied' }, failed: { app, outcome: 'failed' } },
    webhookOk: { app, result: 'ok' },
    webhookFailed: { app, result: 'failed' },
  };
}

/**
 * relayd's Prometheus metrics (`--metrics-port`): a Usage listener counting per app, plus
 * the node's own figures. Everything is in a Registry of its own (never prom-client's
 * global one), with `node` on every series as a default label.
 *
 * The `app` label is the app id (`org/appId` outside the default org). Its values are
 * capped: the first `maxApps` apps seen keep their name for the life of the process, and
 * every later one counts as `_other`, so that a gauge's ups and downs always land on the
 * same series.
 */
export class PrometheusMetrics implements Usage {
  readonly registry = new Registry();
  readonly #options: PrometheusOptions;
  /** org → appId → its labels; named apps and the ones folded into _other alike, so each is looked up once. */
  readonly #apps = new Map<string, Map<string, AppLabels>>();
  #named = 0;
  #other: AppLabels | null = null;

  readonly #published: Counter<'app' | 'source'>;
  readonly #delivered: Counter<'app'>;
  readonly #bytes: Counter<'app' | 'direction'>;
  readonly #connections: Gauge<'app' | 'kind'>;
  readonly #channels: Gauge<'app'>;
  readonly #agentEvents: Counter<'app' | 'outcome'>;
  readonly #agentBytes: Counter<'app' | 'direction'>;
  readonly #agentLatency: Histogram<'app'>;
  readonly #webhookAttempts: Counter<'app' | 'result'>;
  readonly #rateLimited: Counter<'app'>;
  readonly #batchSize: Histogram;
  readonly #batchDuration: Histogram;
  readonly #batchErrors: Counter;
  readonly #brokerErrors: Counter;

  constructor(options: PrometheusOptions) {
    this.#options = options;
    const registers = [this.registry];
    this.registry.setDefaultLabels({ node: options.node });
    this.#published = new Counter({ name: 'relay_messages_published_total', help: 'Channel messages published, one per channel, by where they came in (api, rest, client).', labelNames: ['app', 'source'], registers });
    this.#delivered = new Counter({ name: 'relay_messages_delivered_total', help: "Messages sent to this node's channel subscribers.", labelNames: ['app'], registers });
    this.#bytes = new Counter({ name: 'relay_message_bytes_total', help: 'Payload bytes of channel messages: published (in) and sent to subscribers (out).', labelNames: ['app', 'direction'], registers });
    this.#connections = new Gauge({ name: 'relay_connections', help: 'Open connections on this node: Pusher subscribers, and apps and agents on the relay protocol.', labelNames: ['app', 'kind'], registers });
    this.#channels = new Gauge({ name: 'relay_channels_occupied', help: 'Channels with at least one subscriber on this node.', labelNames: ['app'], registers });
    this.#agentEvents = new Counter({ name: 'relay_agent_events_total', help: 'Agent events by outcome: accepted, rejected at the door, replied, failed.', labelNames: ['app', 'outcome'], registers });
    this.#agentBytes = new Counter({ name: 'relay_agent_event_bytes_total', help: 'Payload bytes of agent events taken in (in) and of their replies (out).', labelNames: ['app', 'direction'], registers });
    this.#agentLatency = new Histogram({
      name: 'relay_agent_event_latency_seconds',
      help: 'Agent events from acceptance to reply or failure.',
      labelNames: ['app'],
      buckets: USAGE_LATENCY_BOUNDS_MS.map((ms) => ms / 1000),
      registers,
    });
    this.#webhookAttempts = new Counter({ name: 'relay_webhook_attempts_total', help: 'Webhook delivery attempts, by whether the endpoint took them (ok: 2xx).', labelNames: ['app', 'result'], registers });
    this.#rateLimited = new Counter({ name: 'relay_rate_limited_total', help: 'Requests and frames refused for their rate limit.', labelNames: ['app'], registers });

    const { readings } = options;
    new Gauge({
      name: 'relay_subscriptions',
      help: "Channel subscriptions of this node's sockets.",
      registers,
      collect() {
        this.set(readings.subscriptions());
      },
    });
    new Gauge({
      name: 'relay_broker_up',
      help: 'Whether the broker can pass publications now (1) or is unreachable (0).',
      registers,
      collect() {
        this.set(readings.brokerAvailable() ? 1 : 0);
      },
    });
    this.#brokerErrors = new Counter({ name: 'relay_broker_errors_total', help: 'Times the broker became unreachable (an outage counts once, however long).', registers });
    this.#batchSize = new Histogram({ name: 'relay_store_write_batch_size', help: 'Rows of history written per group commit.', buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], registers });
    this.#batchDuration = new Histogram({
      name: 'relay_store_write_batch_duration_seconds',
      help: 'How long the store took to commit one group of history writes.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.#batchErrors = new Counter({ name: 'relay_store_write_batch_errors_total', help: 'Group commits of history that the store refused.', registers });
    collectDefaultMetrics({ register: this.registry, prefix: 'relay_' });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition of every metric. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  #labels(org: string, appId: string): AppLabels {
    let apps = this.#apps.get(org);
    if (!apps) {
      apps = new Map();
      this.#apps.set(org, apps);
    }
    let labels = apps.get(appId);
    if (labels) return labels;
    if (this.#named < this.#options.maxApps) {
      this.#named++;
      labels = labelsOf(org === 'default' ? appId : `${org}/${appId}`);
    } else {
      if (!this.#other) {
        this.#other = labelsOf(OTHER_APPS);
        this.#options.warn({ maxApps: this.#options.maxApps }, `over ${this.#options.maxApps} apps in the metrics (--metrics-max-apps): the ones past it count together as app="${OTHER_APPS}"`);
      }
      labels = this.#other;
    }
    apps.set(appId, labels);
    return labels;
  }

  // ---- Usage ----

  published(org: string, appId: string, source: PublishSource, messages: number, bytes: number): void {
    const labels = this.#labels(org, appId);
    this.#published.inc(labels.published[source], messages);
    this.#bytes.inc(labels.bytesIn, bytes);
  }

  delivered(org: string, appId: string, messages: number, bytes: number): void {
    const labels = this.#labels(org, appId);
    this.#delivered.inc(labels.app, messages);
    this.#bytes.inc(labels.bytesOut, bytes);
  }

  connection(org: string, appId: string, kind: ConnectionKind, change: 1 | -1): void {
    this.#connections.inc(this.#labels(org, appId).connections[kind], change);
  }

  channel(org: string, appId: string, change: 1 | -1): void {
    this.#channels.inc(this.#labels(org, appId).app, change);
  }

  agentEvent(org: string, appId: string, outcome: AgentEventOutcome, latencyMs: number | null, bytes: number): void {
    const labels = this.#labels(org, appId);
    this.#agentEvents.inc(labels.agentEvents[outcome]);
    if (bytes > 0) this.#agentBytes.inc(outcome === 'accepted' ? labels.bytesIn : labels.bytesOut, bytes);
    if (latencyMs !== null) this.#agentLatency.observe(labels.app, latencyMs / 1000);
  }

  webhookAttempt(org: string, appId: string, ok: boolean): void {
    const labels = this.#labels(org, appId);
    this.#webhookAttempts.inc(ok ? labels.webhookOk : labels.webhookFailed);
  }

  rateLimited(org: string, appId: string): void {
    this.#rateLimited.inc(this.#labels(org, appId).app);
  }

  // ---- the node's own ----

  /** One group commit of history (EventLog's batch observer). */
  storeBatch(writes: number, seconds: number, ok: boolean): void {
    if (!ok) {
      this.#batchErrors.inc();
      return;
    }
    this.#batchSize.observe(writes);
    this.#batchDuration.observe(seconds);
  }

  /** The broker became unreachable. */
  brokerError(): void {
    this.#brokerErrors.inc();
  }
}
