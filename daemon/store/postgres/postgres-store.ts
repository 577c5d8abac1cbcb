import { RelayError } from '../../../src/shared/errors.js';
import type { AppStatus } from '../../../src/shared/api.js';
import type {
  EncryptionKeyRecord,
  AdminTokenRecord,
  AgentRecord,
  AgentTokenRecord,
  ApiTokenRecord,
  AppPatch,
  AppRecord,
  AppTokenRecord,
  AuditRecord,
  ChannelRulePatch,
  ChannelRuleRecord,
  ChangeQuery,
  ChangeRecord,
  DeletedAppRecord,
  EventPatch,
  EventQuery,
  EventRecord,
  EventWrite,
  FunctionLogRecord,
  FunctionRecord,
  FunctionStatsDelta,
  FunctionVersionRecord,
  NodeRecord,
  OrgRecord,
  Store,
  TimelineRecord,
  WebhookAttemptRecord,
  WebhookAttemptWrite,
  WebhookClaim,
  WebhookDeliveryRecord,
  WebhookRecord,
  UnsettledScope,
  AgentPatch,
  SchemaRecord,
  SchemaVersionRecord,
} from '../store.js';
import { eventIdAt, schemaTaken, type UsageRecord, type UsageResolution } from '../store.js';
import type { Logger } from '../../log.js';
import { StartupError } from '../../startup-error.js';
import { MIGRATIONS } from './migrations.js';
import { connect, describeUrl, refusal, withUnavailable, type Pg, type Tx } from './pg.js';
import { toAgent, toAgentToken, toApiToken, toApp, toAppToken, toAudit, toChange, toDeletedApp, toEvent, toNode, toSchema, toSchemaVersion, toTimeline } from '../rows.js';
import type { AgentRow, AgentTokenRow, ApiTokenRow, AppRow, AppTokenRow, AuditRow, ChangeRow, DeletedAppRow, EventRow, NodeRow, SchemaRow, SchemaVersionRow, TimelineRow } from '../rows.js';
import { PostgresWebhookTables } from './webhook-tables.js';
import { PostgresChannelRuleTables } from './channel-rule-tables.js';
import { PostgresEncryptionKeyTables } from './encryption-key-tables.js';
import { PostgresFunctionTables } from './function-tables.js';
import { PostgresUsageTables } from './usage-tables.js';
import { isDuplicate } from './duplicate.js';


/** Channel keys are unique across the daemon: `/app/{key}` names no organization. */
function isDuplicateKey(err: unknown): boolean {
  return isDuplicate(err) && err.constraint_name === 'apps_channel_key_key';
}

const keyTaken = (key: string): RelayError =>
  new RelayError('conflict', `channel key "${key}" is already another app's (keys are unique across relayd)`, {
    hint: 'each app needs a key of its own; `relay apps credentials ID` shows an app\'s key',
  });

/**
 * Taken by the transaction that migrates, so that nodes starting together on one database
 * migrate it one after another (the later ones find nothing left to do). "relay" in ASCII.
 */
const MIGRATION_LOCK = 0x72656c6179;

/** A change's status and latency: its own, or, for rows written before migration 11, its event's. */
const CHANGE_STATE = 'coalesce(t.status, e.status) AS status, CASE WHEN t.status IS NULL THEN e.latency_ms ELSE t.latency_ms END AS latency_ms';

/** Later values win, as consecutive `coalesce(new, old)` updates of one row would leave it. */
function mergePatch(into: EventPatch, patch: EventPatch): void {
  for (const [key, value] of Object.entries(patch) as [keyof EventPatch, EventPatch[keyof EventPatch]][]) {
    if (value !== undefined && value !== null) (into as Record<string, unknown>)[key] = value;
  }
}

/**
 * The store for several relayd sharing one database: the same results, order, conflicts and
 * atomicity as SqliteStore (a change and its audit entry in one transaction). Several nodes
 * may use one database at once; what SQLite could keep in the process (the change numbers
 * reserved) lives in the database.
 */
export class PostgresStore implements Store {
  readonly #sql: Pg;
  readonly #webhooks: PostgresWebhookTables;
  readonly #channelRules: PostgresChannelRuleTables;
  readonly #keys: PostgresEncryptionKeyTables;
  readonly #functions: PostgresFunctionTables;
  readonly #usage: PostgresUsageTables;

  private constructor(sql: Pg) {
    this.#sql = sql;
    this.#webhooks = new PostgresWebhookTables(sql);
    this.#channelRules = new PostgresChannelRuleTables(sql);
    this.#keys = new PostgresEncryptionKeyTables(sql);
    this.#functions = new PostgresFunctionTables(sql);
    this.#usage = new PostgresUsageTables(sql);
  }

  /**
   * Connects and brings the schema up to date. Refuses (StartupError, one line naming the
   * URL without its password) a server it cannot reach or log in to, a missing database, and
   * a schema newer than this relayd knows.
   */
  static async open(url: string, log?: Logger): Promise<PostgresStore> {
    const sql = connect(url, log);
    try {
      await migrate(sql, url, log);
    } catch (err) {
      await sql.end({ timeout: 0 }).catch(() => {});
      throw refusal(url, err);
    }
    return withUnavailable(new PostgresStore(sql), url);
  }

  async close(): Promise<void> {
    await this.#sql.end({ timeout: 5 });
  }

