import type { WebhookEventType } from '../../src/shared/webhooks.js';
import type { ChannelLimits } from '../../src/shared/protocol/pusher.js';
import type { AppStatus } from '../../src/shared/api.js';
import type { EventKind, EventStatus } from '../../src/shared/api.js';
import type { RateLimit, RateLimitProfile } from '../../src/shared/rate-limits.js';
import { encodeTime } from 'ulid';
import { ID_PREFIX } from '../../src/shared/ids.js';
import { RelayError } from '../../src/shared/errors.js';

/**
 * The persistence port. Records are the store's own shapes (times in epoch ms); core turns
 * them into API values. Every method is atomic: a change and its audit entry commit together
 * or not at all, so a failure never leaves anything half-written. Methods are async so that
 * a PostgreSQL driver can implement the same port.
 */
export interface OrgRecord {
  id: string;
  name: string;
  createdAt: number;
}

export interface AppRecord {
  org: string;
  id: string;
  name: string;
  description: string | null;
  status: AppStatus;
  createdAt: number;
  lastConnectedAt: number | null;
  rateLimitProfile: RateLimitProfile;
  /** Pusher-style public key, unique across the daemon. */
  channelKey: string;
  /** The channel secret, AES-256-GCM encrypted with the master key (never plain text). */
  channelSecretEnc: string;
  /** Whether subscribers may send `client-` events. */
  clientEvents: boolean;
  /** Pusher's subscription counting (pusher_internal:subscription_count and its webhook). */
  subscriptionCount: boolean;
  /** The channel limits set for this app; the others take their defaults. */
  channelLimits: Partial<ChannelLimits>;
}

/** An app that was deleted: its id stays taken while its history is kept. */
export interface DeletedAppRecord {
  org: string;
  id: string;
  name: string;
  deletedAt: number;
  /** When its history was purged (with the delete or later); null while it is kept. */
  purgedAt: number | null;
}

export interface AppTokenRecord {
  id: string;
  org: string;
  appId: string;
  /** The public part of the token that finds this record; null for tokens issued before lookup ids. */
  lookupId: string | null;
  /** bcrypt hash of the token's secret part; of the whole token when `lookupId` is null. */
  hash: string;
  createdAt: number;
  /** null while it is the current token; set when a rotation starts its grace period. */
  validUntil: number | null;
}

export interface AdminTokenRecord {
  id: string;
  hash: string;
  createdAt: number;
}

export interface AuditRecord {
  id: string;
  at: number;
  actor: string;
  action: string;
  org: string | null;
  targetType: string;
  targetId: string;
  details: Record<string, unknown>;
}

