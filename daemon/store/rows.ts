import type { RateLimitProfile } from '../../src/shared/rate-limits.js';
import type { AppStatus, EventKind, EventStatus } from '../../src/shared/api.js';
import type { WebhookEventType } from '../../src/shared/webhooks.js';
import type {
  AgentRecord,
  AgentTokenRecord,
  SchemaRecord,
  SchemaVersionRecord,
  ApiTokenRecord,
  AppRecord,
  AppTokenRecord,
  AuditRecord,
  ChangeRecord,
  ChannelRulePatch,
  ChannelRuleRecord,
  DeletedAppRecord,
  DeliveryStatus,
  EncryptionKeyRecord,
  EncryptionKeyState,
  EventRecord,
  FunctionLogLevel,
  FunctionLogRecord,
  FunctionRecord,
  FunctionTrigger,
  FunctionVersionRecord,
  NodeRecord,
  TimelineRecord,
  UsageRecord,
  UsageResolution,
  WebhookAttemptRecord,
  WebhookDeliveryRecord,
  WebhookRecord,
} from './store.js';
import { usageFromJson } from './usage.js';

// The rows as both SQL drivers read them (the tables have the same columns in SQLite and
// PostgreSQL), and the Store's records made from them.

/** SQLite has no boolean type: the column holds 0 or 1, where PostgreSQL gives a boolean. */
type Flag = number | boolean;
const flag = (value: Flag): boolean => value === true || value === 1;

export interface AppRow {
  org: string;
  id: string;
  name: string;
  description: string | null;
  status: AppStatus;
  created_at: number;
  last_connected_at: number | null;
  rate_limit_profile: RateLimitProfile;
  channel_key: string;
  channel_secret_enc: string;
  client_events: Flag;
  subscription_count: Flag;
  channel_limits: string;
}

export interface NodeRow {
  id: string;
  url: string;
  broker: string;
  version: string;
  started_at: number;
  heartbeat_at: number;
  connections: number;
}

export interface AppTokenRow {
  id: string;
  org: string;
  app_id: string;
  lookup_id: string | null;
  hash: string;
  created_at: number;
  valid_until: number | null;
}

export interface AuditRow {
  id: string;
  at: number;
  actor: string;
  action: string;
  org: string | null;
  target_type: string;
  target_id: string;
  details: string;
}