  async #audit(tx: Tx, entry: AuditRecord): Promise<void> {
    await tx`
      INSERT INTO audit (id, at, actor, action, org, target_type, target_id, details)
      VALUES (${entry.id}, ${entry.at}, ${entry.actor}, ${entry.action}, ${entry.org}, ${entry.targetType}, ${entry.targetId}, ${JSON.stringify(entry.details)})`;
  }

  async claimSetting(key: string, value: string): Promise<string> {
    const sql = this.#sql;
    await sql`INSERT INTO settings (key, value) VALUES (${key}, ${value}) ON CONFLICT (key) DO NOTHING`;
    const [row] = await sql<{ value: string }[]>`SELECT value FROM settings WHERE key = ${key}`;
    return (row as { value: string }).value;
  }

  async acquireLease(name: string, holder: string, now: number, until: number): Promise<boolean> {
    const rows = await this.#sql`
      INSERT INTO leases (name, holder, expires_at) VALUES (${name}, ${holder}, ${until})
      ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
      WHERE leases.holder = excluded.holder OR leases.expires_at < ${now}
      RETURNING name`;
    return rows.length === 1;
  }

  async renewLeases(holder: string, until: number): Promise<string[]> {
    const rows = await this.#sql<{ name: string }[]>`UPDATE leases SET expires_at = ${until} WHERE holder = ${holder} RETURNING name`;
    return rows.map((r) => r.name);
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.#sql`DELETE FROM leases WHERE name = ${name} AND holder = ${holder}`;
  }

  async releaseOtherLeases(holder: string): Promise<string[]> {
    return (await this.#sql<{ name: string }[]>`DELETE FROM leases WHERE holder <> ${holder} RETURNING name`).map((r) => r.name);
  }

  async upsertNode(n: NodeRecord): Promise<void> {
    await this.#sql`
      INSERT INTO nodes (id, url, broker, version, started_at, heartbeat_at, connections)
      VALUES (${n.id}, ${n.url}, ${n.broker}, ${n.version}, ${n.startedAt}, ${n.heartbeatAt}, ${n.connections})
      ON CONFLICT (id) DO UPDATE SET url = excluded.url, broker = excluded.broker, version = excluded.version, started_at = excluded.started_at,
        heartbeat_at = excluded.heartbeat_at, connections = excluded.connections`;
  }

  async listNodes(since: number): Promise<NodeRecord[]> {
    const rows = await this.#sql<NodeRow[]>`SELECT * FROM nodes WHERE heartbeat_at >= ${since} ORDER BY id`;
    return rows.map(toNode);
  }

  async deleteNode(id: string): Promise<void> {
    await this.#sql`DELETE FROM nodes WHERE id = ${id}`;
  }

  async pruneNodes(before: number): Promise<string[]> {
    const rows = await this.#sql<{ id: string }[]>`DELETE FROM nodes WHERE heartbeat_at < ${before} RETURNING id`;
    return rows.map((row) => row.id);
  }

  async insertAdminToken(token: AdminTokenRecord): Promise<void> {
    await this.#sql`INSERT INTO admin_tokens (id, hash, created_at) VALUES (${token.id}, ${token.hash}, ${token.createdAt})`;
  }

  async findAdminTokenByHash(hash: string): Promise<AdminTokenRecord | null> {
    const [row] = await this.#sql<{ id: string; hash: string; created_at: number }[]>`SELECT id, hash, created_at FROM admin_tokens WHERE hash = ${hash}`;
    return row ? { id: row.id, hash: row.hash, createdAt: row.created_at } : null;
  }

  async listOrgs(): Promise<OrgRecord[]> {
    const rows = await this.#sql<{ id: string; name: string; created_at: number }[]>`SELECT id, name, created_at FROM orgs ORDER BY created_at, id`;
    return rows.map((row) => ({ id: row.id, name: row.name, createdAt: row.created_at }));
  }

  async getOrg(id: string): Promise<OrgRecord | null> {
    const [row] = await this.#sql<{ id: string; name: string; created_at: number }[]>`SELECT id, name, created_at FROM orgs WHERE id = ${id}`;
    return row ? { id: row.id, name: row.name, createdAt: row.created_at } : null;
  }

  async insertOrg(org: OrgRecord, audit: AuditRecord | null): Promise<void> {
    try {
      await this.#sql.begin(async (tx) => {
        await tx`INSERT INTO orgs (id, name, created_at) VALUES (${org.id}, ${org.name}, ${org.createdAt})`;
        if (audit) await this.#audit(tx, audit);
      });
    } catch (err) {
      if (isDuplicate(err)) throw new RelayError('conflict', `organization "${org.id}" exists already`);
      throw err;
    }
  }

  async listApps(org: string | null): Promise<AppRecord[]> {
    const sql = this.#sql;
    const rows = org === null ? await sql<AppRow[]>`SELECT * FROM apps ORDER BY org, id` : await sql<AppRow[]>`SELECT * FROM apps WHERE org = ${org} ORDER BY id`;
    return rows.map(toApp);
  }

  async getApp(org: string, id: string): Promise<AppRecord | null> {
    const [row] = await this.#sql<AppRow[]>`SELECT * FROM apps WHERE org = ${org} AND id = ${id}`;
    return row ? toApp(row) : null;
  }

  async getAppByChannelKey(key: string): Promise<AppRecord | null> {
    const [row] = await this.#sql<AppRow[]>`SELECT * FROM apps WHERE channel_key = ${key}`;
    return row ? toApp(row) : null;
  }

  async anyChannelSecret(): Promise<string | null> {
    const [row] = await this.#sql<{ channel_secret_enc: string }[]>`SELECT channel_secret_enc FROM apps LIMIT 1`;
    return row?.channel_secret_enc ?? null;
  }

  async insertApp(app: AppRecord, token: AppTokenRecord, audit: AuditRecord): Promise<void> {
    try {
      await this.#sql.begin(async (tx) => {
        await tx`
          INSERT INTO apps (org, id, name, description, status, created_at, last_connected_at, rate_limit_profile, channel_key, channel_secret_enc,
            client_events, subscription_count, channel_limits)
          VALUES (${app.org}, ${app.id}, ${app.name}, ${app.description}, ${app.status}, ${app.createdAt}, ${app.lastConnectedAt}, ${app.rateLimitProfile},
            ${app.channelKey}, ${app.channelSecretEnc}, ${app.clientEvents}, ${app.subscriptionCount}, ${JSON.stringify(app.channelLimits)})`;
        await this.#insertAppToken(tx, token);
        await this.#audit(tx, audit);
      });
    } catch (err) {
      if (isDuplicateKey(err)) throw keyTaken(app.channelKey);
      if (isDuplicate(err)) throw new RelayError('conflict', `app "${app.id}" exists already in organization "${app.org}"`);
      throw err;
    }
  }

  async #insertAppToken(tx: Tx, t: AppTokenRecord): Promise<void> {
    await tx`
      INSERT INTO app_tokens (id, org, app_id, lookup_id, hash, created_at, valid_until)
      VALUES (${t.id}, ${t.org}, ${t.appId}, ${t.lookupId}, ${t.hash}, ${t.createdAt}, ${t.validUntil})`;
  }

  async updateApp(org: string, id: string, patch: AppPatch, audit: AuditRecord): Promise<AppRecord | null> {
    try {
      return await this.#sql.begin(async (tx) => {
        const [row] = await tx<AppRow[]>`
          UPDATE apps SET name = coalesce(${patch.name ?? null}, name),
            description = CASE WHEN ${patch.description !== undefined}::boolean THEN ${patch.description ?? null} ELSE description END,
            rate_limit_profile = coalesce(${patch.rateLimitProfile ?? null}, rate_limit_profile),
            client_events = coalesce(${patch.clientEvents ?? null}, client_events),
            subscription_count = coalesce(${patch.subscriptionCount ?? null}, subscription_count),
            channel_limits = coalesce(${patch.channelLimits === undefined ? null : JSON.stringify(patch.channelLimits)}, channel_limits),
            channel_key = coalesce(${patch.channelKey ?? null}, channel_key),
            channel_secret_enc = coalesce(${patch.channelSecretEnc ?? null}, channel_secret_enc)
          WHERE org = ${org} AND id = ${id}
          RETURNING *`;
        if (!row) return null;
        await this.#audit(tx, audit);
        return toApp(row);
      });
    } catch (err) {
      if (isDuplicateKey(err)) throw keyTaken(patch.channelKey ?? '');
      throw err;
    }
  }

  async setAppStatus(org: string, id: string, status: AppStatus, audit: AuditRecord): Promise<AppRecord | null> {
    return this.#sql.begin(async (tx) => {
      const [row] = await tx<AppRow[]>`UPDATE apps SET status = ${status} WHERE org = ${org} AND id = ${id} RETURNING *`;
      if (!row) return null;
      await this.#audit(tx, audit);
      return toApp(row);
    });
  }

  async setAppLastConnected(org: string, id: string, at: number): Promise<void> {
    await this.#sql`UPDATE apps SET last_connected_at = greatest(coalesce(last_connected_at, 0), ${at}) WHERE org = ${org} AND id = ${id}`;
  }

  async setAppChannelSecret(org: string, id: string, channelSecretEnc: string, audit: AuditRecord): Promise<AppRecord | null> {
    return this.#sql.begin(async (tx) => {
      const [row] = await tx<AppRow[]>`UPDATE apps SET channel_secret_enc = ${channelSecretEnc} WHERE org = ${org} AND id = ${id} RETURNING *`;
      if (!row) return null;
      await this.#audit(tx, audit);
      return toApp(row);
    });
  }

  // ---- event schemas (issue 18)

  async updateAgent(org: string, id: string, patch: AgentPatch, audit: AuditRecord): Promise<AgentRecord | null> {
    const setSchema = patch.schema !== undefined;
    return this.#sql.begin(async (tx) => {
      const [row] = await tx<AgentRow[]>`
        UPDATE agents SET name = coalesce(${patch.name ?? null}, name), timeout_ms = coalesce(${patch.timeoutMs ?? null}::bigint, timeout_ms),
          schema_app_id = CASE WHEN ${setSchema} THEN ${patch.schema?.appId ?? null} ELSE schema_app_id END,
          schema_name = CASE WHEN ${setSchema} THEN ${patch.schema?.name ?? null} ELSE schema_name END
        WHERE org = ${org} AND id = ${id} RETURNING *`;
      if (!row) return null;
      await this.#audit(tx, audit);
      return toAgent(row);
    });
  }

  async listSchemas(org: string, appId: string): Promise<SchemaRecord[]> {
    const rows = await this.#sql<SchemaRow[]>`
      SELECT v.*, h.versions, h.first_created_at FROM schema_versions v
        JOIN (SELECT org, app_id, name, max(version) AS latest, count(*) AS versions, min(created_at) AS first_created_at
              FROM schema_versions WHERE org = ${org} AND app_id = ${appId} GROUP BY org, app_id, name) h
          ON v.org = h.org AND v.app_id = h.app_id AND v.name = h.name AND v.version = h.latest
      ORDER BY v.name`;
    return rows.map(toSchema);
  }

  async getSchema(org: string, appId: string, name: string): Promise<SchemaRecord | null> {
    const [row] = await this.#sql<SchemaRow[]>`
      SELECT v.*, count(*) OVER () AS versions, min(v.created_at) OVER () AS first_created_at
      FROM schema_versions v WHERE v.org = ${org} AND v.app_id = ${appId} AND v.name = ${name} ORDER BY v.version DESC LIMIT 1`;
    return row ? toSchema(row) : null;
  }

  async getSchemaVersion(org: string, appId: string, name: string, version: number): Promise<SchemaVersionRecord | null> {
    const [row] = await this.#sql<SchemaVersionRow[]>`SELECT * FROM schema_versions WHERE org = ${org} AND app_id = ${appId} AND name = ${name} AND version = ${version}`;
    return row ? toSchemaVersion(row) : null;
  }

  async insertSchemaVersion(input: Omit<SchemaVersionRecord, 'version'>, mode: 'add' | 'update', audit: AuditRecord): Promise<SchemaVersionRecord | null> {
    try {
      return await this.#sql.begin(async (tx) => {
        // Two nodes adding a version of one schema at once take turns: each gets its own number.
        await tx`SELECT pg_advisory_xact_lock(hashtext(${`schema:${input.org}:${input.appId}:${input.name}`}))`;
        const [head] = await tx<{ latest: number | null }[]>`SELECT max(version) AS latest FROM schema_versions WHERE org = ${input.org} AND app_id = ${input.appId} AND name = ${input.name}`;
        const latest = head?.latest ?? null;
        if (mode === 'add' && latest !== null) throw schemaTaken(input.appId, input.name);
        if (mode === 'update' && latest === null) return null;
        const record: SchemaVersionRecord = { ...input, version: (latest ?? 0) + 1 };
        await tx`
          INSERT INTO schema_versions (org, app_id, name, version, document, created_at, created_by)
          VALUES (${record.org}, ${record.appId}, ${record.name}, ${record.version}, ${record.document}, ${record.createdAt}, ${record.createdBy})`;
        await this.#audit(tx, { ...audit, details: { ...audit.details, version: record.version } });
        return record;
      });
    } catch (err) {
      if (isDuplicate(err)) throw schemaTaken(input.appId, input.name);
      throw err;
    }
  }

  async deleteSchema(org: string, appId: string, name: string, audit: AuditRecord): Promise<{ unboundAgents: string[]; unboundRules: string[] } | null> {
    return this.#sql.begin(async (tx) => {
      const deleted = await tx`DELETE FROM schema_versions WHERE org = ${org} AND app_id = ${appId} AND name = ${name}`;
      if (deleted.count === 0) return null;
      const rows = await tx<{ id: string }[]>`
        UPDATE agents SET schema_app_id = NULL, schema_name = NULL WHERE org = ${org} AND schema_app_id = ${appId} AND schema_name = ${name} RETURNING id`;
      const unboundAgents = rows.map((row) => row.id).sort();
      const rules = await tx<{ id: string }[]>`
        UPDATE channel_rules SET schema = NULL, schema_event = NULL WHERE org = ${org} AND app_id = ${appId} AND schema = ${name} RETURNING id`;
      const unboundRules = rules.map((row) => row.id).sort();
      await this.#audit(tx, { ...audit, details: { ...audit.details, unboundAgents, unboundRules } });
      return { unboundAgents, unboundRules };
    });
  }

  async agentsUsingSchema(org: string, appId: string, name: string): Promise<string[]> {
    const rows = await this.#sql<{ id: string }[]>`SELECT id FROM agents WHERE org = ${org} AND schema_app_id = ${appId} AND schema_name = ${name} ORDER BY id`;
    return rows.map((row) => row.id);
  }

  async deleteApp(org: string, id: string, options: { at: number; purge: boolean }, audit: AuditRecord): Promise<{ deleted: DeletedAppRecord; purgedEvents: number } | null> {
    return this.#sql.begin(async (tx) => {
      const [app] = await tx<{ name: string }[]>`SELECT name FROM apps WHERE org = ${org} AND id = ${id} FOR UPDATE`;
      if (!app) return null;
      await tx`DELETE FROM webhooks WHERE org = ${org} AND app_id = ${id}`;
      await tx`DELETE FROM channel_rules WHERE org = ${org} AND app_id = ${id}`;
      await tx`DELETE FROM api_tokens WHERE org = ${org} AND app_id = ${id}`;
      await tx`DELETE FROM app_tokens WHERE org = ${org} AND app_id = ${id}`;
      await tx`DELETE FROM app_allowed_agents WHERE org = ${org} AND app_id = ${id}`;
      await tx`DELETE FROM schema_versions WHERE org = ${org} AND app_id = ${id}`;
      await tx`UPDATE agents SET schema_app_id = NULL, schema_name = NULL WHERE org = ${org} AND schema_app_id = ${id}`;
      await this.#functions.deleteApp(tx, org, id);
      await this.#usage.deleteApp(tx, org, id);
      await tx`DELETE FROM apps WHERE org = ${org} AND id = ${id}`;
      const deleted: DeletedAppRecord = { org, id, name: app.name, deletedAt: options.at, purgedAt: options.purge ? options.at : null };
      await tx`
        INSERT INTO deleted_apps (org, id, name, deleted_at, purged_at) VALUES (${org}, ${id}, ${deleted.name}, ${deleted.deletedAt}, ${deleted.purgedAt})
        ON CONFLICT (org, id) DO UPDATE SET name = excluded.name, deleted_at = excluded.deleted_at, purged_at = excluded.purged_at`;
      const purgedEvents = options.purge ? await purgeApp(tx, org, id) : 0;
      await this.#audit(tx, audit);
      return { deleted, purgedEvents };
    });
  }

  async getDeletedApp(org: string, id: string): Promise<DeletedAppRecord | null> {
    const [row] = await this.#sql<DeletedAppRow[]>`SELECT * FROM deleted_apps WHERE org = ${org} AND id = ${id}`;
    return row ? toDeletedApp(row) : null;
  }

  async purgeDeletedApp(org: string, id: string, at: number, audit: AuditRecord): Promise<{ deleted: DeletedAppRecord; purgedEvents: number } | null> {
    return this.#sql.begin(async (tx) => {
      const [row] = await tx<DeletedAppRow[]>`UPDATE deleted_apps SET purged_at = ${at} WHERE org = ${org} AND id = ${id} RETURNING *`;
      if (!row) return null;
      const purgedEvents = await purgeApp(tx, org, id);
      await this.#audit(tx, audit);
      return { deleted: toDeletedApp(row), purgedEvents };
    });
  }

  async findValidAppTokens(appId: string, now: number): Promise<AppTokenRecord[]> {
    const rows = await this.#sql<AppTokenRow[]>`
      SELECT * FROM app_tokens WHERE app_id = ${appId} AND (valid_until IS NULL OR valid_until > ${now}) ORDER BY created_at DESC`;
    return rows.map(toAppToken);
  }

  async findAppTokenByLookupId(lookupId: string): Promise<AppTokenRecord | null> {
    const [row] = await this.#sql<AppTokenRow[]>`SELECT * FROM app_tokens WHERE lookup_id = ${lookupId}`;
    return row ? toAppToken(row) : null;
  }

  async findValidLegacyAppTokens(appId: string, now: number): Promise<AppTokenRecord[]> {
    const rows = await this.#sql<AppTokenRow[]>`
      SELECT * FROM app_tokens WHERE app_id = ${appId} AND lookup_id IS NULL AND (valid_until IS NULL OR valid_until > ${now}) ORDER BY created_at DESC`;
    return rows.map(toAppToken);
  }

  async rotateAppToken(token: AppTokenRecord, graceUntil: number, now: number, audit: AuditRecord): Promise<void> {
    await this.#sql.begin(async (tx) => {
      await this.#insertAppToken(tx, token);
      await tx`
        UPDATE app_tokens SET valid_until = least(coalesce(valid_until, ${graceUntil}), ${graceUntil})
        WHERE org = ${token.org} AND app_id = ${token.appId} AND id != ${token.id} AND (valid_until IS NULL OR valid_until > ${now})`;
      await this.#audit(tx, audit);
    });
  }

  async listTokensInGrace(now: number): Promise<AppTokenRecord[]> {
    const rows = await this.#sql<AppTokenRow[]>`SELECT * FROM app_tokens WHERE valid_until > ${now}`;
    return rows.map(toAppToken);
  }

  async listAgents(org: string): Promise<AgentRecord[]> {
    const rows = await this.#sql<AgentRow[]>`SELECT * FROM agents WHERE org = ${org} ORDER BY id`;
    return rows.map(toAgent);
  }

  async getAgent(org: string, id: string): Promise<AgentRecord | null> {
    const [row] = await this.#sql<AgentRow[]>`SELECT * FROM agents WHERE org = ${org} AND id = ${id}`;
    return row ? toAgent(row) : null;
  }

  async insertAgent(agent: AgentRecord, token: AgentTokenRecord, audit: AuditRecord): Promise<void> {
    try {
      await this.#sql.begin(async (tx) => {
        await tx`
          INSERT INTO agents (org, id, name, status, timeout_ms, created_at, last_connected_at, schema_app_id, schema_name)
          VALUES (${agent.org}, ${agent.id}, ${agent.name}, ${agent.status}, ${agent.timeoutMs}, ${agent.createdAt}, ${agent.lastConnectedAt}, ${agent.schema?.appId ?? null}, ${agent.schema?.name ?? null})`;
        await this.#insertAgentToken(tx, token);
        await this.#audit(tx, audit);
      });
    } catch (err) {
      if (isDuplicate(err)) throw new RelayError('conflict', `agent "${agent.id}" exists already in organization "${agent.org}"`);
      throw err;
    }
  }

  async #insertAgentToken(tx: Tx, t: AgentTokenRecord): Promise<void> {
    await tx`
      INSERT INTO agent_tokens (id, org, agent_id, hash, created_at, valid_until)
      VALUES (${t.id}, ${t.org}, ${t.agentId}, ${t.hash}, ${t.createdAt}, ${t.validUntil})`;
  }

  async setAgentStatus(org: string, id: string, status: AppStatus, audit: AuditRecord): Promise<AgentRecord | null> {
    return this.#sql.begin(async (tx) => {
      const [row] = await tx<AgentRow[]>`UPDATE agents SET status = ${status} WHERE org = ${org} AND id = ${id} RETURNING *`;
      if (!row) return null;
      await this.#audit(tx, audit);
      return toAgent(row);
    });
  }

  async setAgentLastConnected(org: string, id: string, at: number): Promise<void> {
    await this.#sql`UPDATE agents SET last_connected_at = greatest(coalesce(last_connected_at, 0), ${at}) WHERE org = ${org} AND id = ${id}`;
  }

  async deleteAgent(org: string, id: string, options: { purge: boolean }, audit: AuditRecord): Promise<{ purgedEvents: number } | null> {
    return this.#sql.begin(async (tx) => {
      const [agent] = await tx`SELECT 1 FROM agents WHERE org = ${org} AND id = ${id} FOR UPDATE`;
      if (!agent) return null;
      await tx`DELETE FROM agent_tokens WHERE org = ${org} AND agent_id = ${id}`;
      await tx`DELETE FROM app_allowed_agents WHERE org = ${org} AND agent_id = ${id}`;
      await tx`DELETE FROM agents WHERE org = ${org} AND id = ${id}`;
      let purgedEvents = 0;
      if (options.purge) {
        purgedEvents = await deleteEvents(tx, tx`SELECT id FROM events WHERE org = ${org} AND kind = 'agent' AND agent = ${id}`);
      }
      await this.#audit(tx, audit);
      return { purgedEvents };
    });
  }

  async findAgentTokenByHash(hash: string): Promise<AgentTokenRecord | null> {
    const [row] = await this.#sql<AgentTokenRow[]>`SELECT * FROM agent_tokens WHERE hash = ${hash}`;
    return row ? toAgentToken(row) : null;
  }

  async findValidAgentTokens(org: string, agentId: string, now: number): Promise<AgentTokenRecord[]> {
    const rows = await this.#sql<AgentTokenRow[]>`
      SELECT * FROM agent_tokens WHERE org = ${org} AND agent_id = ${agentId} AND (valid_until IS NULL OR valid_until > ${now})`;
    return rows.map(toAgentToken);
  }

  async rotateAgentToken(token: AgentTokenRecord, graceUntil: number, now: number, audit: AuditRecord): Promise<void> {
    await this.#sql.begin(async (tx) => {
      await this.#insertAgentToken(tx, token);
      await tx`
        UPDATE agent_tokens SET valid_until = least(coalesce(valid_until, ${graceUntil}), ${graceUntil})
        WHERE org = ${token.org} AND agent_id = ${token.agentId} AND id != ${token.id} AND (valid_until IS NULL OR valid_until > ${now})`;
      await this.#audit(tx, audit);
    });
  }

  async listAgentTokensInGrace(now: number): Promise<AgentTokenRecord[]> {
    const rows = await this.#sql<AgentTokenRow[]>`SELECT * FROM agent_tokens WHERE valid_until > ${now}`;
    return rows.map(toAgentToken);
  }

  async listAllowedAgents(org: string, appId: string): Promise<string[]> {
    return listAllowed(this.#sql, org, appId);
  }

  async appsAllowingAgent(org: string, agentId: string): Promise<{ appId: string; allowed: number }[]> {
    const rows = await this.#sql<{ app_id: string; allowed: number }[]>`
      SELECT a.app_id, (SELECT count(*) FROM app_allowed_agents b WHERE b.org = a.org AND b.app_id = a.app_id) AS allowed
      FROM app_allowed_agents a WHERE a.org = ${org} AND a.agent_id = ${agentId} ORDER BY a.app_id`;
    return rows.map((row) => ({ appId: row.app_id, allowed: row.allowed }));
  }

  async changeAllowedAgents(org: string, appId: string, change: { add: string[]; remove: string[] }, audit: AuditRecord): Promise<string[]> {
    return this.#sql.begin(async (tx) => {
      // Added, then removed: an agent in both lists ends up off the list, as in SQLite.
      if (change.add.length > 0) {
        await tx`
          INSERT INTO app_allowed_agents (org, app_id, agent_id) SELECT ${org}, ${appId}, unnest(${change.add}::text[])
          ON CONFLICT DO NOTHING`;
      }
      if (change.remove.length > 0) await tx`DELETE FROM app_allowed_agents WHERE org = ${org} AND app_id = ${appId} AND agent_id = ANY(${change.remove}::text[])`;
      await this.#audit(tx, audit);
      return listAllowed(tx, org, appId);
    });
  }

  async insertApiToken(t: ApiTokenRecord, audit: AuditRecord): Promise<void> {
    await this.#sql.begin(async (tx) => {
      await tx`
        INSERT INTO api_tokens (id, org, app_id, name, description, scopes, rate_limit, hash, created_at, expires_at, last_used_at, revoked_at)
        VALUES (${t.id}, ${t.org}, ${t.appId}, ${t.name}, ${t.description}, ${JSON.stringify(t.scopes)}, ${t.rateLimit === null ? null : JSON.stringify(t.rateLimit)},
          ${t.hash}, ${t.createdAt}, ${t.expiresAt}, ${t.lastUsedAt}, ${t.revokedAt})`;
      await this.#audit(tx, audit);
    });
  }

  async listApiTokens(org: string, appId: string): Promise<ApiTokenRecord[]> {
    const rows = await this.#sql<ApiTokenRow[]>`SELECT * FROM api_tokens WHERE org = ${org} AND app_id = ${appId} ORDER BY created_at, id`;
    return rows.map(toApiToken);
  }

  async getApiToken(id: string): Promise<ApiTokenRecord | null> {
    const [row] = await this.#sql<ApiTokenRow[]>`SELECT * FROM api_tokens WHERE id = ${id}`;
    return row ? toApiToken(row) : null;
  }

  async findApiTokenByHash(hash: string): Promise<ApiTokenRecord | null> {
    const [row] = await this.#sql<ApiTokenRow[]>`SELECT * FROM api_tokens WHERE hash = ${hash}`;
    return row ? toApiToken(row) : null;
  }

  async revokeApiToken(id: string, at: number, audit: AuditRecord): Promise<ApiTokenRecord | null> {
    return this.#sql.begin(async (tx) => {
      const revoked = await tx`UPDATE api_tokens SET revoked_at = ${at} WHERE id = ${id} AND revoked_at IS NULL`;
      if (revoked.count > 0) await this.#audit(tx, audit);
      const [row] = await tx<ApiTokenRow[]>`SELECT * FROM api_tokens WHERE id = ${id}`;
      return row ? toApiToken(row) : null;
    });
  }

  async rotateApiToken(id: string, hash: string, audit: AuditRecord): Promise<void> {
    await this.#sql.begin(async (tx) => {
      await tx`UPDATE api_tokens SET hash = ${hash} WHERE id = ${id}`;
      await this.#audit(tx, audit);
    });
  }

  async recordApiTokenUse(uses: { id: string; at: number }[]): Promise<void> {
    if (uses.length === 0) return;
    // One statement for the lot; a token named twice keeps its latest use. In id order, so
    // that two nodes writing the same tokens lock them in the same order.
    const latest = new Map<string, number>();
    for (const use of uses) latest.set(use.id, Math.max(latest.get(use.id) ?? 0, use.at));
    const ids = [...latest.keys()].sort();
    await this.#sql`
      UPDATE api_tokens t SET last_used_at = greatest(coalesce(t.last_used_at, 0), u.at)
      FROM unnest(${ids}::text[], ${ids.map((id) => latest.get(id) as number)}::bigint[]) AS u(id, at)
      WHERE t.id = u.id`;
  }

  /**
   * The whole batch is one statement (one round trip, atomic without BEGIN and COMMIT, one
   * prepared statement whatever its size: each table's rows go as one array a column). An
   * update of an event inserted in the same batch is applied to the row before it is
   * inserted, as SQLite's inserts-then-updates leave it; the UPDATE takes the events of
   * earlier batches, which it sees (the statement's parts do not see each other's rows).
   */
  async writeEvents(writes: EventWrite[]): Promise<void> {
    const inserted = new Map<string, EventRecord>();
    const timeline: { eventId: string; t: TimelineRecord }[] = [];
    // An event changed twice in the batch is written once, with what both changes leave.
    const updates = new Map<string, EventPatch>();
    for (const w of writes) {
      if (w.type === 'insert') inserted.set(w.event.id, w.event);
      else {
        const patch = updates.get(w.id) ?? {};
        mergePatch(patch, w.patch);
        updates.set(w.id, patch);
      }
      const id = w.type === 'insert' ? w.event.id : w.id;
      for (const t of w.timeline) timeline.push({ eventId: id, t });
    }
    if (inserted.size === 0 && updates.size === 0 && timeline.length === 0) return;
    for (const [id, patch] of updates) {
      const event = inserted.get(id);
      if (!event) continue;
      inserted.set(id, { ...event, ...patch });
      updates.delete(id);
    }
    const events = [...inserted.values()];
    const patches = [...updates];
    const ev = <T>(f: (e: EventRecord) => T): T[] => events.map(f);
    const tl = <T>(f: (r: { eventId: string; t: TimelineRecord }) => T): T[] => timeline.map(f);
    const up = <T>(f: (p: EventPatch) => T): T[] => patches.map(([, p]) => f(p));
    await this.#sql`
      WITH new_events AS (
        INSERT INTO events (id, org, app_id, kind, agent, thread, name, status, channels, payload, socket_id, latency_ms, created_at, ref, attempt, reply, error, outcome_at, acked_at, expires_at, key_id)
        SELECT * FROM unnest(
          ${ev((e) => e.id)}::text[], ${ev((e) => e.org)}::text[], ${ev((e) => e.appId)}::text[], ${ev((e) => e.kind)}::text[],
          ${ev((e) => e.agent)}::text[], ${ev((e) => e.thread)}::text[], ${ev((e) => e.name)}::text[], ${ev((e) => e.status)}::text[],
          ${ev((e) => (e.channels === null ? null : JSON.stringify(e.channels)))}::text[], ${ev((e) => e.payload)}::text[], ${ev((e) => e.socketId)}::text[],
          ${ev((e) => e.latencyMs)}::bigint[], ${ev((e) => e.createdAt)}::bigint[], ${ev((e) => e.ref)}::text[], ${ev((e) => e.attempt)}::bigint[],
          ${ev((e) => e.reply)}::text[], ${ev((e) => e.error)}::text[], ${ev((e) => e.outcomeAt)}::bigint[], ${ev((e) => e.ackedAt)}::bigint[],
          ${ev((e) => e.expiresAt ?? null)}::bigint[],
          ${ev((e) => e.keyId)}::text[]
        )
      ),
      new_changes AS (
        INSERT INTO event_timeline (seq, event_id, at, type, detail, status, latency_ms)
        SELECT * FROM unnest(
          ${tl((r) => r.t.seq)}::bigint[], ${tl((r) => r.eventId)}::text[], ${tl((r) => r.t.at)}::bigint[], ${tl((r) => r.t.type)}::text[],
          ${tl((r) => (r.t.detail === null ? null : JSON.stringify(r.t.detail)))}::text[], ${tl((r) => r.t.status)}::text[], ${tl((r) => r.t.latencyMs)}::bigint[]
        )
      )
      UPDATE events e SET status = coalesce(u.status, e.status), attempt = coalesce(u.attempt, e.attempt), reply = coalesce(u.reply, e.reply),
        error = coalesce(u.error, e.error), outcome_at = coalesce(u.outcome_at, e.outcome_at), latency_ms = coalesce(u.latency_ms, e.latency_ms),
        acked_at = coalesce(u.acked_at, e.acked_at)
      FROM unnest(
        ${patches.map(([id]) => id)}::text[], ${up((p) => p.status ?? null)}::text[], ${up((p) => p.attempt ?? null)}::bigint[], ${up((p) => p.reply ?? null)}::text[],
        ${up((p) => p.error ?? null)}::text[], ${up((p) => p.outcomeAt ?? null)}::bigint[], ${up((p) => p.latencyMs ?? null)}::bigint[], ${up((p) => p.ackedAt ?? null)}::bigint[]
      ) AS u(id, status, attempt, reply, error, outcome_at, latency_ms, acked_at)
      WHERE e.id = u.id`;
  }

  async queryEvents(org: string, query: EventQuery): Promise<EventRecord[]> {
    const sql = this.#sql;
    const filters = sql`AND`.join([
      query.agent !== undefined && sql`agent = ${query.agent}`,
      query.thread !== undefined && sql`thread = ${query.thread}`,
      query.status !== undefined && sql`status = ${query.status}`,
      // The id bound lets the index range start at the time; created_at makes it exact.
      query.since !== undefined && sql`id >= ${eventIdAt(query.since)} AND created_at >= ${query.since}`,
      query.before !== undefined && sql`id < ${query.before}`,
    ]);
    const where = filters.length > 0 ? sql`AND ${filters}` : sql``;
    if (query.appId !== undefined) {
      const rows = await sql<EventRow[]>`SELECT * FROM events WHERE org = ${org} AND app_id = ${query.appId} ${where} ORDER BY id DESC LIMIT ${query.limit}`;
      return rows.map(toEvent);
    }
    // As SQLite does (no index by organization alone): the newest of each of its apps,
    // with the deleted ones whose history is kept, through events_by_app, merged.
    const rows = await sql<EventRow[]>`
      SELECT e.* FROM (SELECT id FROM apps WHERE org = ${org} UNION SELECT id FROM deleted_apps WHERE org = ${org} AND purged_at IS NULL) a
      CROSS JOIN LATERAL (SELECT * FROM events WHERE org = ${org} AND app_id = a.id ${where} ORDER BY id DESC LIMIT ${query.limit}) e
      ORDER BY e.id DESC LIMIT ${query.limit}`;
    return rows.map(toEvent);
  }

  async getEvent(id: string): Promise<EventRecord | null> {
    const [row] = await this.#sql<EventRow[]>`SELECT * FROM events WHERE id = ${id}`;
    return row ? toEvent(row) : null;
  }

  async listTimeline(eventId: string): Promise<TimelineRecord[]> {
    const rows = await this.#sql<TimelineRow[]>`
      SELECT t.seq, t.at, t.type, t.detail, ${this.#sql.unsafe(CHANGE_STATE)} FROM event_timeline t JOIN events e ON e.id = t.event_id
      WHERE t.event_id = ${eventId} ORDER BY t.seq`;
    return rows.map(toTimeline);
  }

  async lastChangeSeq(): Promise<number> {
    const [row] = await this.#sql<{ seq: number }[]>`SELECT greatest(removed, (SELECT max(seq) FROM event_timeline)) AS seq FROM change_seqs`;
    return row?.seq ?? 0;
  }

  /** Atomic across nodes: the row lock makes a second node's reservation start where this one's ends. */
  async reserveChangeSeqs(count: number): Promise<number> {
    const [row] = await this.#sql<{ first: number }[]>`
      UPDATE change_seqs SET reserved = greatest(reserved, removed, (SELECT max(seq) FROM event_timeline)) + ${count}::bigint
      RETURNING reserved - ${count}::bigint + 1 AS first`;
    return (row as { first: number }).first;
  }

  async listChanges(org: string, query: ChangeQuery): Promise<ChangeRecord[]> {
    const sql = this.#sql;
    const filters = sql`AND`.join([
      query.appId !== undefined && sql`e.app_id = ${query.appId}`,
      query.agent !== undefined && sql`e.agent = ${query.agent}`,
      query.thread !== undefined && sql`e.thread = ${query.thread}`,
      query.status !== undefined && sql`coalesce(t.status, e.status) = ${query.status}`,
    ]);
    const rows = await sql<ChangeRow[]>`
      SELECT t.seq, t.at, t.type, ${sql.unsafe(CHANGE_STATE)}, e.id, e.org, e.app_id, e.kind, e.agent, e.thread, e.name, e.channels, e.created_at
      FROM event_timeline t JOIN events e ON e.id = t.event_id
      WHERE t.seq > ${query.after} AND t.seq <= ${query.upTo} AND e.org = ${org} ${filters.length > 0 ? sql`AND ${filters}` : sql``}
      ORDER BY t.seq LIMIT ${query.limit}`;
    return rows.map(toChange);
  }

  async listUnsettledEvents(scope: UnsettledScope): Promise<EventRecord[]> {
    const sql = this.#sql;
    const rows = await sql<EventRow[]>`
      SELECT * FROM events WHERE kind = 'agent' AND acked_at IS NULL AND status != 'rejected' AND org = ${scope.org}
        ${scope.agent === undefined ? sql`` : sql`AND agent = ${scope.agent}`} ${scope.appId === undefined ? sql`` : sql`AND app_id = ${scope.appId}`}
      ORDER BY id`;
    return rows.map(toEvent);
  }

  async pruneEvents(before: number, limit: number): Promise<number> {
    return this.#sql.begin((tx) =>
      // The id range finds them by the primary key (ids sort by creation time); created_at makes it exact.
      deleteEvents(
        tx,
        tx`SELECT id FROM events WHERE id < ${eventIdAt(before)} AND created_at < ${before}
             AND (kind = 'channel' OR status = 'rejected' OR acked_at IS NOT NULL) AND expires_at IS NULL LIMIT ${limit}`,
      ),
    );
  }

  async insertWebhook(webhook: WebhookRecord, audit: AuditRecord): Promise<void> {
    await this.#webhooks.insert(webhook, (tx) => this.#audit(tx, audit));
  }

  async listWebhooks(scope: { org: string; appId: string } | null): Promise<WebhookRecord[]> {
    return this.#webhooks.list(scope);
  }

  async getWebhook(id: string): Promise<WebhookRecord | null> {
    return this.#webhooks.get(id);
  }

  async deleteWebhook(id: string, audit: AuditRecord): Promise<void> {
    await this.#webhooks.delete(id, (tx) => this.#audit(tx, audit));
  }

  async insertWebhookDeliveries(deliveries: WebhookDeliveryRecord[]): Promise<void> {
    await this.#webhooks.insertDeliveries(deliveries);
  }

  async recordWebhookAttempt(write: WebhookAttemptWrite): Promise<void> {
    await this.#webhooks.recordAttempt(write);
  }

  async claimWebhookDeliveries(claim: WebhookClaim): Promise<WebhookDeliveryRecord[]> {
    return this.#webhooks.claim(claim);
  }

  async renewWebhookClaims(node: string, ids: string[], until: number): Promise<string[]> {
    return this.#webhooks.renew(node, ids, until);
  }

  async releaseWebhookClaims(node: string | null): Promise<void> {
    await this.#webhooks.release(node);
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
    await this.#sql.begin((tx) => this.#audit(tx, entry));
  }

  async listAudit(since: number | null, limit: number): Promise<AuditRecord[]> {
    const rows = await this.#sql<AuditRow[]>`SELECT * FROM audit WHERE at >= ${since ?? 0} ORDER BY seq DESC LIMIT ${limit}`;
    return rows.map(toAudit);
  }

  // ---- channel rules (issue 18) ----

  async insertChannelRule(rule: ChannelRuleRecord, audit: AuditRecord): Promise<void> {
    await this.#channelRules.insert(rule, (tx) => this.#audit(tx, audit));
  }

  async listChannelRules(org: string, appId: string): Promise<ChannelRuleRecord[]> {
    return this.#channelRules.list(org, appId);
  }

  async getChannelRule(id: string): Promise<ChannelRuleRecord | null> {
    return this.#channelRules.get(id);
  }

  async updateChannelRule(id: string, patch: ChannelRulePatch, updatedAt: number, audit: AuditRecord): Promise<ChannelRuleRecord | null> {
    return this.#channelRules.update(id, patch, updatedAt, (tx) => this.#audit(tx, audit));
  }

  async deleteChannelRule(id: string, audit: AuditRecord): Promise<ChannelRuleRecord | null> {
    return this.#channelRules.delete(id, (tx) => this.#audit(tx, audit));
  }

  async pruneExpiredEvents(now: number, limit: number): Promise<number> {
    return this.#sql.begin((tx) => deleteEvents(tx, tx`SELECT id FROM events WHERE expires_at IS NOT NULL AND expires_at < ${now} LIMIT ${limit}`));
  }

  // ---- encryption keys (issue 18) ----

  async insertEncryptionKey(key: EncryptionKeyRecord, options: { rotate: boolean }, audit: AuditRecord): Promise<EncryptionKeyRecord | null> {
    return this.#keys.insert(key, options.rotate, (tx) => this.#audit(tx, audit));
  }

  async listEncryptionKeys(org: string, appId: string): Promise<EncryptionKeyRecord[]> {
    return this.#keys.list(org, appId);
  }

  async getEncryptionKey(id: string): Promise<EncryptionKeyRecord | null> {
    return this.#keys.get(id);
  }

  async retireEncryptionKey(id: string, at: number, audit: AuditRecord): Promise<EncryptionKeyRecord | null> {
    return this.#keys.retire(id, at, (tx) => this.#audit(tx, audit));
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
    return this.#functions.insertVersion(version, (tx, n) => this.#audit(tx, { ...audit, details: { ...audit.details, version: n } }));
  }

  async setActiveFunctionVersion(org: string, appId: string, name: string, version: number, audit: AuditRecord): Promise<FunctionRecord | null> {
    return this.#functions.setActive(org, appId, name, version, (tx, previous) => this.#audit(tx, { ...audit, details: { ...audit.details, version, previous } }));
  }

  async deleteFunction(org: string, appId: string, name: string, audit: AuditRecord): Promise<FunctionRecord | null> {
    return this.#functions.delete(org, appId, name, (tx) => this.#audit(tx, audit));
  }

  async addFunctionStats(deltas: FunctionStatsDelta[]): Promise<void> {
    await this.#functions.addStats(deltas);
  }

  async insertFunctionLogs(lines: Omit<FunctionLogRecord, 'seq'>[], keep: number): Promise<void> {
    await this.#functions.insertLogs(lines, keep);
  }

  async listFunctionLogs(org: string, appId: string, name: string, query: { after: number | null; limit: number }): Promise<FunctionLogRecord[]> {
    return this.#functions.listLogs(org, appId, name, query);
  }

  // ---- usage analytics (issue 20) ----

  async addUsage(records: UsageRecord[]): Promise<void> {
    return this.#usage.add(records);
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

/**
 * Applies the migrations this database lacks, in one transaction holding an advisory lock:
 * nodes starting together take turns, and the later ones find the work done.
 */
async function migrate(sql: Pg, url: string, log?: Logger): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK}::bigint)`;
    await tx`CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`;
    const applied = new Set((await tx<{ version: number }[]>`SELECT version FROM schema_migrations`).map((row) => row.version));
    const newest = Math.max(0, ...applied);
    const known = Math.max(0, ...MIGRATIONS.map((m) => m.version));
    if (newest > known) {
      throw new StartupError(`the database ${describeUrl(url)} has schema version ${newest}, newer than this relayd knows (${known}): a newer relayd has run on it. Upgrade relayd`);
    }
    const done: number[] = [];
    for (const migration of MIGRATIONS) {
      if (applied.has(migration.version)) continue;
      await tx.unsafe(migration.sql).simple();
      await tx`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${migration.version}, ${migration.name}, ${Date.now()})`;
      log?.debug({ version: migration.version, name: migration.name }, 'applied a migration to the PostgreSQL store');
      done.push(migration.version);
    }
    // One line for the lot: a new database takes every migration at once.
    if (done.length > 0) log?.info({ from: done[0], to: done.at(-1), store: describeUrl(url) }, 'brought the PostgreSQL store schema up to date');
  });
}