export interface ApiTokenRecord {
  id: string;
  org: string;
  appId: string;
  name: string;
  description: string | null;
  scopes: string[];
  /** The token's own limit; null: the app's default profile. */
  rateLimit: RateLimit | null;
  /** SHA-256 of the secret. */
  hash: string;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

/**
 * The lowest id an event created at `at` or later can have. An id never tells an earlier
 * time than its `createdAt` (a monotonic ULID's clock only stands still, when the system
 * clock steps back), so `id < eventIdAt(t)` holds of events created before t only.
 */
export function eventIdAt(at: number): string {
  return `${ID_PREFIX.event}${encodeTime(at, 10)}${'0'.repeat(16)}`;
}

export interface EventRecord {
  /** `evt_` and a ULID of `createdAt`: ids sort by creation time, so a time range is an id range. */
  id: string;
  org: string;
  appId: string;
  kind: EventKind;
  agent: string | null;
  thread: string | null;
  name: string | null;
  status: EventStatus;
  channels: string[] | null;
  /** The payload as JSON text. */
  payload: string | null;
  socketId: string | null;
  latencyMs: number | null;
  createdAt: number;
  /** The app's own reference from its `event` frame. */
  ref: string | null;
  /** How many times the event has been sent to the agent. */
  attempt: number;
  /** The agent's reply as JSON text. */
  reply: string | null;
  /** Why the event failed or was rejected, as JSON text `{"code","message"}`. */
  error: string | null;
  /** When the reply or failure came. */
  outcomeAt: number | null;
  /** When the app acknowledged the reply or failure. */
  ackedAt: number | null;
  /**
   * Channel events under a channel rule with a retention: when the event leaves history
   * (pruneExpiredEvents), instead of the daemon's retention. Absent or null: the daemon's.
   * Written with the event; not read back.
   */
  expiresAt?: number | null;
  /**
   * The app's encryption key that sealed this row's payload and reply (AES-256-GCM, each
   * value naming its key); null: stored as sent (written while the app had no key).
   */
  keyId: string | null;
  /**
   * Set on reads by the encrypted-history wrapper (never stored): the key that sealed the
   * row was retired, so its payload and reply read as null for good.
   */
  erased?: { keyId: string; retiredAt: number | null } | null;
}

export type EventPatch = Partial<Pick<EventRecord, 'status' | 'attempt' | 'reply' | 'error' | 'outcomeAt' | 'latencyMs' | 'ackedAt'>>;

export interface TimelineRecord {
  /** The change's number: unique, and increasing in the order changes are made (EventLog numbers them). */
  seq: number;
  at: number;
  type: string;
  /** Extra facts of the change (attempt, connection, error code), or null. */
  detail: Record<string, unknown> | null;
  /** The event's status and latency as this change left them. */
  status: EventStatus;
  latencyMs: number | null;
}

/** A change read back for a reader resuming after a seq: the timeline row and its event's fixed fields. */
export interface ChangeRecord {
  seq: number;
  at: number;
  type: string;
  status: EventStatus;
  latencyMs: number | null;
  event: Pick<EventRecord, 'id' | 'org' | 'appId' | 'kind' | 'agent' | 'thread' | 'name' | 'channels' | 'createdAt'>;
}

export interface ChangeQuery {
  /** Changes with a seq above this... */
  after: number;
  /** ...and at most this. */
  upTo: number;
  appId?: string | undefined;
  agent?: string | undefined;
  thread?: string | undefined;
  /** The status the change left the event with. */
  status?: EventStatus | undefined;
  limit: number;
}

/** One change to history; a batch of them is the unit of group commit. */
export type EventWrite =
  | { type: 'insert'; event: EventRecord; timeline: TimelineRecord[] }
  /** A change of event `id`; its app is for wrappers of the store (history at rest seals a reply with the app's key), the drivers key on the id. */
  | { type: 'update'; id: string; org: string; appId: string; patch: EventPatch; timeline: TimelineRecord[] };

export interface EventQuery {
  appId?: string | undefined;
  agent?: string | undefined;
  thread?: string | undefined;
  status?: EventRecord['status'] | undefined;
  since?: number | undefined;
  /** An event id: only events older than it (paging). */
  before?: string | undefined;
  limit: number;
}

export interface AgentRecord {
  org: string;
  id: string;
  name: string;
  status: AppStatus;
  timeoutMs: number;
  createdAt: number;
  lastConnectedAt: number | null;
  /** The schema its payloads must match (an app's schema, by name), or null. */
  schema: SchemaRef | null;
}

/** A schema named by the app it belongs to and its name: `APP/NAME` on the command line. */
export interface SchemaRef {
  appId: string;
  name: string;
}

/** What `updateAgent` changes; a key left out stays as it is. */
export type AgentPatch = Partial<Pick<AgentRecord, 'name' | 'timeoutMs' | 'schema'>>;

// ---- event schemas (issue 18) ----

/** One version of an app's JSON Schema; versions are never changed, only added (and removed with the schema). */
export interface SchemaVersionRecord {
  org: string;
  appId: string;
  name: string;
  /** 1 for the first; each update adds the next. */
  version: number;
  /** The JSON Schema document as JSON text. */
  document: string;
  createdAt: number;
  /** The actor who added this version (`admin:<id>`, `token:<id>`). */
  createdBy: string;
}

/** Both drivers' refusal of a second `add` of a schema name. */
export function schemaTaken(appId: string, name: string): RelayError {
  return new RelayError('conflict', `app "${appId}" has a schema "${name}" already`, { hint: `add a version with \`relay schemas update ${name} --app ${appId} --file FILE\`` });
}

/** A schema as listed: its latest version, how many it has, and when its first was added. */
export interface SchemaRecord {
  latest: SchemaVersionRecord;
  versions: number;
  createdAt: number;
}

// ---- edge functions (issue 19) ----

/** When a function runs: before a channel publish, after one, or before an agent event is dispatched. */
export type FunctionTrigger = 'before-publish' | 'after-publish' | 'before-dispatch';

/** One deployed version of an app's function; versions are never changed, only added (and removed with the function). */
export interface FunctionVersionRecord {
  org: string;
  appId: string;
  name: string;
  /** 1 for the first deploy; each deploy adds the next. */
  version: number;
  /** The ES module's source text. */
  source: string;
  trigger: FunctionTrigger;
  /** Channel triggers: the channels it runs for, an exact name or a prefix ending in `*`; null: every channel. */
  channels: string | null;
  /** The event name it runs for; null: every event. */
  event: string | null;
  /** before-dispatch: the agent whose events it runs for; null: every agent. */
  agent: string | null;
  /** CPU time a call may take. */
  timeoutMs: number;
  /** Memory a call may use. */
  memoryBytes: number;
  /** What a throw, a timeout or a wrong return does: reject the event, or let it through unchanged. */
  onError: 'reject' | 'pass';
  createdAt: number;
  /** The actor who deployed this version (`admin:<id>`, `token:<id>`). */
  createdBy: string;
}

/** What a function's calls came to, summed over every node (each adds its own counts). */
export interface FunctionStats {
  calls: number;
  /** Calls that threw, returned something wrong or ran out of memory (timeouts not included). */
  failures: number;
  timeouts: number;
  /** Events it dropped (returned null for). */
  dropped: number;
  lastFailureAt: number | null;
}

/** A function: the version that runs (`active`), how many there are, its counts. */
export interface FunctionRecord {
  active: FunctionVersionRecord;
  latestVersion: number;
  versions: number;
  /** When it was first deployed: functions on one trigger run oldest first (then by name). */
  createdAt: number;
  stats: FunctionStats;
}

/** Counts one node adds to a function's (`addFunctionStats`). */
export interface FunctionStatsDelta extends FunctionStats {
  org: string;
  appId: string;
  name: string;
}

export type FunctionLogLevel = 'log' | 'info' | 'warn' | 'error' | 'failure' | 'timeout';

/** A line a function printed, or a failure of one of its calls. */
export interface FunctionLogRecord {
  /** Increasing across the store: what `--follow` reads after. */
  seq: number;
  org: string;
  appId: string;
  name: string;
  version: number;
  at: number;
  /** The node it ran on. */
  node: string;
  level: FunctionLogLevel;
  message: string;
}

/** Both drivers' refusal of a version (rollback) that the function does not have. */
export function functionVersionMissing(appId: string, name: string, version: number): RelayError {
  return new RelayError('not_found', `function "${name}" of app "${appId}" has no version ${version}`, { hint: `see its versions with \`relay functions show ${name} --app ${appId}\`` });
}

// ---- usage analytics (issue 20) ----

/** How long one analytics row covers: minutes are rolled up into hours, hours into days. */
export type UsageResolution = 'minute' | 'hour' | 'day';

/**
 * Upper bounds (ms) of the agent-latency histogram's buckets; a last bucket takes anything
 * longer. Fixed, so that histograms from any node and any time add up.
 */
export const USAGE_LATENCY_BOUNDS_MS = [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000] as const;

/**
 * One app's usage in one bucket of time. Every field adds up across nodes and over time,
 * except the peaks: side by side (nodes) they add, over time they take the larger.
 */
export interface UsageCounts {
  /** Channel messages published, by way in: the public API, Pusher's REST API, client events. */
  publishedApi: number;
  publishedRest: number;
  publishedClient: number;
  /** Messages sent to channel subscribers (one per subscriber reached). */
  delivered: number;
  /** The most connections (Pusher and relay protocol) the app had open at once. */
  connectionsPeak: number;
  /** Connections times minutes open: over a bucket of N minutes, the average is this / N. */
  connectionMinutes: number;
  /** The most channels with subscribers at once. */
  channelsPeak: number;
  /** Agent events accepted, rejected at the door, replied to and failed. */
  agentAccepted: number;
  agentRejected: number;
  agentReplied: number;
  agentFailed: number;
  /** Agent events' latency, acceptance to reply or failure: counts per bucket of USAGE_LATENCY_BOUNDS_MS, plus one. */
  agentLatency: number[];
  webhooksOk: number;
  webhooksFailed: number;
  /** Requests and frames refused with 429 (or Pusher's 4301). */
  rateLimited: number;
  /** Payload bytes into relayd (publishes, agent events) and out of it (frames to subscribers and apps). */
  bytesIn: number;
  bytesOut: number;
}

/** One row of analytics: an app's counts from one node ("" once rolled up across nodes) in one bucket. */
export interface UsageRecord {
  org: string;
  appId: string;
  node: string;
  resolution: UsageResolution;
  /** The bucket's start, epoch ms (a whole minute, hour or UTC day). */
  start: number;
  counts: UsageCounts;
}

export interface AgentTokenRecord {
  id: string;
  org: string;
  agentId: string;
  /** SHA-256 of the whole token. */
  hash: string;
  createdAt: number;
  validUntil: number | null;
}

export type AppPatch = Partial<Pick<AppRecord, 'name' | 'description' | 'rateLimitProfile' | 'clientEvents' | 'subscriptionCount' | 'channelLimits' | 'channelKey' | 'channelSecretEnc'>>;

export interface WebhookRecord {
  id: string;
  org: string;
  appId: string;
  url: string;
  /** Empty: every type. */
  events: WebhookEventType[];
  createdAt: number;
  lastAttemptAt: number | null;
  lastStatusCode: number | null;
  lastError: string | null;
  failuresInRow: number;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookDeliveryRecord {
  id: string;
  webhookId: string;
  /** The exact bytes POSTed (and signed). */
  body: string;
  eventNames: WebhookEventType[];
  createdAt: number;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: number | null;
  settledAt: number | null;
  /** The node that makes its attempts while `claimedUntil` has not passed (null: nobody yet). */
  claimedBy: string | null;
  /** When the claim lapses unless its node renews it; then any node may claim the delivery (null: free). */
  claimedUntil: number | null;
}

export interface WebhookAttemptRecord {
  deliveryId: string;
  at: number;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  /** The node that made it (null for attempts logged before nodes were recorded). */
  node: string | null;
}

/**
 * What one attempt changes: its log line, the delivery's state (and how long the attempt's
 * node keeps its claim), the webhook's health. Written only while that node still holds the
 * claim: a node that lost it (its claim lapsed and another took the delivery) records nothing.
 */
export interface WebhookAttemptWrite {
  attempt: WebhookAttemptRecord & { node: string };
  delivery: Pick<WebhookDeliveryRecord, 'id' | 'status' | 'attempts' | 'nextAttemptAt' | 'settledAt' | 'claimedUntil'>;
  webhook: Pick<WebhookRecord, 'id' | 'lastAttemptAt' | 'lastStatusCode' | 'lastError' | 'failuresInRow'>;
}

/** What a node asks for when it claims deliveries (claimWebhookDeliveries). */
export interface WebhookClaim {
  node: string;
  now: number;
  /** Deliveries whose next attempt is due by then (or that have none set). */
  dueBy: number;
  /** How long the claim holds unless renewed. */
  until: number;
  limit: number;
}

/** A relayd process sharing the store: what `relay status` lists, and how a node tells it is not alone. */
export interface NodeRecord {
  id: string;
  /** Where its HTTP listener is, as it logged it. */
  url: string;
  /** Its broker's driver ('memory', 'redis'): a memory-broker node beside others would split the cluster. */
  broker: string;
  version: string;
  startedAt: number;
  heartbeatAt: number;
  /** Its open sockets at its last heartbeat. */
  connections: number;
}

// ---- channel rules ----

/** A channel rule of an app: settings for the channels its pattern matches; null settings inherit. */
export interface ChannelRuleRecord {
  id: string;
  org: string;
  appId: string;
  /** An exact channel name, or a prefix ending in `*` (`*` alone: every channel). Unique per app. */
  pattern: string;
  schema: string | null;
  schemaEvent: string | null;
  clientEvents: boolean | null;
  history: boolean | null;
  retentionMs: number | null;
  maxMembers: number | null;
  createdAt: number;
  updatedAt: number;
}

/** What an update changes: a field absent stays, null resets the setting to inherit. */
export type ChannelRulePatch = Partial<Pick<ChannelRuleRecord, 'pattern' | 'schema' | 'schemaEvent' | 'clientEvents' | 'history' | 'retentionMs' | 'maxMembers'>>;

export interface UnsettledScope {
  org: string;
  agent?: string | undefined;
  appId?: string | undefined;
}

// ---- encryption keys (issue 18) ----

export type EncryptionKeyState = 'active' | 'decrypt-only' | 'retired';

/** An app's encryption key. At most one active key per app. */
export interface EncryptionKeyRecord {
  /** `key_` and a ULID of `createdAt`. */
  id: string;
  org: string;
  appId: string;
  state: EncryptionKeyState;
  /** The 32 key bytes, base64, sealed under the node master key (SecretBox); null once retired (destroyed for good). */
  material: string | null;
  createdAt: number;
  /** When a rotation made it decrypt-only. */
  rotatedAt: number | null;
  retiredAt: number | null;
}

export interface Store {
  close(): Promise<void>;

