import { toFunction, toFunctionLog, toFunctionVersion, type FunctionLogRow, type FunctionRow, type FunctionVersionRow } from '../rows.js';
import { functionVersionMissing } from '../store.js';
import type { FunctionLogRecord, FunctionRecord, FunctionStatsDelta, FunctionVersionRecord } from '../store.js';
import type { Pg, Tx } from './pg.js';

/** A function's row with its active version and its count of versions (a FunctionRow); the WHERE follows. */
const FUNCTION_SELECT = `
  SELECT v.*, f.latest_version, f.created_at AS function_created_at, f.calls, f.failures, f.timeouts, f.dropped, f.last_failure_at,
    (SELECT count(*) FROM function_versions c WHERE c.org = f.org AND c.app_id = f.app_id AND c.name = f.name) AS versions
  FROM functions f JOIN function_versions v ON v.org = f.org AND v.app_id = f.app_id AND v.name = f.name AND v.version = f.active_version`;

const byKey = (a: { org: string; appId: string; name: string }, b: { org: string; appId: string; name: string }): number =>
  a.org < b.org ? -1 : a.org > b.org ? 1 : a.appId < b.appId ? -1 : a.appId > b.appId ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;

/** The edge function tables of the PostgreSQL store: the same queries and transactions as SQLite's (function-tables.ts there). */
export class PostgresFunctionTables {
  readonly #sql: Pg;

  constructor(sql: Pg) {
    this.#sql = sql;
  }

  async list(org: string, appId: string): Promise<FunctionRecord[]> {
    const sql = this.#sql;
    const rows = await sql<FunctionRow[]>`${sql.unsafe(FUNCTION_SELECT)} WHERE f.org = ${org} AND f.app_id = ${appId} ORDER BY f.created_at, f.name`;
    return rows.map(toFunction);
  }

