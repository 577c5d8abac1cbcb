import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { RelayError } from '../../../src/shared/errors.js';
import type { AppStatus } from '../../../src/shared/api.js';
import type {
  AdminTokenRecord,
  AgentRecord,
  AgentTokenRecord,
  ApiTokenRecord,
  EncryptionKeyRecord,
  FunctionLogRecord,
  FunctionRecord,
  FunctionStatsDelta,
  FunctionVersionRecord,
  EventQuery,
  EventRecord,
  EventWrite,
  AppPatch,
  AppRecord,
  AppTokenRecord,
  AuditRecord,
  ChannelRulePatch,
  ChannelRuleRecord,
  DeletedAppRecord,
  NodeRecord,
  OrgRecord,
  Store,
  WebhookAttemptRecord,
  WebhookAttemptWrite,
  WebhookClaim,
  WebhookDeliveryRecord,
  WebhookRecord,
  TimelineRecord,
  ChangeQuery,
  ChangeRecord,
  UnsettledScope,
  AgentPatch,
  SchemaRecord,
  SchemaVersionRecord,
} from '../store.js';
import { eventIdAt, schemaTaken, type UsageRecord, type UsageResolution } from '../store.js';
import type { Logger } from '../../log.js';
import { StartupError } from '../../startup-error.js';
import { Checkpointer } from './checkpointer.js';
import { MIGRATIONS } from './migrations/index.js';
import { toAgent, toAgentToken, toApiToken, toApp, toAppToken, toAudit, toChange, toDeletedApp, toEvent, toNode, toSchema, toSchemaVersion, toTimeline } from '../rows.js';
import type { AgentRow, AgentTokenRow, ApiTokenRow, AppRow, AppTokenRow, AuditRow, ChangeRow, DeletedAppRow, EventRow, NodeRow, SchemaRow, SchemaVersionRow, TimelineRow } from '../rows.js';
import { SqliteWebhookTables } from './webhook-tables.js';
import { isDuplicate } from './duplicate.js';
import { SqliteChannelRuleTables } from './channel-rule-tables.js';
import { SqliteEncryptionKeyTables } from './encryption-key-tables.js';
import { SqliteFunctionTables } from './function-tables.js';
import { SqliteUsageTables } from './usage-tables.js';

/** A change's status and latency: its own, or, for rows written before migration 11, its event's. */
const CHANGE_STATE = 'coalesce(t.status, e.status) AS status, CASE WHEN t.status IS NULL THEN e.latency_ms ELSE t.latency_ms END AS latency_ms';

const apiTokenParams = (t: ApiTokenRecord) => ({ ...t, scopes: JSON.stringify(t.scopes), rateLimit: t.rateLimit === null ? null : JSON.stringify(t.rateLimit) });

const EVENT_COLUMNS = 'id, org, app_id, kind, agent, thread, name, status, channels, payload, socket_id, latency_ms, created_at, ref, attempt, reply, error, outcome_at, acked_at, expires_at, key_id';
const EVENT_VALUES = `(${EVENT_COLUMNS.split(', ').map(() => '?').join(', ')})`;
/** New events go to SQLite this many to a statement. */
const INSERT_ROWS = 8;

type EventParams = [string, string, string, string, string | null, string | null, string | null, string, string | null, string | null, string | null, number | null, number, string | null, number, string | null, string | null, number | null, number | null, number | null, string | null];

/** An event's values in EVENT_COLUMNS order. */
const eventParams = (e: EventRecord): EventParams => [
  e.id, e.org, e.appId, e.kind, e.agent, e.thread, e.name, e.status, e.channels === null ? null : JSON.stringify(e.channels), e.payload, e.socketId, e.latencyMs,
  e.createdAt, e.ref, e.attempt, e.reply, e.error, e.outcomeAt, e.ackedAt, e.expiresAt ?? null, e.keyId,
];


/** Channel keys are unique across the daemon: `/app/{key}` names no organization. */
function isDuplicateKey(err: unknown): boolean {
  return err instanceof Database.SqliteError && err.code === 'SQLITE_CONSTRAINT_UNIQUE' && err.message.includes('apps.channel_key');
}

const keyTaken = (key: string): RelayError =>
  new RelayError('conflict', `channel key "${key}" is already another app's (keys are unique across relayd)`, {
    hint: 'each app needs a key of its own; `relay apps credentials ID` shows an app\'s key',
  });

/** What relayd says of a database it will not run on, and what to do about it. */
function refusal(path: string, err: unknown): unknown {
  if (!(err instanceof Database.SqliteError)) return err;
  if (err.code === 'SQLITE_NOTADB') {
    return new StartupError(`${path} is not a SQLite database (SQLite: "${err.message}"): its header is damaged, or another file took its place. Restore relay.db from a backup`);
  }
  if (err.code.startsWith('SQLITE_CORRUPT')) return corrupt(path, err.message);
  return err;
}

function corrupt(path: string, detail: string): StartupError {
  return new StartupError(
    `the database ${path} is corrupt (SQLite: ${detail}); relayd would fail on whatever reads the damaged pages. Restore relay.db from a backup, ` +
      `or salvage what is readable with sqlite3's .recover (sqlite3 ${path} .recover | sqlite3 recovered.db) and put recovered.db in its place`,
  );
}

/**
 * PRAGMA quick_check reads every page of every table and index once (integrity_check would
 * also match each index against its table, several times slower): damage is found at start
 * instead of as 500s on whatever reads it later.
 */
function checkIntegrity(db: Database.Database, path: string, log: Logger | undefined): void {
  const started = performance.now();
  const problems = (db.pragma('quick_check(3)') as { quick_check: string }[]).map((row) => row.quick_check);
  log?.debug({ path, ms: Math.round(performance.now() - started) }, 'checked the database (PRAGMA quick_check)');
  if (problems.join() === 'ok') return;
  // Its lines, without the "*** in database main ***" heading, on one line.
  const lines = problems.flatMap((problem) => problem.split('\n')).filter((line) => !line.startsWith('***'));
  throw corrupt(path, lines.join('; '));
}

/**
 * The embedded default store. WAL with synchronous=NORMAL: a committed transaction survives
 * the process being killed (SIGKILL), which is the durability PRODUCT.md asks for, without
 * an fsync per commit; only a power loss can take the last commits back.
 */
export class SqliteStore implements Store {
  readonly #db: Database.Database;
  readonly #stmts;
  readonly #webhooks: SqliteWebhookTables;
  readonly #channelRules: SqliteChannelRuleTables;
  readonly #keys: SqliteEncryptionKeyTables;
  readonly #functions: SqliteFunctionTables;
  readonly #usage: SqliteUsageTables;
  readonly #queries = new Map<string, Database.Statement<(string | number)[], EventRow>>();
  readonly #changeQueries = new Map<string, Database.Statement<(string | number)[], ChangeRow>>();
  readonly #checkpointer: Checkpointer;
  #reservedSeq = 0;