  /**
   * relayd's own settings (the master key's fingerprint): sets `key` to `value` unless it is
   * set already, atomically across nodes, and returns the value the store holds afterwards.
   */
  claimSetting(key: string, value: string): Promise<string>;
  /** Inserts the node or refreshes its record (its heartbeat). */
  upsertNode(node: NodeRecord): Promise<void>;
  /** The nodes heard from at `since` or later, by id. */
  listNodes(since: number): Promise<NodeRecord[]>;
  deleteNode(id: string): Promise<void>;
  /** Deletes the nodes silent since before `before`; returns their ids. */
  pruneNodes(before: number): Promise<string[]>;

  /**
   * Takes the lease `name` for `holder` until `until`, or extends it: when nobody holds it,
   * when `holder` does already, or when its holder's lease ran out before `now`. Atomic
   * across nodes; true when `holder` holds it afterwards.
   */
  acquireLease(name: string, holder: string, now: number, until: number): Promise<boolean>;
  /**
   * Extends every lease `holder` still holds to `until`; returns their names. A lease that
   * ran out and was taken by another node is not among them: its work is no longer ours.
   */
  renewLeases(holder: string, until: number): Promise<string[]>;
  /** Gives the lease up, if `holder` holds it. */
  releaseLease(name: string, holder: string): Promise<void>;
  /**
   * Deletes every lease `holder` does not hold; returns their names. Only for a store no other
   * node shares, at start: what is left in it is a crashed relayd's, whose work is now ours.
   */
  releaseOtherLeases(holder: string): Promise<string[]>;

