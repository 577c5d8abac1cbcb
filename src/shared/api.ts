import type { ChannelLimits } from './protocol/pusher.js';
import type { WebhookEventType } from './webhooks.js';
/**
 * The JSON shapes of the admin API and of `relay ... --json` (PRODUCT.md, "JSON shapes").
 * Times are ISO 8601 UTC strings; fields that can be unset are present as null.
 */
import type { RateLimitProfile } from './rate-limits.js';

export type AppStatus = 'active' | 'inactive';

export interface App {
  id: string;
  name: string;
  description: string | null;
  org: string;
  status: AppStatus;
  createdAt: string;
  connected: boolean;
  connections: number;
  lastConnectedAt: string | null;
  allowedAgents: string[];
  rateLimitProfile: RateLimitProfile;
  /** Open Pusher-protocol subscriber connections of the app (`connections` counts its relay-protocol ones). */
  channelConnections: number;
  /** Whether subscribers may send `client-` events. */
  clientEvents: boolean;
  /** Subscribers of non-presence channels get pusher:subscription_count, and webhooks subscription_count. */
  subscriptionCount: boolean;
  /** The channel limits in force: the app's own values, else the defaults. */
  channelLimits: ChannelLimits;
  /** When the token replaced by the last rotation stops working; null when none is in its grace period. */
  previousTokenValidUntil: string | null;
}

export interface Org {
  id: string;
  name: string;
  createdAt: string;
}

export type EventKind = 'agent' | 'channel';
export type EventStatus = 'pending' | 'delivered' | 'failed' | 'rejected';

export interface Event {
  id: string;
  kind: EventKind;
  appId: string;
  agent: string | null;
  thread: string | null;
  name: string | null;
  status: EventStatus;
  latencyMs: number | null;
  createdAt: string;
  /** The channels a `channel` event was published to; null for agent events. */
  channels: string[] | null;
}

/** One change in an event's life: `accepted`, `rejected`, `dispatched`, `replied`, `failed`, `delivered`, `acked`. */
export interface TimelineEntry {
  at: string;
  type: string;
  /** Facts of the change: attempt, connectionId, code... */
  [detail: string]: unknown;
}

export interface EventDetail extends Event {
  org: string;
  ref: string | null;
  attempt: number;
  payload: unknown;
  reply: unknown;
  error: { code: string; message: string } | null;
  /** Set when the key that sealed the payload and reply was retired: both read as null for good. */
  erased: { keyId: string; retiredAt: string | null } | null;
  timeline: TimelineEntry[];
}

export interface EventShow {
  event: EventDetail;
}

/** A line of `relay events tail`: what changed, and the event as it is after the change. */
export interface EventChange {
  /** The change's number, increasing; `?after=` resumes the stream after it. */
  seq: number;
  at: string;
  type: string;
  org: string;
  event: Event;
}

export interface AuditEntry {
  id: string;
  at: string;
  actor: string;
  action: string;
  org: string | null;
  targetType: string;
  targetId: string;
  details: Record<string, unknown>;
}

export interface StatusApp {
  id: string;
  org: string;
  name: string;
  status: AppStatus;
  connected: boolean;
  connections: number;
  /** Open Pusher-protocol subscriber connections. */
  channelConnections: number;
  lastConnectedAt: string | null;
}

/** A relayd sharing the store with the one asked, as of its latest heartbeat. */
export interface NodeStatus {
  id: string;
  url: string;
  version: string;
  /** 'memory' or 'redis'. */
  broker: string;
  startedAt: string;
  uptimeMs: number;
  connections: number;
  lastHeartbeatAt: string;
}

export interface DaemonStatus {
  status: 'ok';
  version: string;
  /** The id of the node that answered. */
  node: string;
  startedAt: string;
  uptimeMs: number;
  /** Open sockets on every node. */
  connections: number;
  /** Every live node, the one that answered first. */
  nodes: NodeStatus[];
  apps: StatusApp[];
  counters: {
    /** bcrypt comparisons made to verify app tokens since start (the credential cache keeps this low). */
    bcryptCompares: number;
    handshakesAccepted: number;
    handshakesRefused: number;
    /** Of those, refused (429) because the client address was over its limit of refused credentials, without verifying them. */
    handshakesRateLimited: number;
    /** Credentials refused on their format or checksum alone, before any lookup. */
    credentialsRefusedUnchecked: number;
  };
}