  /** Refuses (StartupError) a file that is not a database, a corrupt one, and one of a newer schema. */
  constructor(path: string, log?: Logger) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.#db = new Database(path);
    try {
      this.#db.pragma('journal_mode = WAL');
      checkIntegrity(this.#db, path, log);
      this.#db.pragma('synchronous = NORMAL');
      this.#db.pragma('foreign_keys = ON');
      this.#db.pragma('busy_timeout = 5000');
      this.#migrate(path);
    } catch (err) {
      this.#db.close();
      throw refusal(path, err);
    }
    this.#checkpointer = new Checkpointer(this.#db, path);
    const db = this.#db;
    this.#webhooks = new SqliteWebhookTables(db);
    this.#channelRules = new SqliteChannelRuleTables(db);
    this.#keys = new SqliteEncryptionKeyTables(db);
    this.#functions = new SqliteFunctionTables(db);
    this.#usage = new SqliteUsageTables(db);
    this.#stmts = {
      claimSetting: db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING'),
      getSetting: db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE key = ?'),
      acquireLease: db.prepare<[{ name: string; holder: string; now: number; until: number }], { name: string }>(
        `INSERT INTO leases (name, holder, expires_at) VALUES (@name, @holder, @until)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
         WHERE leases.holder = excluded.holder OR leases.expires_at < @now
         RETURNING name`,
      ),
      renewLeases: db.prepare<[number, string], { name: string }>('UPDATE leases SET expires_at = ? WHERE holder = ? RETURNING name'),
      releaseLease: db.prepare('DELETE FROM leases WHERE name = ? AND holder = ?'),
      releaseOtherLeases: db.prepare<[string], { name: string }>('DELETE FROM leases WHERE holder <> ? RETURNING name'),
      upsertNode: db.prepare(
        `INSERT INTO nodes (id, url, broker, version, started_at, heartbeat_at, connections) VALUES (@id, @url, @broker, @version, @startedAt, @heartbeatAt, @connections)
         ON CONFLICT (id) DO UPDATE SET url = excluded.url, broker = excluded.broker, version = excluded.version, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, connections = excluded.connections`,
      ),
      listNodes: db.prepare<[number], NodeRow>('SELECT * FROM nodes WHERE heartbeat_at >= ? ORDER BY id'),
      deleteNode: db.prepare('DELETE FROM nodes WHERE id = ?'),
      pruneNodes: db.prepare<[number], { id: string }>('DELETE FROM nodes WHERE heartbeat_at < ? RETURNING id'),
      insertAdminToken: db.prepare('INSERT INTO admin_tokens (id, hash, created_at) VALUES (?, ?, ?)'),
      findAdminToken: db.prepare<[string], { id: string; hash: string; created_at: number }>(
        'SELECT id, hash, created_at FROM admin_tokens WHERE hash = ?',
      ),
      listOrgs: db.prepare<[], { id: string; name: string; created_at: number }>('SELECT id, name, created_at FROM orgs ORDER BY created_at, id'),
      getOrg: db.prepare<[string], { id: string; name: string; created_at: number }>('SELECT id, name, created_at FROM orgs WHERE id = ?'),
      insertOrg: db.prepare('INSERT INTO orgs (id, name, created_at) VALUES (?, ?, ?)'),
      listApps: db.prepare<[], AppRow>('SELECT * FROM apps ORDER BY org, id'),
      listAppsOfOrg: db.prepare<[string], AppRow>('SELECT * FROM apps WHERE org = ? ORDER BY id'),
      // With the deleted apps whose history is kept (see migration 12).
      appIdsOfOrg: db.prepare<[string, string], { id: string }>('SELECT id FROM apps WHERE org = ? UNION SELECT id FROM deleted_apps WHERE org = ? AND purged_at IS NULL'),
      getApp: db.prepare<[string, string], AppRow>('SELECT * FROM apps WHERE org = ? AND id = ?'),
      getAppByChannelKey: db.prepare<[string], AppRow>('SELECT * FROM apps WHERE channel_key = ?'),
      anyChannelSecret: db.prepare<[], { channel_secret_enc: string }>('SELECT channel_secret_enc FROM apps LIMIT 1'),
      insertApp: db.prepare(
        `INSERT INTO apps (org, id, name, description, status, created_at, last_connected_at, rate_limit_profile, channel_key, channel_secret_enc,
           client_events, subscription_count, channel_limits)
         VALUES (@org, @id, @name, @description, @status, @createdAt, @lastConnectedAt, @rateLimitProfile, @channelKey, @channelSecretEnc,
           @clientEvents, @subscriptionCount, @channelLimits)`,
      ),
      updateApp: db.prepare(
        `UPDATE apps SET name = coalesce(@name, name),
           description = CASE WHEN @setDescription THEN @description ELSE description END,
           rate_limit_profile = coalesce(@rateLimitProfile, rate_limit_profile),
           client_events = coalesce(@clientEvents, client_events),
           subscription_count = coalesce(@subscriptionCount, subscription_count),
           channel_limits = coalesce(@channelLimits, channel_limits),
           channel_key = coalesce(@channelKey, channel_key),
           channel_secret_enc = coalesce(@channelSecretEnc, channel_secret_enc)
         WHERE org = @org AND id = @id`,
      ),
      setAppStatus: db.prepare('UPDATE apps SET status = ? WHERE org = ? AND id = ?'),
      setAppChannelSecret: db.prepare('UPDATE apps SET channel_secret_enc = ? WHERE org = ? AND id = ?'),
      setAppLastConnected: db.prepare('UPDATE apps SET last_connected_at = max(coalesce(last_connected_at, 0), ?) WHERE org = ? AND id = ?'),
      insertAppToken: db.prepare(
        `INSERT INTO app_tokens (id, org, app_id, lookup_id, hash, created_at, valid_until)
         VALUES (@id, @org, @appId, @lookupId, @hash, @createdAt, @validUntil)`,
      ),
      validAppTokens: db.prepare<[string, number], AppTokenRow>(
        'SELECT * FROM app_tokens WHERE app_id = ? AND (valid_until IS NULL OR valid_until > ?) ORDER BY created_at DESC',
      ),
      appTokenByLookupId: db.prepare<[string], AppTokenRow>('SELECT * FROM app_tokens WHERE lookup_id = ?'),
      validLegacyAppTokens: db.prepare<[string, number], AppTokenRow>(
        'SELECT * FROM app_tokens WHERE app_id = ? AND lookup_id IS NULL AND (valid_until IS NULL OR valid_until > ?) ORDER BY created_at DESC',
      ),
      startGrace: db.prepare(
        `UPDATE app_tokens SET valid_until = min(coalesce(valid_until, @graceUntil), @graceUntil)
         WHERE org = @org AND app_id = @appId AND id != @id AND (valid_until IS NULL OR valid_until > @now)`,
      ),
      tokensInGrace: db.prepare<[number], AppTokenRow>('SELECT * FROM app_tokens WHERE valid_until > ?'),
      listAgents: db.prepare<[string], AgentRow>('SELECT * FROM agents WHERE org = ? ORDER BY id'),
      getAgent: db.prepare<[string, string], AgentRow>('SELECT * FROM agents WHERE org = ? AND id = ?'),
      insertAgent: db.prepare(
        `INSERT INTO agents (org, id, name, status, timeout_ms, created_at, last_connected_at, schema_app_id, schema_name)
         VALUES (@org, @id, @name, @status, @timeoutMs, @createdAt, @lastConnectedAt, @schemaAppId, @schemaName)`,
      ),
      setAgentStatus: db.prepare('UPDATE agents SET status = ? WHERE org = ? AND id = ?'),
      setAgentLastConnected: db.prepare('UPDATE agents SET last_connected_at = max(coalesce(last_connected_at, 0), ?) WHERE org = ? AND id = ?'),
      insertAgentToken: db.prepare(
        'INSERT INTO agent_tokens (id, org, agent_id, hash, created_at, valid_until) VALUES (@id, @org, @agentId, @hash, @createdAt, @validUntil)',
      ),
      findAgentToken: db.prepare<[string], AgentTokenRow>('SELECT * FROM agent_tokens WHERE hash = ?'),
      validAgentTokens: db.prepare<[string, string, number], AgentTokenRow>(
        'SELECT * FROM agent_tokens WHERE org = ? AND agent_id = ? AND (valid_until IS NULL OR valid_until > ?)',
      ),
      startAgentGrace: db.prepare(
        `UPDATE agent_tokens SET valid_until = min(coalesce(valid_until, @graceUntil), @graceUntil)
         WHERE org = @org AND agent_id = @agentId AND id != @id AND (valid_until IS NULL OR valid_until > @now)`,
      ),
      agentTokensInGrace: db.prepare<[number], AgentTokenRow>('SELECT * FROM agent_tokens WHERE valid_until > ?'),
      listAllowed: db.prepare<[string, string], { agent_id: string }>('SELECT agent_id FROM app_allowed_agents WHERE org = ? AND app_id = ? ORDER BY agent_id'),
      allowAgent: db.prepare('INSERT OR IGNORE INTO app_allowed_agents (org, app_id, agent_id) VALUES (?, ?, ?)'),
      disallowAgent: db.prepare('DELETE FROM app_allowed_agents WHERE org = ? AND app_id = ? AND agent_id = ?'),
      insertApiToken: db.prepare(
        `INSERT INTO api_tokens (id, org, app_id, name, description, scopes, rate_limit, hash, created_at, expires_at, last_used_at, revoked_at)
         VALUES (@id, @org, @appId, @name, @description, @scopes, @rateLimit, @hash, @createdAt, @expiresAt, @lastUsedAt, @revokedAt)`,
      ),
      listApiTokens: db.prepare<[string, string], ApiTokenRow>('SELECT * FROM api_tokens WHERE org = ? AND app_id = ? ORDER BY created_at, id'),
      getApiToken: db.prepare<[string], ApiTokenRow>('SELECT * FROM api_tokens WHERE id = ?'),
      findApiToken: db.prepare<[string], ApiTokenRow>('SELECT * FROM api_tokens WHERE hash = ?'),
      revokeApiToken: db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      setApiTokenHash: db.prepare('UPDATE api_tokens SET hash = ? WHERE id = ?'),
      touchApiToken: db.prepare('UPDATE api_tokens SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?'),
      // Positional parameters: this insert is the publish hot path, and named binding costs more.
      insertEvent: db.prepare<EventParams>(`INSERT INTO events (${EVENT_COLUMNS}) VALUES ${EVENT_VALUES}`),
      insertEvents: db.prepare<EventParams[number][]>(`INSERT INTO events (${EVENT_COLUMNS}) VALUES ${Array(INSERT_ROWS).fill(EVENT_VALUES).join(', ')}`),
      updateEvent: db.prepare(
        `UPDATE events SET status = coalesce(?, status), attempt = coalesce(?, attempt), reply = coalesce(?, reply),
           error = coalesce(?, error), outcome_at = coalesce(?, outcome_at), latency_ms = coalesce(?, latency_ms),
           acked_at = coalesce(?, acked_at)
         WHERE id = ?`,
      ),
      insertTimeline: db.prepare('INSERT INTO event_timeline (seq, event_id, at, type, detail, status, latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      getEvent: db.prepare<[string], EventRow>('SELECT * FROM events WHERE id = ?'),
      listTimeline: db.prepare<[string], TimelineRow>(
        `SELECT t.seq, t.at, t.type, t.detail, ${CHANGE_STATE} FROM event_timeline t JOIN events e ON e.id = t.event_id WHERE t.event_id = ? ORDER BY t.seq`,
      ),
      // AUTOINCREMENT keeps the highest seq ever used here, even once pruning has deleted its row.
      lastChangeSeq: db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'event_timeline'"),
      listUnsettled: db.prepare<[{ org: string; agent: string | null; appId: string | null }], EventRow>(
        `SELECT * FROM events WHERE kind = 'agent' AND acked_at IS NULL AND status != 'rejected'
           AND org = @org AND (@agent IS NULL OR agent = @agent) AND (@appId IS NULL OR app_id = @appId) ORDER BY id`,
      ),
      // The id range finds them by the primary key (ids sort by creation time); created_at makes it exact.
      prunable: db.prepare<[string, number, number], { id: string }>(
        `SELECT id FROM events WHERE id < ? AND created_at < ?
           AND (kind = 'channel' OR status = 'rejected' OR acked_at IS NOT NULL) AND expires_at IS NULL LIMIT ?`,
      ),
      deleteEvent: db.prepare('DELETE FROM events WHERE id = ?'),
      deleteTimeline: db.prepare('DELETE FROM event_timeline WHERE event_id = ?'),
      insertAudit: db.prepare(
        `INSERT INTO audit (id, at, actor, action, org, target_type, target_id, details)
         VALUES (@id, @at, @actor, @action, @org, @targetType, @targetId, @details)`,
      ),
      getDeletedApp: db.prepare<[string, string], DeletedAppRow>('SELECT * FROM deleted_apps WHERE org = ? AND id = ?'),
      rememberDeletedApp: db.prepare(
        `INSERT INTO deleted_apps (org, id, name, deleted_at, purged_at) VALUES (@org, @id, @name, @deletedAt, @purgedAt)
         ON CONFLICT (org, id) DO UPDATE SET name = excluded.name, deleted_at = excluded.deleted_at, purged_at = excluded.purged_at`,
      ),
      markDeletedAppPurged: db.prepare('UPDATE deleted_apps SET purged_at = ? WHERE org = ? AND id = ?'),
      deleteAppRows: [
        'DELETE FROM webhooks WHERE org = ? AND app_id = ?',
        'DELETE FROM channel_rules WHERE org = ? AND app_id = ?',
        'DELETE FROM api_tokens WHERE org = ? AND app_id = ?',
        'DELETE FROM app_tokens WHERE org = ? AND app_id = ?',
        'DELETE FROM app_allowed_agents WHERE org = ? AND app_id = ?',
        'DELETE FROM schema_versions WHERE org = ? AND app_id = ?',
        'UPDATE agents SET schema_app_id = NULL, schema_name = NULL WHERE org = ? AND schema_app_id = ?',
        'DELETE FROM apps WHERE org = ? AND id = ?',
      ].map((sql) => db.prepare<[string, string]>(sql)),
      purgeAppTimelines: db.prepare<[string, string]>('DELETE FROM event_timeline WHERE event_id IN (SELECT id FROM events WHERE org = ? AND app_id = ?)'),
      purgeAppEvents: db.prepare<[string, string]>('DELETE FROM events WHERE org = ? AND app_id = ?'),
      appsAllowingAgent: db.prepare<[string, string], { app_id: string; allowed: number }>(
        `SELECT a.app_id, (SELECT count(*) FROM app_allowed_agents b WHERE b.org = a.org AND b.app_id = a.app_id) AS allowed
         FROM app_allowed_agents a WHERE a.org = ? AND a.agent_id = ? ORDER BY a.app_id`,
      ),
      deleteAgentRows: [
        'DELETE FROM agent_tokens WHERE org = ? AND agent_id = ?',
        'DELETE FROM app_allowed_agents WHERE org = ? AND agent_id = ?',
        'DELETE FROM agents WHERE org = ? AND id = ?',
      ].map((sql) => db.prepare<[string, string]>(sql)),
      purgeAgentTimelines: db.prepare<[string, string]>(
        "DELETE FROM event_timeline WHERE event_id IN (SELECT id FROM events WHERE org = ? AND kind = 'agent' AND agent = ?)",
      ),
      purgeAgentEvents: db.prepare<[string, string]>("DELETE FROM events WHERE org = ? AND kind = 'agent' AND agent = ?"),
      // ---- event schemas (issue 18)
      updateAgent: db.prepare(
        `UPDATE agents SET name = coalesce(@name, name), timeout_ms = coalesce(@timeoutMs, timeout_ms),
           schema_app_id = CASE WHEN @setSchema THEN @schemaAppId ELSE schema_app_id END,
           schema_name = CASE WHEN @setSchema THEN @schemaName ELSE schema_name END
         WHERE org = @org AND id = @id`,
      ),
      listSchemas: db.prepare<[string, string], SchemaRow>(
        `SELECT v.*, h.versions, h.first_created_at FROM schema_versions v
           JOIN (SELECT org, app_id, name, max(version) AS latest, count(*) AS versions, min(created_at) AS first_created_at
                 FROM schema_versions WHERE org = ? AND app_id = ? GROUP BY org, app_id, name) h
             ON v.org = h.org AND v.app_id = h.app_id AND v.name = h.name AND v.version = h.latest
         ORDER BY v.name`,
      ),
      getSchema: db.prepare<[string, string, string], SchemaRow>(
        `SELECT v.*, (SELECT count(*) FROM schema_versions c WHERE c.org = v.org AND c.app_id = v.app_id AND c.name = v.name) AS versions,
                (SELECT min(created_at) FROM schema_versions c WHERE c.org = v.org AND c.app_id = v.app_id AND c.name = v.name) AS first_created_at
         FROM schema_versions v WHERE v.org = ? AND v.app_id = ? AND v.name = ? ORDER BY v.version DESC LIMIT 1`,
      ),
      getSchemaVersion: db.prepare<[string, string, string, number], SchemaVersionRow>('SELECT * FROM schema_versions WHERE org = ? AND app_id = ? AND name = ? AND version = ?'),
      latestSchemaVersion: db.prepare<[string, string, string], { latest: number | null }>('SELECT max(version) AS latest FROM schema_versions WHERE org = ? AND app_id = ? AND name = ?'),
      insertSchemaVersion: db.prepare(
        `INSERT INTO schema_versions (org, app_id, name, version, document, created_at, created_by)
         VALUES (@org, @appId, @name, @version, @document, @createdAt, @createdBy)`,
      ),
      deleteSchema: db.prepare<[string, string, string]>('DELETE FROM schema_versions WHERE org = ? AND app_id = ? AND name = ?'),
      agentsUsingSchema: db.prepare<[string, string, string], { id: string }>('SELECT id FROM agents WHERE org = ? AND schema_app_id = ? AND schema_name = ? ORDER BY id'),
      unbindSchema: db.prepare<[string, string, string]>('UPDATE agents SET schema_app_id = NULL, schema_name = NULL WHERE org = ? AND schema_app_id = ? AND schema_name = ?'),
      unbindSchemaFromRules: db.prepare<[string, string, string], { id: string }>('UPDATE channel_rules SET schema = NULL, schema_event = NULL WHERE org = ? AND app_id = ? AND schema = ? RETURNING id'),
      listAudit: db.prepare<[number, number], AuditRow>('SELECT * FROM audit WHERE at >= ? ORDER BY seq DESC LIMIT ?'),
    };
  }