  insertAdminToken(token: AdminTokenRecord): Promise<void>;
  findAdminTokenByHash(hash: string): Promise<AdminTokenRecord | null>;

  listOrgs(): Promise<OrgRecord[]>;
  getOrg(id: string): Promise<OrgRecord | null>;
  /** Throws conflict when the id is taken. */
  insertOrg(org: OrgRecord, audit: AuditRecord | null): Promise<void>;

  listApps(org: string | null): Promise<AppRecord[]>;
  getApp(org: string, id: string): Promise<AppRecord | null>;
  /** The app whose Pusher key this is (keys are unique across organizations). */
  getAppByChannelKey(key: string): Promise<AppRecord | null>;
  /** Any one app's sealed channel secret, or null without apps: enough to check at start that the master key is theirs. */
  anyChannelSecret(): Promise<string | null>;
  /** Throws conflict when the id is taken in the organization or the channel key anywhere. */
  insertApp(app: AppRecord, token: AppTokenRecord, audit: AuditRecord): Promise<void>;
  updateApp(org: string, id: string, patch: AppPatch, audit: AuditRecord): Promise<AppRecord | null>;
  setAppStatus(org: string, id: string, status: AppStatus, audit: AuditRecord): Promise<AppRecord | null>;
  setAppLastConnected(org: string, id: string, at: number): Promise<void>;
  setAppChannelSecret(org: string, id: string, channelSecretEnc: string, audit: AuditRecord): Promise<AppRecord | null>;
  /**
   * Deletes an app with its app tokens, API tokens, webhooks (and their deliveries) and
   * allowlist, schemas (unbinding the agents bound to them) and edge functions (with their
   * versions and logs), and remembers its id
   * (DeletedAppRecord); with `purge`, its history too. Null when there is no such app. `purgedEvents` counts the events purged.
   */
  deleteApp(org: string, id: string, options: { at: number; purge: boolean }, audit: AuditRecord): Promise<{ deleted: DeletedAppRecord; purgedEvents: number } | null>;
  getDeletedApp(org: string, id: string): Promise<DeletedAppRecord | null>;
  /** Purges the history of an app deleted before; null when no such deleted app. */
  purgeDeletedApp(org: string, id: string, at: number, audit: AuditRecord): Promise<{ deleted: DeletedAppRecord; purgedEvents: number } | null>;