// Admin API answers.
export interface AppEnvelope { app: App }
export interface AppShow { app: App; recentEvents: Event[] }
export interface AppList { apps: App[] }
export interface AppRegistered { app: App; secret: string }
export interface AppRotated { app: App; secret: string; previousValidUntil: string }
/** deactivate/activate: `changed` is false when the app was already in that state. */
export interface AppStateChange { app: App; changed: boolean }
/**
 * An app or agent deleted (`changed` false: it was already, and nothing was to purge).
 * `historyKept`: its events are still in history; `purgedEvents`: how many went now.
 */
export interface Deleted { id: string; org: string; deletedAt: string; historyKept: boolean; purgedEvents: number; changed: boolean }
export interface AppCredentials { appId: string; key: string; secret: string }
export interface OrgList { orgs: Org[] }
export interface OrgEnvelope { org: Org }
export interface AuditList { entries: AuditEntry[] }

export type TokenStatus = 'active' | 'expired' | 'revoked';

export interface Token {
  id: string;
  appId: string;
  org: string;
  name: string;
  description: string | null;
  /** Empty: full access to its app. */
  scopes: string[];
  /** The limit in force: the token's own, or its app's default profile (`inherited`). */
  rateLimit: { profile: string; perMinute: number; burst: number; inherited: boolean };
  expiresAt: string | null;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  status: TokenStatus;
}

export interface TokenCreated { token: Token; secret: string }
export interface TokenEnvelope { token: Token }
export interface TokenList { tokens: Token[] }
/** revoke: `changed` is false when the token was revoked already. */
export interface TokenRevoked { token: Token; changed: boolean }

export interface EventList { events: Event[]; next: string | null }

export interface Agent {
  id: string;
  name: string;
  org: string;
  status: AppStatus;
  connected: boolean;
  connections: number;
  lastConnectedAt: string | null;
  /** How long the agent has to reply to an event before it fails with `timeout`. */
  timeoutMs: number;
  createdAt: string;
  previousTokenValidUntil: string | null;
  /** The schema (`APP/NAME`) every payload sent to it must match, or null. */
  schema: string | null;
}

export interface AgentRegistered { agent: Agent; secret: string }
export interface AgentEnvelope { agent: Agent }
export interface AgentList { agents: Agent[] }
export interface AgentRotated { agent: Agent; secret: string; previousValidUntil: string }
export interface AgentStateChange { agent: Agent; changed: boolean }
export interface AllowedAgents { appId: string; allowedAgents: string[] }

/** One open WebSocket: an app's or an agent's relay-protocol connection. */
export interface Connection {
  id: string;
  /** `channel`: a Pusher-protocol subscriber of the app. */
  role: 'app' | 'agent' | 'channel';
  org: string;
  /** The app or agent id. */
  ownerId: string;
  openedAt: string;
  remoteAddress: string | null;
  /** The Pusher socket id of a channel connection; null for the others. */
  socketId: string | null;
  /** The id of the relayd node that holds the socket. */
  node: string;
}

export interface ChannelSummary {
  name: string;
  /** Open subscriptions (connections) to the channel. */
  subscriptionCount: number;
  /** Distinct users of a presence channel; null for the others. */
  userCount: number | null;
}

export interface ChannelList {
  channels: ChannelSummary[];
}

export interface ConnectionList {
  connections: Connection[];
}

export interface ConnectionClosed {
  connection: Connection;
}

/** A webhook endpoint of an app. `events` empty: every type. `status` flags one that fails. */
export interface Webhook {
  id: string;
  appId: string;
  org: string;
  url: string;
  events: WebhookEventType[];
  createdAt: string;
  /** `new` (never called), `ok` (its last delivery attempt got a 2xx) or `failing`. */
  status: 'new' | 'ok' | 'failing';
  lastAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  /** Failed attempts since the last success. */
  failuresInRow: number;
}

export interface WebhookEnvelope {
  webhook: Webhook;
}

export interface WebhookList {
  webhooks: Webhook[];
}