function listAllowed(sql: Pg | Tx, org: string, appId: string): Promise<string[]> {
  return sql<{ agent_id: string }[]>`SELECT agent_id FROM app_allowed_agents WHERE org = ${org} AND app_id = ${appId} ORDER BY agent_id`.then((rows) =>
    rows.map((row) => row.agent_id),
  );
}

async function purgeApp(tx: Tx, org: string, id: string): Promise<number> {
  // Keys seal nothing once the history is gone; a new app of this id starts without them.
  await tx`DELETE FROM encryption_keys WHERE org = ${org} AND app_id = ${id}`;
  return deleteEvents(tx, tx`SELECT id FROM events WHERE org = ${org} AND app_id = ${id}`);
}

/**
 * Deletes the events `ids` selects with their timelines, keeping the highest seq deleted
 * (SQLite's sqlite_sequence does the same for it), and returns how many events went.
 */
async function deleteEvents(tx: Tx, ids: ReturnType<Tx>): Promise<number> {
  const [row] = await tx<{ n: number }[]>`
    WITH doomed AS MATERIALIZED (${ids}),
      timeline AS (DELETE FROM event_timeline WHERE event_id IN (SELECT id FROM doomed) RETURNING seq),
      kept AS (UPDATE change_seqs SET removed = greatest(removed, (SELECT max(seq) FROM timeline))),
      gone AS (DELETE FROM events WHERE id IN (SELECT id FROM doomed) RETURNING 1)
    SELECT count(*) AS n FROM gone`;
  return row?.n ?? 0;
}
