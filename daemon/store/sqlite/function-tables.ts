import Database from 'better-sqlite3';
import { toFunction, toFunctionLog, toFunctionVersion, type FunctionLogRow, type FunctionRow, type FunctionVersionRow } from '../rows.js';
import { functionVersionMissing } from '../store.js';
import type { FunctionLogRecord, FunctionRecord, FunctionStatsDelta, FunctionVersionRecord } from '../store.js';

type Key = [org: string, appId: string, name: string];

/** A function's row with its active version and its count of versions (a FunctionRow). */
const FUNCTION_SELECT = `
  SELECT v.*, f.latest_version, f.created_at AS function_created_at, f.calls, f.failures, f.timeouts, f.dropped, f.last_failure_at,
    (SELECT count(*) FROM function_versions c WHERE c.org = f.org AND c.app_id = f.app_id AND c.name = f.name) AS versions
  FROM functions f JOIN function_versions v ON v.org = f.org AND v.app_id = f.app_id AND v.name = f.name AND v.version = f.active_version`;

/** The edge function tables of the SQLite store (migration 19): functions, function_versions, function_logs. */
export class SqliteFunctionTables {
  readonly #db: Database.Database;
  readonly #s;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#s = {
      list: db.prepare<[string, string], FunctionRow>(`${FUNCTION_SELECT} WHERE f.org = ? AND f.app_id = ? ORDER BY f.created_at, f.name`),
      get: db.prepare<Key, FunctionRow>(`${FUNCTION_SELECT} WHERE f.org = ? AND f.app_id = ? AND f.name = ?`),
      getVersion: db.prepare<[...Key, number], FunctionVersionRow>('SELECT * FROM function_versions WHERE org = ? AND app_id = ? AND name = ? AND version = ?'),
      // The source is left unread: a list of versions shows their settings, and sources may be large.
      listVersions: db.prepare<Key, FunctionVersionRow>(
        `SELECT org, app_id, name, version, '' AS source, trigger, channels, event, agent, timeout_ms, memory_bytes, on_error, created_at, created_by
         FROM function_versions WHERE org = ? AND app_id = ? AND name = ? ORDER BY version`,
      ),
      // Numbers the next version and makes it active in one statement: the row is made by the first deploy.
      nextVersion: db.prepare<[{ org: string; appId: string; name: string; createdAt: number }], { latest_version: number }>(
        `INSERT INTO functions (org, app_id, name, active_version, latest_version, created_at) VALUES (@org, @appId, @name, 1, 1, @createdAt)
         ON CONFLICT (org, app_id, name) DO UPDATE SET latest_version = functions.latest_version + 1, active_version = functions.latest_version + 1
         RETURNING latest_version`,
      ),
      insertVersion: db.prepare(
        `INSERT INTO function_versions (org, app_id, name, version, source, trigger, channels, event, agent, timeout_ms, memory_bytes, on_error, created_at, created_by)
         VALUES (@org, @appId, @name, @version, @source, @trigger, @channels, @event, @agent, @timeoutMs, @memoryBytes, @onError, @createdAt, @createdBy)`,
      ),
      setActive: db.prepare<[number, ...Key]>('UPDATE functions SET active_version = ? WHERE org = ? AND app_id = ? AND name = ?'),
      versionExists: db.prepare<[...Key, number], { version: number }>('SELECT version FROM function_versions WHERE org = ? AND app_id = ? AND name = ? AND version = ?'),
      deleteFunction: [
        'DELETE FROM function_logs WHERE org = ? AND app_id = ? AND name = ?',
        'DELETE FROM function_versions WHERE org = ? AND app_id = ? AND name = ?',
        'DELETE FROM functions WHERE org = ? AND app_id = ? AND name = ?',
      ].map((sql) => db.prepare<Key>(sql)),
      deleteApp: [
        'DELETE FROM function_logs WHERE org = ? AND app_id = ?',
        'DELETE FROM function_versions WHERE org = ? AND app_id = ?',
        'DELETE FROM functions WHERE org = ? AND app_id = ?',
      ].map((sql) => db.prepare<[string, string]>(sql)),
      // SQLite's max() of several values is NULL when one is: each side falls back to the other.
      addStats: db.prepare(
        `UPDATE functions SET calls = calls + @calls, failures = failures + @failures, timeouts = timeouts + @timeouts, dropped = dropped + @dropped,
           last_failure_at = max(coalesce(last_failure_at, @lastFailureAt), coalesce(@lastFailureAt, last_failure_at))
         WHERE org = @org AND app_id = @appId AND name = @name`,
      ),
      insertLog: db.prepare(
        `INSERT INTO function_logs (org, app_id, name, version, at, node, level, message)
         VALUES (@org, @appId, @name, @version, @at, @node, @level, @message)`,
      ),
      // Everything from the (keep + 1)th newest line down, through function_logs_by_function.
      trimLogs: db.prepare<[...Key, ...Key, number]>(
        `DELETE FROM function_logs WHERE org = ? AND app_id = ? AND name = ? AND seq <= (
           SELECT seq FROM function_logs WHERE org = ? AND app_id = ? AND name = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)`,
      ),
      newestLogs: db.prepare<[...Key, number], FunctionLogRow>(
        'SELECT * FROM (SELECT * FROM function_logs WHERE org = ? AND app_id = ? AND name = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq',
      ),
      logsAfter: db.prepare<[...Key, number, number], FunctionLogRow>('SELECT * FROM function_logs WHERE org = ? AND app_id = ? AND name = ? AND seq > ? ORDER BY seq LIMIT ?'),
    };
  }

  list(org: string, appId: string): FunctionRecord[] {
    return this.#s.list.all(org, appId).map(toFunction);
  }

  get(org: string, appId: string, name: string): FunctionRecord | null {
    const row = this.#s.get.get(org, appId, name);
    return row ? toFunction(row) : null;
  }

  getVersion(org: string, appId: string, name: string, version: number): FunctionVersionRecord | null {
    const row = this.#s.getVersion.get(org, appId, name, version);
    return row ? toFunctionVersion(row) : null;
  }

  listVersions(org: string, appId: string, name: string): FunctionVersionRecord[] {
    return this.#s.listVersions.all(org, appId, name).map(toFunctionVersion);
  }

  /** `audit` runs in the same transaction, with the number the version got. */
  insertVersion(input: Omit<FunctionVersionRecord, 'version'>, audit: (version: number) => void): FunctionRecord {
    return this.#db.transaction(() => {
      const { latest_version: version } = this.#s.nextVersion.get(input) as { latest_version: number };
      this.#s.insertVersion.run({ ...input, version });
      audit(version);
      return toFunction(this.#s.get.get(input.org, input.appId, input.name) as FunctionRow);
    })();
  }

  /** `audit` runs in the same transaction, with the version that was active before. */
  setActive(org: string, appId: string, name: string, version: number, audit: (previous: number) => void): FunctionRecord | null {
    return this.#db.transaction(() => {
      const before = this.#s.get.get(org, appId, name);
      if (!before) return null;
      if (!this.#s.versionExists.get(org, appId, name, version)) throw functionVersionMissing(appId, name, version);
      this.#s.setActive.run(version, org, appId, name);
      audit(before.version);
      return toFunction(this.#s.get.get(org, appId, name) as FunctionRow);
    })();
  }

  delete(org: string, appId: string, name: string, audit: () => void): FunctionRecord | null {
    return this.#db.transaction(() => {
      const row = this.#s.get.get(org, appId, name);
      if (!row) return null;
      for (const statement of this.#s.deleteFunction) statement.run(org, appId, name);
      audit();
      return toFunction(row);
    })();
  }

  /** Within the app's deletion (its transaction). */
  deleteApp(org: string, appId: string): void {
    for (const statement of this.#s.deleteApp) statement.run(org, appId);
  }

  addStats(deltas: FunctionStatsDelta[]): void {
    this.#db.transaction(() => {
      for (const d of deltas) this.#s.addStats.run(d);
    })();
  }

  insertLogs(lines: Omit<FunctionLogRecord, 'seq'>[], keep: number): void {
    this.#db.transaction(() => {
      const written = new Map<string, Key>();
      for (const line of lines) {
        this.#s.insertLog.run(line);
        written.set(JSON.stringify([line.org, line.appId, line.name]), [line.org, line.appId, line.name]);
      }
      for (const key of written.values()) this.#s.trimLogs.run(...key, ...key, keep);
    })();
  }

  listLogs(org: string, appId: string, name: string, query: { after: number | null; limit: number }): FunctionLogRecord[] {
    const rows = query.after === null ? this.#s.newestLogs.all(org, appId, name, query.limit) : this.#s.logsAfter.all(org, appId, name, query.after, query.limit);
    return rows.map(toFunctionLog);
  }
}