export interface WebhookAttempt {
  at: string;
  /** The HTTP status, null when there was no answer (timeout, refused connection). */
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  /** The relayd node that made it (null for attempts logged before nodes were recorded). */
  node: string | null;
}

/** One POST body (a batch of events) and every attempt to deliver it. */
export interface WebhookDelivery {
  id: string;
  webhookId: string;
  status: 'pending' | 'delivered' | 'failed';
  createdAt: string;
  /** The event names in the body, in order. */
  events: WebhookEventType[];
  /** The channels the body's events are about, each once, in order (none for the relay's own events). */
  channels: string[];
  nextAttemptAt: string | null;
  attempts: WebhookAttempt[];
}

export interface WebhookDeliveryList {
  deliveries: WebhookDelivery[];
}

// ---- channel rules (issue 18) ----

/** Settings for the channels a pattern matches; a null setting inherits the app's (or relayd's). */
export interface ChannelRule {
  id: string;
  appId: string;
  /** An exact channel name, or a prefix ending in `*`. */
  pattern: string;
  /** A schema's name: the events published to these channels must match it. */
  schema: string | null;
  /** The one event name the schema applies to; null: every event. */
  schemaEvent: string | null;
  clientEvents: boolean | null;
  /** false: events are delivered but not written to history. */
  history: boolean | null;
  /** How long these channels' events stay in history. */
  retentionMs: number | null;
  /** Distinct users in one presence channel. */
  maxMembers: number | null;
  createdAt: string;
  updatedAt: string;
}

export interface ChannelRuleEnvelope {
  rule: ChannelRule;
}

export interface ChannelRuleList {
  rules: ChannelRule[];
}

/** The settings a channel gets: its rule's, and the app's (or relayd's) where the rule sets none. */
export interface EffectiveChannelSettings {
  schema: string | null;
  schemaEvent: string | null;
  clientEvents: boolean;
  history: boolean;
  retentionMs: number;
  maxMembers: number;
}

/** `relay channels rules test`: which rule applies to a channel, and why. */
export interface ChannelRuleTest {
  channel: string;
  rule: ChannelRule | null;
  reason: string;
  considered: { ruleId: string; pattern: string; matches: boolean; why: string }[];
  effective: EffectiveChannelSettings;
}

// ---- encryption keys (issue 18) ----

/** An app's encryption key, never its bytes. `active`: seals new data; `decrypt-only`: reads what it sealed; `retired`: destroyed. */
export interface EncryptionKey {
  id: string;
  appId: string;
  state: 'active' | 'decrypt-only' | 'retired';
  createdAt: string;
  rotatedAt: string | null;
  retiredAt: string | null;
}

/** `keys create` / `keys rotate`: the key's 32 bytes in base64, shown this once. */
export interface EncryptionKeyCreated {
  key: EncryptionKey;
  secret: string;
}

export interface EncryptionKeyList {
  keys: EncryptionKey[];
}

export interface EncryptionKeyRetired {
  key: EncryptionKey;
  /** False when it was retired already. */
  changed: boolean;
}
// ---- event schemas (issue 18) ----

/** One error of data against its schema: where (a JSON pointer, "" for the whole) and what. */
export interface SchemaViolationError {
  pointer: string;
  message: string;
}

/**
 * An app's JSON Schema. `version` is the one shown (the latest, or the one asked for);
 * `versions` how many there are. `usedBy` names what validates against it (`agent:ID`).
 * `document` is null in lists.
 */
export interface EventSchema {
  name: string;
  appId: string;
  org: string;
  version: number;
  versions: number;
  createdAt: string;
  updatedAt: string;
  createdBy: string;
  usedBy: string[];
  document: unknown;
}
export interface SchemaEnvelope { schema: EventSchema }
export interface SchemaList { schemas: EventSchema[] }
export interface SchemaRemoved { schema: EventSchema; removed: true; unbound: string[] }

// ---- edge functions (issue 19) ----

export type FunctionTrigger = 'before-publish' | 'after-publish' | 'before-dispatch';
export type FunctionLogLevel = 'log' | 'info' | 'warn' | 'error' | 'failure' | 'timeout';

