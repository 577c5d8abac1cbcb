import type Database from 'better-sqlite3';
import { toUsage, type UsageRow } from '../rows.js';
import type { UsageRecord, UsageResolution } from '../store.js';
import { emptyUsage, mergeUsageOverTime, usageFromJson } from '../usage.js';

type Key = [org: string, appId: string, resolution: UsageResolution, start: number, node: string];

/** Oldest first; the rest of the key makes the order total, so that a limit cuts the same rows every time. */
const ORDER = 'ORDER BY start, org, app_id, node';

/** The usage table of the SQLite store (migration 20): each app's counts per node and bucket of time. */
export class SqliteUsageTables {
  readonly #db: Database.Database;
  readonly #s;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#s = {
      get: db.prepare<Key, { counts: string }>('SELECT counts FROM usage WHERE org = ? AND app_id = ? AND resolution = ? AND start = ? AND node = ?'),
      put: db.prepare<[{ org: string; appId: string; resolution: UsageResolution; start: number; node: string; counts: string }]>(
        `INSERT INTO usage (org, app_id, resolution, start, node, counts) VALUES (@org, @appId, @resolution, @start, @node, @counts)
         ON CONFLICT (org, app_id, resolution, start, node) DO UPDATE SET counts = excluded.counts`,
      ),
      listOfApp: db.prepare<[string, string, UsageResolution, number, number], UsageRow>(
        `SELECT * FROM usage WHERE org = ? AND app_id = ? AND resolution = ? AND start >= ? AND start < ? ${ORDER}`,
      ),
      listOfOrg: db.prepare<[string, UsageResolution, number, number], UsageRow>(`SELECT * FROM usage WHERE org = ? AND resolution = ? AND start >= ? AND start < ? ${ORDER}`),
      oldest: db.prepare<[UsageResolution, number, number], UsageRow>(`SELECT * FROM usage WHERE resolution = ? AND start < ? ${ORDER} LIMIT ?`),
      delete: db.prepare<Key>('DELETE FROM usage WHERE org = ? AND app_id = ? AND resolution = ? AND start = ? AND node = ?'),
      prune: db.prepare<[UsageResolution, number]>('DELETE FROM usage WHERE resolution = ? AND start < ?'),
      deleteApp: db.prepare<[string, string]>('DELETE FROM usage WHERE org = ? AND app_id = ?'),
    };
  }

  add(records: UsageRecord[]): void {
    this.#db.transaction(() => this.#add(records))();
  }

  list(org: string, appId: string | null, resolution: UsageResolution, from: number, to: number): UsageRecord[] {
    const rows = appId === null ? this.#s.listOfOrg.all(org, resolution, from, to) : this.#s.listOfApp.all(org, appId, resolution, from, to);
    return rows.map(toUsage);
  }

  rollUp(from: 'minute' | 'hour', before: number, limit: number, combine: (rows: UsageRecord[]) => UsageRecord[]): number {
    return this.#db.transaction(() => {
      const rows = this.#s.oldest.all(from, before, limit).map(toUsage);
      if (rows.length === 0) return 0;
      // Deleted before the coarser rows are added: a combine that gave back a row it was
      // handed would keep it, rather than lose it.
      for (const r of rows) this.#s.delete.run(r.org, r.appId, r.resolution, r.start, r.node);
      this.#add(combine(rows));
      return rows.length;
    })();
  }

  prune(resolution: UsageResolution, before: number): number {
    return this.#s.prune.run(resolution, before).changes;
  }

  /** Within the app's deletion (its transaction). */
  deleteApp(org: string, appId: string): void {
    this.#s.deleteApp.run(org, appId);
  }

  /** Within a transaction: each record merged into its row, read then written. */
  #add(records: UsageRecord[]): void {
    for (const r of records) {
      const row = this.#s.get.get(r.org, r.appId, r.resolution, r.start, r.node);
      // A new row goes through the merge too: it writes every field, the histogram at its length.
      const counts = mergeUsageOverTime(row ? usageFromJson(row.counts) : emptyUsage(), r.counts);
      this.#s.put.run({ org: r.org, appId: r.appId, resolution: r.resolution, start: r.start, node: r.node, counts: JSON.stringify(counts) });
    }
  }
}