export interface ApiTokenRow {
  id: string;
  org: string;
  app_id: string;
  name: string;
  description: string | null;
  scopes: string;
  rate_limit: string | null;
  hash: string;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface EventRow {
  id: string;
  org: string;
  app_id: string;
  kind: EventKind;
  agent: string | null;
  thread: string | null;
  name: string | null;
  status: EventStatus;
  channels: string | null;
  payload: string | null;
  socket_id: string | null;
  latency_ms: number | null;
  created_at: number;
  ref: string | null;
  attempt: number;
  reply: string | null;
  error: string | null;
  outcome_at: number | null;
  acked_at: number | null;
  key_id: string | null;
}

export interface TimelineRow {
  seq: number;
  at: number;
  type: string;
  detail: string | null;
  status: EventStatus;
  latency_ms: number | null;
}

/** A timeline row with the columns of its event that a change carries. */
export type ChangeRow = Omit<TimelineRow, 'detail'> &
  Pick<EventRow, 'id' | 'org' | 'app_id' | 'kind' | 'agent' | 'thread' | 'name' | 'channels' | 'created_at'>;

export interface AgentRow {
  org: string;
  id: string;
  name: string;
  status: AppStatus;
  timeout_ms: number;
  created_at: number;
  last_connected_at: number | null;
  schema_app_id: string | null;
  schema_name: string | null;
}

export interface AgentTokenRow {
  id: string;
  org: string;
  agent_id: string;
  hash: string;
  created_at: number;
  valid_until: number | null;
}

export interface DeletedAppRow {
  org: string;
  id: string;
  name: string;
  deleted_at: number;
  purged_at: number | null;
}

export interface WebhookRow {
  id: string;
  org: string;
  app_id: string;
  url: string;
  events: string;
  created_at: number;
  last_attempt_at: number | null;
  last_status_code: number | null;
  last_error: string | null;
  failures_in_row: number;
}

export interface DeliveryRow {
  id: string;
  webhook_id: string;
  body: string;
  event_names: string;
  created_at: number;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: number | null;
  settled_at: number | null;
  claimed_by: string | null;
  claimed_until: number | null;
}

export interface AttemptRow {
  delivery_id: string;
  at: number;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
  node: string | null;
}

export const toApp = (row: AppRow): AppRecord => ({
  org: row.org,
  id: row.id,
  name: row.name,
  description: row.description,
  status: row.status,
  createdAt: row.created_at,
  lastConnectedAt: row.last_connected_at,
  rateLimitProfile: row.rate_limit_profile,
  channelKey: row.channel_key,
  channelSecretEnc: row.channel_secret_enc,
  clientEvents: flag(row.client_events),
  subscriptionCount: flag(row.subscription_count),
  channelLimits: JSON.parse(row.channel_limits) as AppRecord['channelLimits'],
});

export const toNode = (row: NodeRow): NodeRecord => ({
  id: row.id,
  url: row.url,
  broker: row.broker,
  version: row.version,
  startedAt: row.started_at,
  heartbeatAt: row.heartbeat_at,
  connections: row.connections,
});

export const toAppToken = (row: AppTokenRow): AppTokenRecord => ({
  id: row.id,
  org: row.org,
  appId: row.app_id,
  lookupId: row.lookup_id,
  hash: row.hash,
  createdAt: row.created_at,
  validUntil: row.valid_until,
});

export const toAudit = (row: AuditRow): AuditRecord => ({
  id: row.id,
  at: row.at,
  actor: row.actor,
  action: row.action,
  org: row.org,
  targetType: row.target_type,
  targetId: row.target_id,
  details: JSON.parse(row.details) as Record<string, unknown>,
});

export const toApiToken = (row: ApiTokenRow): ApiTokenRecord => ({
  id: row.id,
  org: row.org,
  appId: row.app_id,
  name: row.name,
  description: row.description,
  scopes: JSON.parse(row.scopes) as string[],
  rateLimit: row.rate_limit === null ? null : (JSON.parse(row.rate_limit) as ApiTokenRecord['rateLimit']),
  hash: row.hash,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  lastUsedAt: row.last_used_at,
  revokedAt: row.revoked_at,
});

export const toEvent = (row: EventRow): EventRecord => ({
  id: row.id,
  org: row.org,
  appId: row.app_id,
  kind: row.kind,
  agent: row.agent,
  thread: row.thread,
  name: row.name,
  status: row.status,
  channels: row.channels === null ? null : (JSON.parse(row.channels) as string[]),
  payload: row.payload,
  socketId: row.socket_id,
  latencyMs: row.latency_ms,
  createdAt: row.created_at,
  ref: row.ref,
  attempt: row.attempt,
  reply: row.reply,
  error: row.error,
  outcomeAt: row.outcome_at,
  ackedAt: row.acked_at,
  keyId: row.key_id,
});

export const toTimeline = (row: TimelineRow): TimelineRecord => ({
  seq: row.seq,
  at: row.at,
  type: row.type,
  detail: row.detail === null ? null : (JSON.parse(row.detail) as Record<string, unknown>),
  status: row.status,
  latencyMs: row.latency_ms,
});

export const toChange = (row: ChangeRow): ChangeRecord => ({
  seq: row.seq,
  at: row.at,
  type: row.type,
  status: row.status,
  latencyMs: row.latency_ms,
  event: {
    id: row.id,
    org: row.org,
    appId: row.app_id,
    kind: row.kind,
    agent: row.agent,
    thread: row.thread,
    name: row.name,
    channels: row.channels === null ? null : (JSON.parse(row.channels) as string[]),
    createdAt: row.created_at,
  },
});

export const toAgent = (row: AgentRow): AgentRecord => ({
  org: row.org,
  id: row.id,
  name: row.name,
  status: row.status,
  timeoutMs: row.timeout_ms,
  createdAt: row.created_at,
  lastConnectedAt: row.last_connected_at,
  schema: row.schema_app_id === null || row.schema_name === null ? null : { appId: row.schema_app_id, name: row.schema_name },
});

// ---- event schemas (issue 18) ----

export interface SchemaVersionRow {
  org: string;
  app_id: string;
  name: string;
  version: number;
  document: string;
  created_at: number;
  created_by: string;
}

/** A schema's latest version with its count of versions and the time of its first. */
export interface SchemaRow extends SchemaVersionRow {
  versions: number;
  first_created_at: number;
}

export const toSchemaVersion = (row: SchemaVersionRow): SchemaVersionRecord => ({
  org: row.org,
  appId: row.app_id,
  name: row.name,
  version: row.version,
  document: row.document,
  createdAt: row.created_at,
  createdBy: row.created_by,
});

export const toSchema = (row: SchemaRow): SchemaRecord => ({ latest: toSchemaVersion(row), versions: row.versions, createdAt: row.first_created_at });

export const toAgentToken = (row: AgentTokenRow): AgentTokenRecord => ({
  id: row.id,
  org: row.org,
  agentId: row.agent_id,
  hash: row.hash,
  createdAt: row.created_at,
  validUntil: row.valid_until,
});

export const toDeletedApp = (row: DeletedAppRow): DeletedAppRecord => ({
  org: row.org,
  id: row.id,
  name: row.name,
  deletedAt: row.deleted_at,
  purgedAt: row.purged_at,
});

export const toWebhook = (row: WebhookRow): WebhookRecord => ({
  id: row.id,
  org: row.org,
  appId: row.app_id,
  url: row.url,
  events: JSON.parse(row.events) as WebhookEventType[],
  createdAt: row.created_at,
  lastAttemptAt: row.last_attempt_at,
  lastStatusCode: row.last_status_code,
  lastError: row.last_error,
  failuresInRow: row.failures_in_row,
});

export const toDelivery = (row: DeliveryRow): WebhookDeliveryRecord => ({
  id: row.id,
  webhookId: row.webhook_id,
  body: row.body,
  eventNames: JSON.parse(row.event_names) as WebhookEventType[],
  createdAt: row.created_at,
  status: row.status,
  attempts: row.attempts,
  nextAttemptAt: row.next_attempt_at,
  settledAt: row.settled_at,
  claimedBy: row.claimed_by,
  claimedUntil: row.claimed_until,
});

/** Deliveries in the order they are due: none set (due at once) first, then by time, then by id (the order of SQLite's and PostgreSQL's index). */
export const soonestDueFirst = (a: WebhookDeliveryRecord, b: WebhookDeliveryRecord): number =>
  (a.nextAttemptAt ?? -Infinity) - (b.nextAttemptAt ?? -Infinity) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export const toAttempt = (row: AttemptRow): WebhookAttemptRecord => ({
  deliveryId: row.delivery_id,
  at: row.at,
  statusCode: row.status_code,
  durationMs: row.duration_ms,
  error: row.error,
  node: row.node,
});

// ---- channel rules (issue 18) ----

export interface ChannelRuleRow {
  id: string;
  org: string;
  app_id: string;
  pattern: string;
  schema: string | null;
  schema_event: string | null;
  client_events: Flag | null;
  history: Flag | null;
  retention_ms: number | null;
  max_members: number | null;
  created_at: number;
  updated_at: number;
}

const maybeFlag = (value: Flag | null): boolean | null => (value === null ? null : flag(value));

export const toChannelRule = (row: ChannelRuleRow): ChannelRuleRecord => ({
  id: row.id,
  org: row.org,
  appId: row.app_id,
  pattern: row.pattern,
  schema: row.schema,
  schemaEvent: row.schema_event,
  clientEvents: maybeFlag(row.client_events),
  history: maybeFlag(row.history),
  retentionMs: row.retention_ms,
  maxMembers: row.max_members,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** A rule with its patch applied: an absent field stays, null resets it. */
export function patchChannelRule(rule: ChannelRuleRecord, patch: ChannelRulePatch, updatedAt: number): ChannelRuleRecord {
  const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
  return { ...rule, ...defined, updatedAt };
}


// ---- encryption keys (issue 18) ----

export interface EncryptionKeyRow {
  id: string;
  org: string;
  app_id: string;
  state: EncryptionKeyState;
  material: string | null;
  created_at: number;
  rotated_at: number | null;
  retired_at: number | null;
}

export const toEncryptionKey = (row: EncryptionKeyRow): EncryptionKeyRecord => ({
  id: row.id,
  org: row.org,
  appId: row.app_id,
  state: row.state,
  material: row.material,
  createdAt: Number(row.created_at),
  rotatedAt: row.rotated_at === null ? null : Number(row.rotated_at),
  retiredAt: row.retired_at === null ? null : Number(row.retired_at),
});

// ---- edge functions (issue 19) ----

export interface FunctionVersionRow {
  org: string;
  app_id: string;
  name: string;
  version: number;
  source: string;
  trigger: FunctionTrigger;
  channels: string | null;
  event: string | null;
  agent: string | null;
  timeout_ms: number;
  memory_bytes: number;
  on_error: 'reject' | 'pass';
  created_at: number;
  created_by: string;
}

/** A function's active version joined to its functions row (whose created_at is function_created_at) and its count of versions. */
export interface FunctionRow extends FunctionVersionRow {
  latest_version: number;
  versions: number;
  function_created_at: number;
  calls: number;
  failures: number;
  timeouts: number;
  dropped: number;
  last_failure_at: number | null;
}

export interface FunctionLogRow {
  seq: number;
  org: string;
  app_id: string;
  name: string;
  version: number;
  at: number;
  node: string;
  level: FunctionLogLevel;
  message: string;
}

export const toFunctionVersion = (row: FunctionVersionRow): FunctionVersionRecord => ({
  org: row.org,
  appId: row.app_id,
  name: row.name,
  version: row.version,
  source: row.source,
  trigger: row.trigger,
  channels: row.channels,
  event: row.event,
  agent: row.agent,
  timeoutMs: row.timeout_ms,
  memoryBytes: row.memory_bytes,
  onError: row.on_error,
  createdAt: row.created_at,
  createdBy: row.created_by,
});

export const toFunction = (row: FunctionRow): FunctionRecord => ({
  active: toFunctionVersion(row),
  latestVersion: row.latest_version,
  versions: row.versions,
  createdAt: row.function_created_at,
  stats: { calls: row.calls, failures: row.failures, timeouts: row.timeouts, dropped: row.dropped, lastFailureAt: row.last_failure_at },
});

export const toFunctionLog = (row: FunctionLogRow): FunctionLogRecord => ({
  seq: row.seq,
  org: row.org,
  appId: row.app_id,
  name: row.name,
  version: row.version,
  at: row.at,
  node: row.node,
  level: row.level,
  message: row.message,
});

export interface UsageRow {
  org: string;
  app_id: string;
  resolution: UsageResolution;
  start: number;
  node: string;
  counts: string;
}
export const toUsage = (row: UsageRow): UsageRecord => ({
  org: row.org,
  appId: row.app_id,
  node: row.node,
  resolution: row.resolution,
  start: row.start,
  counts: usageFromJson(row.counts),
});