/**
 * An app's edge function. `version` is the one shown (the active one, or the one asked for);
 * `active` the one that runs; `latest` the newest deployed. `order` is its place among the
 * app's functions on its trigger (1 runs first). `source` is null in lists. Stats are summed
 * over every node and every version.
 */
export interface EdgeFunction {
  name: string;
  appId: string;
  org: string;
  version: number;
  active: number;
  latest: number;
  versions: number;
  trigger: FunctionTrigger;
  /** An exact channel name or a prefix ending in `*`; null: every channel (or, before-dispatch, not used). */
  channels: string | null;
  event: string | null;
  agent: string | null;
  timeoutMs: number;
  memoryMb: number;
  onError: 'reject' | 'pass';
  order: number;
  createdAt: string;
  /** When the version shown was deployed, and by whom. */
  deployedAt: string;
  deployedBy: string;
  stats: { calls: number; failures: number; timeouts: number; dropped: number; lastFailureAt: string | null };
  source: string | null;
}
export interface FunctionEnvelope { function: EdgeFunction }
export interface FunctionList { functions: EdgeFunction[] }
export interface FunctionRemoved { function: EdgeFunction; removed: true }

/** A line a function printed with console.*, or one of its calls failing (`failure`, `timeout`). */
export interface FunctionLogLine {
  seq: number;
  at: string;
  node: string;
  version: number;
  level: FunctionLogLevel;
  message: string;
}
/** A page of a function's log, oldest first; `after` is the seq to ask after for the next lines. */
export interface FunctionLogs { logs: FunctionLogLine[]; after: number | null }

/**
 * One run of a function on a given event, with nothing published or dispatched:
 * `passed` (returned the event unchanged), `changed`, `dropped` (returned null) or
 * `failed` (with `error`; `onError` says what a real call would then do). `result` is the
 * event as it would go on (null when dropped or failed); `publishes` what an after-publish
 * function would publish.
 */
export interface FunctionTestResult {
  function: { name: string; version: number; trigger: FunctionTrigger; onError: 'reject' | 'pass' };
  outcome: 'passed' | 'changed' | 'dropped' | 'failed';
  result: unknown;
  publishes: { channel: string; event: string; data: unknown }[];
  logs: { level: 'log' | 'info' | 'warn' | 'error'; message: string }[];
  error: { kind: 'timeout' | 'memory' | 'error' | 'invalid-return'; message: string } | null;
  durationMs: number;
}

// ---- usage analytics (issue 20) ----

/**
 * The series `GET .../analytics` gives, by name. Sums over a bucket, except the peaks (the
 * most at once), `connectionsAvg` (the average number open over the bucket) and the agent
 * latency percentiles (ms, from acceptance to reply or failure; null with no such events).
 */
export const ANALYTICS_METRICS = [
  'published',
  'publishedApi',
  'publishedRest',
  'publishedClient',
  'delivered',
  'connectionsPeak',
  'connectionsAvg',
  'channelsPeak',
  'agentAccepted',
  'agentRejected',
  'agentReplied',
  'agentFailed',
  'agentLatencyP50',
  'agentLatencyP95',
  'agentLatencyP99',
  'webhooksOk',
  'webhooksFailed',
  'rateLimited',
  'bytesIn',
  'bytesOut',
] as const;
export type AnalyticsMetric = (typeof ANALYTICS_METRICS)[number];
export type AnalyticsResolution = 'minute' | 'hour' | 'day';

/** One bucket of the series: `at` is its start; then every metric asked for, always present. */
export type AnalyticsPoint = { at: string } & { [metric in AnalyticsMetric]?: number | null };

/**
 * An app's usage (or, with `app` null, its organization's, every app added up) from `since`
 * to `until`, bucket by bucket: every bucket in the range is in `series`, those without
 * traffic with zeros. `totals` are over the whole range: sums, the largest peak, the average
 * over the range, percentiles of every agent event in it.
 */
export interface Analytics {
  org: string;
  app: string | null;
  by: AnalyticsResolution;
  since: string;
  until: string;
  metrics: AnalyticsMetric[];
  totals: { [metric in AnalyticsMetric]?: number | null };
  series: AnalyticsPoint[];
}
export interface AnalyticsEnvelope { analytics: Analytics }