  async get(org: string, appId: string, name: string): Promise<FunctionRecord | null> {
    const row = await getRow(this.#sql, org, appId, name);
    return row ? toFunction(row) : null;
  }

  async getVersion(org: string, appId: string, name: string, version: number): Promise<FunctionVersionRecord | null> {
    const [row] = await this.#sql<FunctionVersionRow[]>`
      SELECT * FROM function_versions WHERE org = ${org} AND app_id = ${appId} AND name = ${name} AND version = ${version}`;
    return row ? toFunctionVersion(row) : null;
  }

  async listVersions(org: string, appId: string, name: string): Promise<FunctionVersionRecord[]> {
    // The source is left unread, as in SQLite.
    const rows = await this.#sql<FunctionVersionRow[]>`
      SELECT org, app_id, name, version, '' AS source, trigger, channels, event, agent, timeout_ms, memory_bytes, on_error, created_at, created_by
      FROM function_versions WHERE org = ${org} AND app_id = ${appId} AND name = ${name} ORDER BY version`;
    return rows.map(toFunctionVersion);
  }

  /** `audit` runs in the same transaction, with the number the version got. */
  async insertVersion(v: Omit<FunctionVersionRecord, 'version'>, audit: (tx: Tx, version: number) => Promise<unknown>): Promise<FunctionRecord> {
    return this.#sql.begin(async (tx) => {
      // The upsert numbers the version and holds the function's row until commit: two nodes
      // deploying one function at once take turns, each with its own number.
      const [head] = await tx<{ latest_version: number }[]>`
        INSERT INTO functions (org, app_id, name, active_version, latest_version, created_at) VALUES (${v.org}, ${v.appId}, ${v.name}, 1, 1, ${v.createdAt})
        ON CONFLICT (org, app_id, name) DO UPDATE SET latest_version = functions.latest_version + 1, active_version = functions.latest_version + 1
        RETURNING latest_version`;
      const version = (head as { latest_version: number }).latest_version;
      await tx`
        INSERT INTO function_versions (org, app_id, name, version, source, trigger, channels, event, agent, timeout_ms, memory_bytes, on_error, created_at, created_by)
        VALUES (${v.org}, ${v.appId}, ${v.name}, ${version}, ${v.source}, ${v.trigger}, ${v.channels}, ${v.event}, ${v.agent}, ${v.timeoutMs}, ${v.memoryBytes},
          ${v.onError}, ${v.createdAt}, ${v.createdBy})`;
      await audit(tx, version);
      return toFunction((await getRow(tx, v.org, v.appId, v.name)) as FunctionRow);
    });
  }

  /** `audit` runs in the same transaction, with the version that was active before. */
  async setActive(org: string, appId: string, name: string, version: number, audit: (tx: Tx, previous: number) => Promise<unknown>): Promise<FunctionRecord | null> {
    return this.#sql.begin(async (tx) => {
      const [locked] = await tx<{ active_version: number }[]>`
        SELECT active_version FROM functions WHERE org = ${org} AND app_id = ${appId} AND name = ${name} FOR UPDATE`;
      if (!locked) return null;
      const [exists] = await tx`SELECT 1 FROM function_versions WHERE org = ${org} AND app_id = ${appId} AND name = ${name} AND version = ${version}`;
      if (!exists) throw functionVersionMissing(appId, name, version);
      await tx`UPDATE functions SET active_version = ${version} WHERE org = ${org} AND app_id = ${appId} AND name = ${name}`;
      await audit(tx, locked.active_version);
      return toFunction((await getRow(tx, org, appId, name)) as FunctionRow);
    });
  }

  async delete(org: string, appId: string, name: string, audit: (tx: Tx) => Promise<unknown>): Promise<FunctionRecord | null> {
    return this.#sql.begin(async (tx) => {
      // Locks the row first: a deploy or rollback of it waits, then finds it gone.
      const [locked] = await tx`SELECT 1 FROM functions WHERE org = ${org} AND app_id = ${appId} AND name = ${name} FOR UPDATE`;
      if (!locked) return null;
      const row = (await getRow(tx, org, appId, name)) as FunctionRow;
      await tx`DELETE FROM function_logs WHERE org = ${org} AND app_id = ${appId} AND name = ${name}`;
      await tx`DELETE FROM function_versions WHERE org = ${org} AND app_id = ${appId} AND name = ${name}`;
      await tx`DELETE FROM functions WHERE org = ${org} AND app_id = ${appId} AND name = ${name}`;
      await audit(tx);
      return toFunction(row);
    });
  }

  /** Within the app's deletion (its transaction). */
  async deleteApp(tx: Tx, org: string, appId: string): Promise<void> {
    await tx`DELETE FROM function_logs WHERE org = ${org} AND app_id = ${appId}`;
    await tx`DELETE FROM function_versions WHERE org = ${org} AND app_id = ${appId}`;
    await tx`DELETE FROM functions WHERE org = ${org} AND app_id = ${appId}`;
  }

  async addStats(deltas: FunctionStatsDelta[]): Promise<void> {
    if (deltas.length === 0) return;
    // In key order, so that two nodes adding to the same functions lock their rows in the same order.
    const sorted = [...deltas].sort(byKey);
    await this.#sql.begin(async (tx) => {
      for (const d of sorted) {
        // greatest() passes over NULLs: null only when both are.
        await tx`
          UPDATE functions SET calls = calls + ${d.calls}, failures = failures + ${d.failures}, timeouts = timeouts + ${d.timeouts}, dropped = dropped + ${d.dropped},
            last_failure_at = greatest(last_failure_at, ${d.lastFailureAt}::bigint)
          WHERE org = ${d.org} AND app_id = ${d.appId} AND name = ${d.name}`;
      }
    });
  }

  async insertLogs(lines: Omit<FunctionLogRecord, 'seq'>[], keep: number): Promise<void> {
    if (lines.length === 0) return;
    const written = new Map<string, { org: string; appId: string; name: string }>();
    for (const l of lines) written.set(JSON.stringify([l.org, l.appId, l.name]), { org: l.org, appId: l.appId, name: l.name });
    const rows = lines.map((l) => ({ org: l.org, app_id: l.appId, name: l.name, version: l.version, at: l.at, node: l.node, level: l.level, message: l.message }));
    await this.#sql.begin(async (tx) => {
      // seq is given in insert order (the rows' order in the statement).
      await tx`INSERT INTO function_logs ${tx(rows, 'org', 'app_id', 'name', 'version', 'at', 'node', 'level', 'message')}`;
      for (const f of [...written.values()].sort(byKey)) {
        await tx`
          DELETE FROM function_logs WHERE org = ${f.org} AND app_id = ${f.appId} AND name = ${f.name} AND seq <= (
            SELECT seq FROM function_logs WHERE org = ${f.org} AND app_id = ${f.appId} AND name = ${f.name} ORDER BY seq DESC LIMIT 1 OFFSET ${keep})`;
      }
    });
  }

  async listLogs(org: string, appId: string, name: string, query: { after: number | null; limit: number }): Promise<FunctionLogRecord[]> {
    const sql = this.#sql;
    const rows =
      query.after === null
        ? await sql<FunctionLogRow[]>`
            SELECT * FROM (SELECT * FROM function_logs WHERE org = ${org} AND app_id = ${appId} AND name = ${name} ORDER BY seq DESC LIMIT ${query.limit}) newest ORDER BY seq`
        : await sql<FunctionLogRow[]>`
            SELECT * FROM function_logs WHERE org = ${org} AND app_id = ${appId} AND name = ${name} AND seq > ${query.after} ORDER BY seq LIMIT ${query.limit}`;
    return rows.map(toFunctionLog);
  }
}

async function getRow(sql: Pg | Tx, org: string, appId: string, name: string): Promise<FunctionRow | undefined> {
  const [row] = await sql<FunctionRow[]>`${sql.unsafe(FUNCTION_SELECT)} WHERE f.org = ${org} AND f.app_id = ${appId} AND f.name = ${name}`;
  return row;
}