  /** Tokens of every app with this id (in any organization) that are still valid at `now`. */
  findValidAppTokens(appId: string, now: number): Promise<AppTokenRecord[]>;
  /** The token with this lookup id (unique across the daemon), valid or not. */
  findAppTokenByLookupId(lookupId: string): Promise<AppTokenRecord | null>;
  /** As findValidAppTokens, only the tokens issued before lookup ids (lookupId null). */
  findValidLegacyAppTokens(appId: string, now: number): Promise<AppTokenRecord[]>;
  /**
   * Adds `token` as the app's current token; every other token still valid at `now` stays
   * valid until `graceUntil` at the latest.
   */
  rotateAppToken(token: AppTokenRecord, graceUntil: number, now: number, audit: AuditRecord): Promise<void>;
  /** Tokens whose grace period ends after `now`, to schedule the end of each. */
  listTokensInGrace(now: number): Promise<AppTokenRecord[]>;

  listAgents(org: string): Promise<AgentRecord[]>;
  getAgent(org: string, id: string): Promise<AgentRecord | null>;
  /** Throws conflict when the id is taken in the organization. */
  insertAgent(agent: AgentRecord, token: AgentTokenRecord, audit: AuditRecord): Promise<void>;
  setAgentStatus(org: string, id: string, status: AppStatus, audit: AuditRecord): Promise<AgentRecord | null>;
  setAgentLastConnected(org: string, id: string, at: number): Promise<void>;
  /**
   * Deletes an agent with its tokens, and takes it off every allowlist; with `purge`, the
   * events sent to it too. Null when there is no such agent.
   */
  deleteAgent(org: string, id: string, options: { purge: boolean }, audit: AuditRecord): Promise<{ purgedEvents: number } | null>;
  findAgentTokenByHash(hash: string): Promise<AgentTokenRecord | null>;
  /** Tokens of one agent still valid at `now`. */
  findValidAgentTokens(org: string, agentId: string, now: number): Promise<AgentTokenRecord[]>;
  /** As rotateAppToken, for an agent. */
  rotateAgentToken(token: AgentTokenRecord, graceUntil: number, now: number, audit: AuditRecord): Promise<void>;
  listAgentTokensInGrace(now: number): Promise<AgentTokenRecord[]>;
  /** Changes an agent's name, reply timeout or schema binding; null when there is no such agent. */
  updateAgent(org: string, id: string, patch: AgentPatch, audit: AuditRecord): Promise<AgentRecord | null>;