  #migrate(path: string): void {
    this.#db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT');
    const applied = new Set(
      this.#db.prepare<[], { version: number }>('SELECT version FROM schema_migrations').all().map((row) => row.version),
    );
    const newest = Math.max(0, ...applied);
    const known = Math.max(0, ...MIGRATIONS.map((m) => m.version));
    if (newest > known) {
      throw new StartupError(`the database ${path} has schema version ${newest}, newer than this relayd knows (${known}): a newer relayd has run on it. Upgrade relayd`);
    }
    for (const migration of MIGRATIONS) {
      if (applied.has(migration.version)) continue;
      this.#db.transaction(() => {
        this.#db.exec(migration.sql);
        this.#db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(migration.version, migration.name, Date.now());
      })();
    }
  }

  #audit(entry: AuditRecord): void {
    this.#stmts.insertAudit.run({ ...entry, details: JSON.stringify(entry.details) });
  }

  async close(): Promise<void> {
    if (!this.#db.open) return;
    await this.#checkpointer.close();
    this.#db.pragma('wal_checkpoint(TRUNCATE)');
    this.#db.close();
  }

  async insertAdminToken(token: AdminTokenRecord): Promise<void> {
    this.#stmts.insertAdminToken.run(token.id, token.hash, token.createdAt);
  }

  async findAdminTokenByHash(hash: string): Promise<AdminTokenRecord | null> {
    const row = this.#stmts.findAdminToken.get(hash);
    return row ? { id: row.id, hash: row.hash, createdAt: row.created_at } : null;
  }

  async listOrgs(): Promise<OrgRecord[]> {
    return this.#stmts.listOrgs.all().map((row) => ({ id: row.id, name: row.name, createdAt: row.created_at }));
  }

  async getOrg(id: string): Promise<OrgRecord | null> {
    const row = this.#stmts.getOrg.get(id);
    return row ? { id: row.id, name: row.name, createdAt: row.created_at } : null;
  }

  async insertOrg(org: OrgRecord, audit: AuditRecord | null): Promise<void> {
    try {
      this.#db.transaction(() => {
        this.#stmts.insertOrg.run(org.id, org.name, org.createdAt);
        if (audit) this.#audit(audit);
      })();
    } catch (err) {
      if (isDuplicate(err)) throw new RelayError('conflict', `organization "${org.id}" exists already`);
      throw err;
    }
  }

  async listApps(org: string | null): Promise<AppRecord[]> {
    const rows = org === null ? this.#stmts.listApps.all() : this.#stmts.listAppsOfOrg.all(org);
    return rows.map(toApp);
  }

  async anyChannelSecret(): Promise<string | null> {
    return this.#stmts.anyChannelSecret.get()?.channel_secret_enc ?? null;
  }

  async getAppByChannelKey(key: string): Promise<AppRecord | null> {
    const row = this.#stmts.getAppByChannelKey.get(key);
    return row ? toApp(row) : null;
  }

  async getApp(org: string, id: string): Promise<AppRecord | null> {
    const row = this.#stmts.getApp.get(org, id);
    return row ? toApp(row) : null;
  }

  async insertApp(app: AppRecord, token: AppTokenRecord, audit: AuditRecord): Promise<void> {
    try {
      this.#db.transaction(() => {
        this.#stmts.insertApp.run({ ...app, clientEvents: Number(app.clientEvents), subscriptionCount: Number(app.subscriptionCount), channelLimits: JSON.stringify(app.channelLimits) });
        this.#stmts.insertAppToken.run(token);
        this.#audit(audit);
      })();
    } catch (err) {
      if (isDuplicateKey(err)) throw keyTaken(app.channelKey);
      if (isDuplicate(err)) throw new RelayError('conflict', `app "${app.id}" exists already in organization "${app.org}"`);
      throw err;
    }
  }

  async updateApp(org: string, id: string, patch: AppPatch, audit: AuditRecord): Promise<AppRecord | null> {
    try {
      return this.#updateApp(org, id, patch, audit);
    } catch (err) {
      if (isDuplicateKey(err)) throw keyTaken(patch.channelKey ?? '');
      throw err;
    }
  }

  #updateApp(org: string, id: string, patch: AppPatch, audit: AuditRecord): AppRecord | null {
    return this.#db.transaction(() => {
      const result = this.#stmts.updateApp.run({
        org,
        id,
        name: patch.name ?? null,
        setDescription: patch.description !== undefined ? 1 : 0,
        description: patch.description ?? null,
        rateLimitProfile: patch.rateLimitProfile ?? null,
        clientEvents: patch.clientEvents === undefined ? null : Number(patch.clientEvents),
        subscriptionCount: patch.subscriptionCount === undefined ? null : Number(patch.subscriptionCount),
        channelLimits: patch.channelLimits === undefined ? null : JSON.stringify(patch.channelLimits),
        channelKey: patch.channelKey ?? null,
        channelSecretEnc: patch.channelSecretEnc ?? null,
      });
      if (result.changes === 0) return null;
      this.#audit(audit);
      const row = this.#stmts.getApp.get(org, id);
      return row ? toApp(row) : null;
    })();
  }

  async setAppStatus(org: string, id: string, status: AppStatus, audit: AuditRecord): Promise<AppRecord | null> {
    return this.#db.transaction(() => {
      if (this.#stmts.setAppStatus.run(status, org, id).changes === 0) return null;
      this.#audit(audit);
      const row = this.#stmts.getApp.get(org, id);
      return row ? toApp(row) : null;
    })();
  }

  async setAppChannelSecret(org: string, id: string, channelSecretEnc: string, audit: AuditRecord): Promise<AppRecord | null> {
    return this.#db.transaction(() => {
      if (this.#stmts.setAppChannelSecret.run(channelSecretEnc, org, id).changes === 0) return null;
      this.#audit(audit);
      const row = this.#stmts.getApp.get(org, id);
      return row ? toApp(row) : null;
    })();
  }

  async setAppLastConnected(org: string, id: string, at: number): Promise<void> {
    this.#stmts.setAppLastConnected.run(at, org, id);
  }

  async findValidAppTokens(appId: string, now: number): Promise<AppTokenRecord[]> {
    return this.#stmts.validAppTokens.all(appId, now).map(toAppToken);
  }

  async findAppTokenByLookupId(lookupId: string): Promise<AppTokenRecord | null> {
    const row = this.#stmts.appTokenByLookupId.get(lookupId);
    return row ? toAppToken(row) : null;
  }

  async findValidLegacyAppTokens(appId: string, now: number): Promise<AppTokenRecord[]> {
    return this.#stmts.validLegacyAppTokens.all(appId, now).map(toAppToken);
  }

  async rotateAppToken(token: AppTokenRecord, graceUntil: number, now: number, audit: AuditRecord): Promise<void> {
    this.#db.transaction(() => {
      this.#stmts.insertAppToken.run(token);
      this.#stmts.startGrace.run({ org: token.org, appId: token.appId, id: token.id, graceUntil, now });
      this.#audit(audit);
    })();
  }

  async listTokensInGrace(now: number): Promise<AppTokenRecord[]> {
    return this.#stmts.tokensInGrace.all(now).map(toAppToken);
  }

  async listAgents(org: string): Promise<AgentRecord[]> {
    return this.#stmts.listAgents.all(org).map(toAgent);
  }

  async getAgent(org: string, id: string): Promise<AgentRecord | null> {
    const row = this.#stmts.getAgent.get(org, id);
    return row ? toAgent(row) : null;
  }

  async insertAgent(agent: AgentRecord, token: AgentTokenRecord, audit: AuditRecord): Promise<void> {
    try {
      this.#db.transaction(() => {
        this.#stmts.insertAgent.run({ ...agent, schemaAppId: agent.schema?.appId ?? null, schemaName: agent.schema?.name ?? null });
        this.#stmts.insertAgentToken.run(token);
        this.#audit(audit);
      })();
    } catch (err) {
      if (isDuplicate(err)) throw new RelayError('conflict', `agent "${agent.id}" exists already in organization "${agent.org}"`);
      throw err;
    }
  }

  async setAgentStatus(org: string, id: string, status: AppStatus, audit: AuditRecord): Promise<AgentRecord | null> {
    return this.#db.transaction(() => {
      if (this.#stmts.setAgentStatus.run(status, org, id).changes === 0) return null;
      this.#audit(audit);
      const row = this.#stmts.getAgent.get(org, id);
      return row ? toAgent(row) : null;
    })();
  }

  async setAgentLastConnected(org: string, id: string, at: number): Promise<void> {
    this.#stmts.setAgentLastConnected.run(at, org, id);
  }

  async findAgentTokenByHash(hash: string): Promise<AgentTokenRecord | null> {
    const row = this.#stmts.findAgentToken.get(hash);
    return row ? toAgentToken(row) : null;
  }

  async findValidAgentTokens(org: string, agentId: string, now: number): Promise<AgentTokenRecord[]> {
    return this.#stmts.validAgentTokens.all(org, agentId, now).map(toAgentToken);
  }

  async rotateAgentToken(token: AgentTokenRecord, graceUntil: number, now: number, audit: AuditRecord): Promise<void> {
    this.#db.transaction(() => {
      this.#stmts.insertAgentToken.run(token);
      this.#stmts.startAgentGrace.run({ org: token.org, agentId: token.agentId, id: token.id, graceUntil, now });
      this.#audit(audit);
    })();
  }

  async listAgentTokensInGrace(now: number): Promise<AgentTokenRecord[]> {
    return this.#stmts.agentTokensInGrace.all(now).map(toAgentToken);
  }

  // ---- event schemas (issue 18)

  async updateAgent(org: string, id: string, patch: AgentPatch, audit: AuditRecord): Promise<AgentRecord | null> {
    return this.#db.transaction(() => {
      const setSchema = patch.schema !== undefined;
      const params = {
        org,
        id,
        name: patch.name ?? null,
        timeoutMs: patch.timeoutMs ?? null,
        setSchema: setSchema ? 1 : 0,
        schemaAppId: patch.schema?.appId ?? null,
        schemaName: patch.schema?.name ?? null,
      };
      if (this.#stmts.updateAgent.run(params).changes === 0) return null;
      this.#audit(audit);
      const row = this.#stmts.getAgent.get(org, id);
      return row ? toAgent(row) : null;
    })();
  }

  async listSchemas(org: string, appId: string): Promise<SchemaRecord[]> {
    return this.#stmts.listSchemas.all(org, appId).map(toSchema);
  }

  async getSchema(org: string, appId: string, name: string): Promise<SchemaRecord | null> {
    const row = this.#stmts.getSchema.get(org, appId, name);
    return row ? toSchema(row) : null;
  }

  async getSchemaVersion(org: string, appId: string, name: string, version: number): Promise<SchemaVersionRecord | null> {
    const row = this.#stmts.getSchemaVersion.get(org, appId, name, version);
    return row ? toSchemaVersion(row) : null;
  }

  async insertSchemaVersion(input: Omit<SchemaVersionRecord, 'version'>, mode: 'add' | 'update', audit: AuditRecord): Promise<SchemaVersionRecord | null> {
    return this.#db.transaction(() => {
      const latest = this.#stmts.latestSchemaVersion.get(input.org, input.appId, input.name)?.latest ?? null;
      if (mode === 'add' && latest !== null) throw schemaTaken(input.appId, input.name);
      if (mode === 'update' && latest === null) return null;
      const record: SchemaVersionRecord = { ...input, version: (latest ?? 0) + 1 };
      this.#stmts.insertSchemaVersion.run(record);
      this.#audit({ ...audit, details: { ...audit.details, version: record.version } });
      return record;
    })();
  }

  async deleteSchema(org: string, appId: string, name: string, audit: AuditRecord): Promise<{ unboundAgents: string[]; unboundRules: string[] } | null> {
    return this.#db.transaction(() => {
      const unboundAgents = this.#stmts.agentsUsingSchema.all(org, appId, name).map((row) => row.id);
      if (this.#stmts.deleteSchema.run(org, appId, name).changes === 0) return null;
      this.#stmts.unbindSchema.run(org, appId, name);
      const unboundRules = this.#stmts.unbindSchemaFromRules.all(org, appId, name).map((row) => row.id).sort();
      this.#audit({ ...audit, details: { ...audit.details, unboundAgents, unboundRules } });
      return { unboundAgents, unboundRules };
    })();
  }

  async agentsUsingSchema(org: string, appId: string, name: string): Promise<string[]> {
    return this.#stmts.agentsUsingSchema.all(org, appId, name).map((row) => row.id);
  }

  async deleteApp(org: string, id: string, options: { at: number; purge: boolean }, audit: AuditRecord): Promise<{ deleted: DeletedAppRecord; purgedEvents: number } | null> {
    const s = this.#stmts;
    return this.#db.transaction(() => {
      const app = s.getApp.get(org, id);
      if (!app) return null;
      for (const statement of s.deleteAppRows) statement.run(org, id);
      this.#functions.deleteApp(org, id);
      this.#usage.deleteApp(org, id);
      const deleted: DeletedAppRecord = { org, id, name: app.name, deletedAt: options.at, purgedAt: options.purge ? options.at : null };
      s.rememberDeletedApp.run(deleted);
      const purgedEvents = options.purge ? this.#purgeApp(org, id) : 0;
      this.#audit(audit);
      return { deleted, purgedEvents };
    })();
  }

  async getDeletedApp(org: string, id: string): Promise<DeletedAppRecord | null> {
    const row = this.#stmts.getDeletedApp.get(org, id);
    return row ? toDeletedApp(row) : null;
  }

  async purgeDeletedApp(org: string, id: string, at: number, audit: AuditRecord): Promise<{ deleted: DeletedAppRecord; purgedEvents: number } | null> {
    const s = this.#stmts;
    return this.#db.transaction(() => {
      if (s.markDeletedAppPurged.run(at, org, id).changes === 0) return null;
      const purgedEvents = this.#purgeApp(org, id);
      this.#audit(audit);
      return { deleted: toDeletedApp(s.getDeletedApp.get(org, id) as DeletedAppRow), purgedEvents };
    })();
  }

  #purgeApp(org: string, id: string): number {
    this.#stmts.purgeAppTimelines.run(org, id);
    // Keys seal nothing once the history is gone; a new app of this id starts without them.
    this.#keys.purgeApp(org, id);
    return this.#stmts.purgeAppEvents.run(org, id).changes;
  }

  async deleteAgent(org: string, id: string, options: { purge: boolean }, audit: AuditRecord): Promise<{ purgedEvents: number } | null> {
    const s = this.#stmts;
    return this.#db.transaction(() => {
      if (!s.getAgent.get(org, id)) return null;
      for (const statement of s.deleteAgentRows) statement.run(org, id);
      let purgedEvents = 0;
      if (options.purge) {
        s.purgeAgentTimelines.run(org, id);
        purgedEvents = s.purgeAgentEvents.run(org, id).changes;
      }
      this.#audit(audit);
      return { purgedEvents };
    })();
  }

  async appsAllowingAgent(org: string, agentId: string): Promise<{ appId: string; allowed: number }[]> {
    return this.#stmts.appsAllowingAgent.all(org, agentId).map((row) => ({ appId: row.app_id, allowed: row.allowed }));
  }

  async listAllowedAgents(org: string, appId: string): Promise<string[]> {
    return this.#stmts.listAllowed.all(org, appId).map((row) => row.agent_id);
  }

  async changeAllowedAgents(org: string, appId: string, change: { add: string[]; remove: string[] }, audit: AuditRecord): Promise<string[]> {
    return this.#db.transaction(() => {
      for (const agent of change.add) this.#stmts.allowAgent.run(org, appId, agent);
      for (const agent of change.remove) this.#stmts.disallowAgent.run(org, appId, agent);
      this.#audit(audit);
      return this.#stmts.listAllowed.all(org, appId).map((row) => row.agent_id);
    })();
  }

  async insertApiToken(token: ApiTokenRecord, audit: AuditRecord): Promise<void> {
    this.#db.transaction(() => {
      this.#stmts.insertApiToken.run(apiTokenParams(token));
      this.#audit(audit);
    })();
  }

  async listApiTokens(org: string, appId: string): Promise<ApiTokenRecord[]> {
    return this.#stmts.listApiTokens.all(org, appId).map(toApiToken);
  }

  async getApiToken(id: string): Promise<ApiTokenRecord | null> {
    const row = this.#stmts.getApiToken.get(id);
    return row ? toApiToken(row) : null;
  }

  async findApiTokenByHash(hash: string): Promise<ApiTokenRecord | null> {
    const row = this.#stmts.findApiToken.get(hash);
    return row ? toApiToken(row) : null;
  }

  async revokeApiToken(id: string, at: number, audit: AuditRecord): Promise<ApiTokenRecord | null> {
    return this.#db.transaction(() => {
      if (this.#stmts.revokeApiToken.run(at, id).changes > 0) this.#audit(audit);
      const row = this.#stmts.getApiToken.get(id);
      return row ? toApiToken(row) : null;
    })();
  }

  async rotateApiToken(id: string, hash: string, audit: AuditRecord): Promise<void> {
    this.#db.transaction(() => {
      this.#stmts.setApiTokenHash.run(hash, id);
      this.#audit(audit);
    })();
  }

  async recordApiTokenUse(uses: { id: string; at: number }[]): Promise<void> {
    this.#db.transaction(() => {
      for (const use of uses) this.#stmts.touchApiToken.run(use.at, use.id);
    })();
  }

  async writeEvents(writes: EventWrite[]): Promise<void> {
    const { insertEvent, insertEvents, updateEvent, insertTimeline } = this.#stmts;
    const inserted = writes.flatMap((w) => (w.type === 'insert' ? [eventParams(w.event)] : []));
    this.#db.transaction(() => {
      // The new rows first, INSERT_ROWS to a statement (one call per row costs more than
      // SQLite's own work); an update in the batch is always of an event inserted before it.
      // Values go as arguments, not as one array: the binding reads arguments directly, an array element by element.
      let i = 0;
      for (; i + INSERT_ROWS <= inserted.length; i += INSERT_ROWS) insertEvents.run(...inserted.slice(i, i + INSERT_ROWS).flat());
      for (; i < inserted.length; i++) insertEvent.run(...(inserted[i] as EventParams));
      for (const w of writes) {
        if (w.type === 'update') {
          const p = w.patch;
          updateEvent.run(p.status ?? null, p.attempt ?? null, p.reply ?? null, p.error ?? null, p.outcomeAt ?? null, p.latencyMs ?? null, p.ackedAt ?? null, w.id);
        }
        const id = w.type === 'insert' ? w.event.id : w.id;
        for (const t of w.timeline) insertTimeline.run(t.seq, id, t.at, t.type, t.detail === null ? null : JSON.stringify(t.detail), t.status, t.latencyMs);
      }
    })();
  }

  async queryEvents(org: string, query: EventQuery): Promise<EventRecord[]> {
    if (query.appId !== undefined) return this.#queryApp(org, query.appId, query).map(toEvent);
    // No index by organization alone (see migration 9): the newest of each of its apps, merged.
    const rows = this.#stmts.appIdsOfOrg.all(org, org).flatMap(({ id }) => this.#queryApp(org, id, query));
    return rows
      .sort((a, b) => (a.id < b.id ? 1 : -1))
      .slice(0, query.limit)
      .map(toEvent);
  }

  /** One app's events, newest first, through events_by_app. */
  #queryApp(org: string, appId: string, query: EventQuery): EventRow[] {
    const where = ['org = ?', 'app_id = ?'];
    const params: (string | number)[] = [org, appId];
    const filters: [string, string | number | undefined][] = [
      ['agent = ?', query.agent],
      ['thread = ?', query.thread],
      ['status = ?', query.status],
      // The id bound lets the index range start at the time; created_at makes it exact.
      ['id >= ?', query.since === undefined ? undefined : eventIdAt(query.since)],
      ['created_at >= ?', query.since],
      ['id < ?', query.before],
    ];
    addFilters(where, params, filters);
    const sql = `SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT ?`;
    // A handful of filter combinations exist; their statements are prepared once each.
    let stmt = this.#queries.get(sql);
    if (!stmt) {
      stmt = this.#db.prepare<(string | number)[], EventRow>(sql);
      this.#queries.set(sql, stmt);
    }
    return stmt.all(...params, query.limit);
  }

  async getEvent(id: string): Promise<EventRecord | null> {
    const row = this.#stmts.getEvent.get(id);
    return row ? toEvent(row) : null;
  }

  async listTimeline(eventId: string): Promise<TimelineRecord[]> {
    return this.#stmts.listTimeline.all(eventId).map(toTimeline);
  }

  async lastChangeSeq(): Promise<number> {
    return this.#stmts.lastChangeSeq.get()?.seq ?? 0;
  }

  /** One process has the database (the data dir's lock): what it reserved is remembered here, and forgetting it at a restart loses nothing. */
  async reserveChangeSeqs(count: number): Promise<number> {
    // Read and set without an await between: calls made together must not get the same block.
    const first = Math.max(this.#reservedSeq, this.#stmts.lastChangeSeq.get()?.seq ?? 0) + 1;
    this.#reservedSeq = first + count - 1;
    return first;
  }

  /** Through the timeline's primary key (seq), joined to each change's event for the filters. */
  async listChanges(org: string, query: ChangeQuery): Promise<ChangeRecord[]> {
    const where = ['t.seq > ?', 't.seq <= ?', 'e.org = ?'];
    const params: (string | number)[] = [query.after, query.upTo, org];
    const filters: [string, string | undefined][] = [
      ['e.app_id = ?', query.appId],
      ['e.agent = ?', query.agent],
      ['e.thread = ?', query.thread],
      ['coalesce(t.status, e.status) = ?', query.status],
    ];
    addFilters(where, params, filters);
    const sql =
      `SELECT t.seq, t.at, t.type, ${CHANGE_STATE}, e.id, e.org, e.app_id, e.kind, e.agent, e.thread, e.name, e.channels, e.created_at ` +
      `FROM event_timeline t JOIN events e ON e.id = t.event_id WHERE ${where.join(' AND ')} ORDER BY t.seq LIMIT ?`;
    // As for queryEvents: a handful of filter combinations, each prepared once.
    let stmt = this.#changeQueries.get(sql);
    if (!stmt) {
      stmt = this.#db.prepare<(string | number)[], ChangeRow>(sql);
      this.#changeQueries.set(sql, stmt);
    }
    return stmt.all(...params, query.limit).map(toChange);
  }

  async listUnsettledEvents(scope: UnsettledScope): Promise<EventRecord[]> {
    return this.#stmts.listUnsettled.all({ org: scope.org, agent: scope.agent ?? null, appId: scope.appId ?? null }).map(toEvent);
  }

  async pruneEvents(before: number, limit: number): Promise<number> {
    const { prunable, deleteEvent, deleteTimeline } = this.#stmts;
    return this.#db.transaction(() => {
      const ids = prunable.all(eventIdAt(before), before, limit);
      for (const { id } of ids) {
        deleteTimeline.run(id);
        deleteEvent.run(id);
      }
      return ids.length;
    })();
  }

  async insertWebhook(webhook: WebhookRecord, audit: AuditRecord): Promise<void> {
    this.#webhooks.insert(webhook, () => this.#audit(audit));
  }

  async listWebhooks(scope: { org: string; appId: string } | null): Promise<WebhookRecord[]> {
    return this.#webhooks.list(scope);
  }

  async getWebhook(id: string): Promise<WebhookRecord | null> {
    return this.#webhooks.get(id);
  }

  async deleteWebhook(id: string, audit: AuditRecord): Promise<void> {
    this.#webhooks.delete(id, () => this.#audit(audit));
  }

  async insertWebhookDeliveries(deliveries: WebhookDeliveryRecord[]): Promise<void> {
    this.#webhooks.insertDeliveries(deliveries);
  }

  async recordWebhookAttempt(write: WebhookAttemptWrite): Promise<void> {
    this.#webhooks.recordAttempt(write);
  }

  async claimWebhookDeliveries(claim: WebhookClaim): Promise<WebhookDeliveryRecord[]> {
    return this.#webhooks.claim(claim);
  }

  async renewWebhookClaims(node: string, ids: string[], until: number): Promise<string[]> {
    return this.#webhooks.renew(node, ids, until);
  }

  async releaseWebhookClaims(node: string | null): Promise<void> {
    this.#webhooks.release(node);
  }

  async listPendingWebhookDeliveries(): Promise<WebhookDeliveryRecord[]> {
    return this.#webhooks.pending();
  }

  async listWebhookDeliveries(webhookId: string, limit: number): Promise<{ delivery: WebhookDeliveryRecord; attempts: WebhookAttemptRecord[] }[]> {
    return this.#webhooks.deliveries(webhookId, limit);
  }

  async pruneWebhookDeliveries(before: number, limit: number): Promise<number> {
    return this.#webhooks.prune(before, limit);
  }

  async insertAudit(entry: AuditRecord): Promise<void> {
    this.#audit(entry);
  }

  async claimSetting(key: string, value: string): Promise<string> {
    this.#stmts.claimSetting.run(key, value);
    return (this.#stmts.getSetting.get(key) as { value: string }).value;
  }

  async acquireLease(name: string, holder: string, now: number, until: number): Promise<boolean> {
    return this.#stmts.acquireLease.get({ name, holder, now, until }) !== undefined;
  }

  async renewLeases(holder: string, until: number): Promise<string[]> {
    return this.#stmts.renewLeases.all(until, holder).map((r) => r.name);
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    this.#stmts.releaseLease.run(name, holder);
  }

  async releaseOtherLeases(holder: string): Promise<string[]> {
    return this.#stmts.releaseOtherLeases.all(holder).map((r) => r.name);
  }

  async upsertNode(node: NodeRecord): Promise<void> {
    this.#stmts.upsertNode.run(node);
  }

  async listNodes(since: number): Promise<NodeRecord[]> {
    return this.#stmts.listNodes.all(since).map(toNode);
  }

  async deleteNode(id: string): Promise<void> {
    this.#stmts.deleteNode.run(id);
  }

  async pruneNodes(before: number): Promise<string[]> {
    return this.#stmts.pruneNodes.all(before).map((row) => row.id);
  }

  async listAudit(since: number | null, limit: number): Promise<AuditRecord[]> {
    return this.#stmts.listAudit.all(since ?? 0, limit).map(toAudit);
  }

  // ---- channel rules (issue 18) ----

  async insertChannelRule(rule: ChannelRuleRecord, audit: AuditRecord): Promise<void> {
    this.#channelRules.insert(rule, () => this.#audit(audit));
  }

  async listChannelRules(org: string, appId: string): Promise<ChannelRuleRecord[]> {
    return this.#channelRules.list(org, appId);
  }

  async getChannelRule(id: string): Promise<ChannelRuleRecord | null> {
    return this.#channelRules.get(id);
  }

  async updateChannelRule(id: string, patch: ChannelRulePatch, updatedAt: number, audit: AuditRecord): Promise<ChannelRuleRecord | null> {
    return this.#channelRules.update(id, patch, updatedAt, () => this.#audit(audit));
  }

  async deleteChannelRule(id: string, audit: AuditRecord): Promise<ChannelRuleRecord | null> {
    return this.#channelRules.delete(id, () => this.#audit(audit));
  }

  async pruneExpiredEvents(now: number, limit: number): Promise<number> {
    const { deleteEvent, deleteTimeline } = this.#stmts;
    return this.#db.transaction(() => {
      const ids = this.#channelRules.expired(now, limit);
      for (const id of ids) {
        deleteTimeline.run(id);
        deleteEvent.run(id);
      }
      return ids.length;
    })();
  }

  // ---- encryption keys (issue 18) ----

  async insertEncryptionKey(key: EncryptionKeyRecord, options: { rotate: boolean }, audit: AuditRecord): Promise<EncryptionKeyRecord | null> {
    return this.#keys.insert(key, options.rotate, () => this.#audit(audit));
  }

  async listEncryptionKeys(org: string, appId: string): Promise<EncryptionKeyRecord[]> {
    return this.#keys.list(org, appId);
  }

  async getEncryptionKey(id: string): Promise<EncryptionKeyRecord | null> {
    return this.#keys.get(id);
  }

  async retireEncryptionKey(id: string, at: number, audit: AuditRecord): Promise<EncryptionKeyRecord | null> {
    return this.#keys.retire(id, at, () => this.#audit(audit));
  }

  // ---- edge functions (issue 19) ----

  async listFunctions(org: string, appId: string): Promise<FunctionRecord[]> {
    return this.#functions.list(org, appId);
  }

  async getFunction(org: string, appId: string, name: string): Promise<FunctionRecord | null> {
    return this.#functions.get(org, appId, name);
  }

  async getFunctionVersion(org: string, appId: string, name: string, version: number): Promise<FunctionVersionRecord | null> {
    return this.#functions.getVersion(org, appId, name, version);
  }

  async listFunctionVersions(org: string, appId: string, name: string): Promise<FunctionVersionRecord[]> {
    return this.#functions.listVersions(org, appId, name);
  }

  async insertFunctionVersion(version: Omit<FunctionVersionRecord, 'version'>, audit: AuditRecord): Promise<FunctionRecord> {
    return this.#functions.insertVersion(version, (n) => this.#audit({ ...audit, details: { ...audit.details, version: n } }));
  }

  async setActiveFunctionVersion(org: string, appId: string, name: string, version: number, audit: AuditRecord): Promise<FunctionRecord | null> {
    return this.#functions.setActive(org, appId, name, version, (previous) => this.#audit({ ...audit, details: { ...audit.details, version, previous } }));
  }

  async deleteFunction(org: string, appId: string, name: string, audit: AuditRecord): Promise<FunctionRecord | null> {
    return this.#functions.delete(org, appId, name, () => this.#audit(audit));
  }

  async addFunctionStats(deltas: FunctionStatsDelta[]): Promise<void> {
    this.#functions.addStats(deltas);
  }

  async insertFunctionLogs(lines: Omit<FunctionLogRecord, 'seq'>[], keep: number): Promise<void> {
    this.#functions.insertLogs(lines, keep);
  }

  async listFunctionLogs(org: string, appId: string, name: string, query: { after: number | null; limit: number }): Promise<FunctionLogRecord[]> {
    return this.#functions.listLogs(org, appId, name, query);
  }

  // ---- usage analytics (issue 20) ----

  async addUsage(records: UsageRecord[]): Promise<void> {
    this.#usage.add(records);
  }

  async listUsage(org: string, appId: string | null, resolution: UsageResolution, from: number, to: number): Promise<UsageRecord[]> {
    return this.#usage.list(org, appId, resolution, from, to);
  }

  async rollUpUsage(from: 'minute' | 'hour', before: number, limit: number, combine: (rows: UsageRecord[]) => UsageRecord[]): Promise<number> {
    return this.#usage.rollUp(from, before, limit, combine);
  }

  async pruneUsage(resolution: UsageResolution, before: number): Promise<number> {
    return this.#usage.prune(resolution, before);
  }
}

/** The filters that are given, as WHERE clauses and their parameters. */
function addFilters(where: string[], params: (string | number)[], filters: [string, string | number | undefined][]): void {
  for (const [clause, value] of filters) {
    if (value === undefined) continue;
    where.push(clause);
    params.push(value);
  }

}