  /** The app's allowlist; empty means every agent of the organization. */
  listAllowedAgents(org: string, appId: string): Promise<string[]>;
  /** The apps whose allowlist names this agent, each with the length of its list. */
  appsAllowingAgent(org: string, agentId: string): Promise<{ appId: string; allowed: number }[]>;
  /** Adds and removes agents on an app's allowlist in one transaction; returns the list after. */
  changeAllowedAgents(org: string, appId: string, change: { add: string[]; remove: string[] }, audit: AuditRecord): Promise<string[]>;

  insertApiToken(token: ApiTokenRecord, audit: AuditRecord): Promise<void>;
  listApiTokens(org: string, appId: string): Promise<ApiTokenRecord[]>;
  getApiToken(id: string): Promise<ApiTokenRecord | null>;
  findApiTokenByHash(hash: string): Promise<ApiTokenRecord | null>;
  /** Sets revokedAt unless already revoked; returns the record as it is afterwards. */
  revokeApiToken(id: string, at: number, audit: AuditRecord): Promise<ApiTokenRecord | null>;
  /** Replaces a token's secret hash: the old secret stops working with this commit. */
  rotateApiToken(id: string, hash: string, audit: AuditRecord): Promise<void>;
  /** Writes many tokens' lastUsedAt at once (coalesced, never one write per request). */
  recordApiTokenUse(uses: { id: string; at: number }[]): Promise<void>;

  /** Applies history changes in order, in one transaction: the unit of group commit. */
  writeEvents(writes: EventWrite[]): Promise<void>;
  /** An organization's events, newest first, filtered. */
  queryEvents(org: string, query: EventQuery): Promise<EventRecord[]>;
  getEvent(id: string): Promise<EventRecord | null>;
  listTimeline(eventId: string): Promise<TimelineRecord[]>;
  /** The highest seq ever given to a change (0 for none): numbering goes on from there after a restart. */
  lastChangeSeq(): Promise<number>;
  /**
   * Reserves `count` consecutive change numbers above every seq used or reserved before, for
   * the caller alone (nodes sharing the store number their changes from such blocks); returns
   * the first.
   */
  reserveChangeSeqs(count: number): Promise<number>;
  /** An organization's changes in (after, upTo], in seq order, filtered. */
  listChanges(org: string, query: ChangeQuery): Promise<ChangeRecord[]>;
  /**
   * Agent events of the organization whose outcome the app has not acknowledged yet, oldest
   * first, of one agent or one app (or both): the work an agent's new owner takes over, and
   * the outcomes owed to an app that connects.
   */
  listUnsettledEvents(scope: UnsettledScope): Promise<EventRecord[]>;
  /**
   * Deletes up to `limit` settled events created before `before` (channel events, rejected
   * ones, and agent events whose outcome was acked) with their timelines; returns how many.
   * Events with an `expiresAt` of their own are left to pruneExpiredEvents.
   */
  pruneEvents(before: number, limit: number): Promise<number>;

  insertWebhook(webhook: WebhookRecord, audit: AuditRecord): Promise<void>;
  /** Every webhook (org null) or an app's, oldest first. */
  listWebhooks(scope: { org: string; appId: string } | null): Promise<WebhookRecord[]>;
  getWebhook(id: string): Promise<WebhookRecord | null>;
  /** Deletes the webhook with its deliveries and their attempts. */
  deleteWebhook(id: string, audit: AuditRecord): Promise<void>;
  /** Stored with their claim as given: the node that makes a delivery claims it in the same write. */
  insertWebhookDeliveries(deliveries: WebhookDeliveryRecord[]): Promise<void>;
  /** Records the attempt only if its node still holds the delivery's claim (and the delivery is still there). */
  recordWebhookAttempt(write: WebhookAttemptWrite): Promise<void>;
  /**
   * Claims up to `limit` pending deliveries due by `dueBy` that nobody claims or whose claim
   * lapsed before `now`, soonest due first, for `node` until `until`; returns them claimed.
   * Atomic across nodes (PostgreSQL: FOR UPDATE SKIP LOCKED): two callers never get the same
   * delivery, and a live claim is never taken.
   */
  claimWebhookDeliveries(claim: WebhookClaim): Promise<WebhookDeliveryRecord[]>;
  /**
   * Extends `node`'s claims on those of `ids` that are still pending to `until`; returns their
   * ids. One whose claim lapsed and was taken by another node is not among them (no longer
   * ours), nor one given up meanwhile (its attempt set `claimedUntil` to null).
   */
  renewWebhookClaims(node: string, ids: string[], until: number): Promise<string[]>;
  /** Frees the pending deliveries claimed by `node` (null: by any node, on a store no other node shares), for the next claim. */
  releaseWebhookClaims(node: string | null): Promise<void>;
  listPendingWebhookDeliveries(): Promise<WebhookDeliveryRecord[]>;
  /** A webhook's newest deliveries, each with its attempts in order. */
  listWebhookDeliveries(webhookId: string, limit: number): Promise<{ delivery: WebhookDeliveryRecord; attempts: WebhookAttemptRecord[] }[]>;
  /** Deletes settled deliveries older than `before`; returns how many. */
  pruneWebhookDeliveries(before: number, limit: number): Promise<number>;

  // ---- event schemas (issue 18) ----
  /** An app's schemas, by name, each with its latest version. */
  listSchemas(org: string, appId: string): Promise<SchemaRecord[]>;
  getSchema(org: string, appId: string, name: string): Promise<SchemaRecord | null>;
  getSchemaVersion(org: string, appId: string, name: string, version: number): Promise<SchemaVersionRecord | null>;
  /**
   * Adds a version, numbered in the same transaction: `add` makes version 1 and throws
   * conflict when the name is taken; `update` makes the latest + 1 and returns null when
   * there is no such schema.
   */
  insertSchemaVersion(version: Omit<SchemaVersionRecord, 'version'>, mode: 'add' | 'update', audit: AuditRecord): Promise<SchemaVersionRecord | null>;
  /**
   * Deletes a schema with every version, and unbinds the agents bound to it; returns their
   * ids, or null when there is no such schema.
   */
  deleteSchema(org: string, appId: string, name: string, audit: AuditRecord): Promise<{ unboundAgents: string[]; unboundRules: string[] } | null>;
  /** The ids of the agents of the organization bound to this schema. */
  agentsUsingSchema(org: string, appId: string, name: string): Promise<string[]>;

  insertAudit(entry: AuditRecord): Promise<void>;
  listAudit(since: number | null, limit: number): Promise<AuditRecord[]>;

  // ---- channel rules (issue 18) ----

  /** Throws conflict when the app has a rule with this pattern already. */
  insertChannelRule(rule: ChannelRuleRecord, audit: AuditRecord): Promise<void>;
  /** An app's rules, oldest first. */
  listChannelRules(org: string, appId: string): Promise<ChannelRuleRecord[]>;
  getChannelRule(id: string): Promise<ChannelRuleRecord | null>;
  /** Applies the patch (and `updatedAt`) atomically; null when there is no such rule; conflict when the new pattern is taken. */
  updateChannelRule(id: string, patch: ChannelRulePatch, updatedAt: number, audit: AuditRecord): Promise<ChannelRuleRecord | null>;
  /** Deletes the rule; returns it as it was, or null when there is none. */
  deleteChannelRule(id: string, audit: AuditRecord): Promise<ChannelRuleRecord | null>;
  /** Deletes up to `limit` events whose `expiresAt` is before `now`, with their timelines; returns how many. */
  pruneExpiredEvents(now: number, limit: number): Promise<number>;


  // ---- encryption keys (issue 18) ----

  /**
   * Adds an app's key. With `rotate`, the app's active key (if any) becomes decrypt-only
   * (rotatedAt `key.createdAt`) in the same transaction. Throws conflict when the app has an
   * active key already and `rotate` is false. Returns the key it made decrypt-only, or null.
   */
  insertEncryptionKey(key: EncryptionKeyRecord, options: { rotate: boolean }, audit: AuditRecord): Promise<EncryptionKeyRecord | null>;
  /** An app's keys, oldest first. */
  listEncryptionKeys(org: string, appId: string): Promise<EncryptionKeyRecord[]>;
  getEncryptionKey(id: string): Promise<EncryptionKeyRecord | null>;
  /**
   * Retires a decrypt-only key: state retired, its material destroyed (NULL), retiredAt set.
   * A key retired already is left as it is (no audit). Throws conflict for the active key.
   * Returns the key as it is afterwards, or null when there is no such key.
   */
  retireEncryptionKey(id: string, at: number, audit: AuditRecord): Promise<EncryptionKeyRecord | null>;

  // ---- edge functions (issue 19) ----

  /** An app's functions, in the order they run on a trigger: oldest first, then by name. */
  listFunctions(org: string, appId: string): Promise<FunctionRecord[]>;
  getFunction(org: string, appId: string, name: string): Promise<FunctionRecord | null>;
  getFunctionVersion(org: string, appId: string, name: string, version: number): Promise<FunctionVersionRecord | null>;
  /** Every version of a function, oldest first (without their source: `source` is ""). */
  listFunctionVersions(org: string, appId: string, name: string): Promise<FunctionVersionRecord[]>;
  /**
   * Deploys: adds the function's next version (1 when it has none; numbered in the same
   * transaction) and makes it the active one. Returns the function as it is afterwards.
   */
  insertFunctionVersion(version: Omit<FunctionVersionRecord, 'version'>, audit: AuditRecord): Promise<FunctionRecord>;
  /**
   * Makes `version` the active one (rollback). Null when there is no such function; throws
   * `functionVersionMissing` when it has no such version.
   */
  setActiveFunctionVersion(org: string, appId: string, name: string, version: number, audit: AuditRecord): Promise<FunctionRecord | null>;
  /** Deletes a function with its versions and logs; returns it as it was, or null when there is none. */
  deleteFunction(org: string, appId: string, name: string, audit: AuditRecord): Promise<FunctionRecord | null>;
  /** Adds each node's counts to its function's (a function removed meanwhile is skipped). */
  addFunctionStats(deltas: FunctionStatsDelta[]): Promise<void>;
  /** Appends log lines, then keeps only the newest `keep` of each function written to. */
  insertFunctionLogs(lines: Omit<FunctionLogRecord, 'seq'>[], keep: number): Promise<void>;
  /**
   * A function's log lines in seq order: with `after` null, its newest `limit`; else the
   * first `limit` after that seq.
   */
  listFunctionLogs(org: string, appId: string, name: string, query: { after: number | null; limit: number }): Promise<FunctionLogRecord[]>;

  // ---- usage analytics (issue 20) ----

  /**
   * Adds counts to their rows, (org, appId, node, resolution, start), creating them at need:
   * `mergeUsageOverTime` (sums add, peaks take the larger). One transaction.
   */
  addUsage(records: UsageRecord[]): Promise<void>;
  /**
   * The rows of one resolution whose start is in [from, to), of one app, or of every app of
   * the org when `appId` is null; ordered by start.
   */
  listUsage(org: string, appId: string | null, resolution: UsageResolution, from: number, to: number): Promise<UsageRecord[]>;
  /**
   * One step of a rollup, in one transaction: reads up to `limit` rows of resolution `from`
   * that start before `before` (oldest first), adds what `combine` makes of them as
   * `addUsage` does, and deletes them. Returns how many it read (less than `limit`: done).
   */
  rollUpUsage(from: 'minute' | 'hour', before: number, limit: number, combine: (rows: UsageRecord[]) => UsageRecord[]): Promise<number>;
  /** Deletes the rows of a resolution that start before `before`; returns how many. */
  pruneUsage(resolution: UsageResolution, before: number): Promise<number>;
}
