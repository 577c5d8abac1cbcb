import { toUsage, type UsageRow } from '../rows.js';
import type { UsageRecord, UsageResolution } from '../store.js';
import { emptyUsage, mergeUsageOverTime, usageFromJson } from '../usage.js';
import type { Pg, Tx } from './pg.js';

/** The usage table of the PostgreSQL store: the same rows, order and transactions as SQLite's (usage-tables.ts there). */
export class PostgresUsageTables {
  readonly #sql: Pg;

  constructor(sql: Pg) {
    this.#sql = sql;
  }

  async add(records: UsageRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.#sql.begin((tx) => add(tx, records));
  }

  async list(org: string, appId: string | null, resolution: UsageResolution, from: number, to: number): Promise<UsageRecord[]> {
    const sql = this.#sql;
    const ofApp = appId === null ? sql`` : sql`AND app_id = ${appId}`;
    const rows = await sql<UsageRow[]>`
      SELECT * FROM usage WHERE org = ${org} ${ofApp} AND resolution = ${resolution} AND start >= ${from} AND start < ${to}
      ORDER BY start, org, app_id, node`;
    return rows.map(toUsage);
  }

  async rollUp(from: 'minute' | 'hour', before: number, limit: number, combine: (rows: UsageRecord[]) => UsageRecord[]): Promise<number> {
    return this.#sql.begin(async (tx) => {
      // SKIP LOCKED: another node rolling up at the same time takes other rows rather than
      // waiting for these; each row is read, and so counted, by one of them only.
      const read = await tx<UsageRow[]>`
        SELECT * FROM usage WHERE resolution = ${from} AND start < ${before}
        ORDER BY start, org, app_id, node LIMIT ${limit} FOR UPDATE SKIP LOCKED`;
      if (read.length === 0) return 0;
      const rows = read.map(toUsage);
      // Deleted before the coarser rows are added, as in SQLite.
      await tx`
        DELETE FROM usage u USING ${keysOf(tx, rows)}
        WHERE u.org = k.org AND u.app_id = k.app_id AND u.resolution = k.resolution AND u.start = k.start AND u.node = k.node`;
      await add(tx, combine(rows));
      return rows.length;
    });
  }

  async prune(resolution: UsageResolution, before: number): Promise<number> {
    const deleted = await this.#sql`DELETE FROM usage WHERE resolution = ${resolution} AND start < ${before}`;
    return deleted.count;
  }

  /** Within the app's deletion (its transaction). */
  async deleteApp(tx: Tx, org: string, appId: string): Promise<void> {
    await tx`DELETE FROM usage WHERE org = ${org} AND app_id = ${appId}`;
  }
}

const keyOf = (r: UsageRecord): string => JSON.stringify([r.org, r.appId, r.resolution, r.start, r.node]);

/** The records' keys as a table, k(org, app_id, resolution, start, node), for a join. */
function keysOf(tx: Tx, records: UsageRecord[]) {
  return tx`unnest(${records.map((r) => r.org)}::text[], ${records.map((r) => r.appId)}::text[], ${records.map((r) => r.resolution)}::text[],
    ${records.map((r) => r.start)}::bigint[], ${records.map((r) => r.node)}::text[]) AS k(org, app_id, resolution, start, node)`;
}

/**
 * Within a transaction: each record merged into its row, read then written, in three
 * statements whatever the batch's size. The rows are made first (empty, where missing), so
 * that the read can lock every one of them: a row another transaction makes meanwhile is
 * waited for rather than written over. Locks are taken in key order, as every writer does.
 */
async function add(tx: Tx, records: UsageRecord[]): Promise<void> {
  // A key named twice in the batch is written once (one row cannot be updated twice in a statement).
  const byKey = new Map<string, UsageRecord>();
  for (const r of records) {
    const key = keyOf(r);
    const seen = byKey.get(key);
    byKey.set(key, { ...r, counts: mergeUsageOverTime(seen?.counts ?? emptyUsage(), r.counts) });
  }
  if (byKey.size === 0) return;
  const batch = [...byKey.values()];
  await tx`
    INSERT INTO usage (org, app_id, resolution, start, node, counts)
    SELECT k.org, k.app_id, k.resolution, k.start, k.node, '{}' FROM ${keysOf(tx, batch)} ORDER BY k.org, k.app_id, k.resolution, k.start, k.node
    ON CONFLICT (org, app_id, resolution, start, node) DO NOTHING`;
  const current = await tx<UsageRow[]>`
    SELECT u.* FROM usage u JOIN ${keysOf(tx, batch)} ON u.org = k.org AND u.app_id = k.app_id AND u.resolution = k.resolution AND u.start = k.start AND u.node = k.node
    ORDER BY u.org, u.app_id, u.resolution, u.start, u.node FOR UPDATE OF u`;
  const stored = new Map(current.map((row) => [JSON.stringify([row.org, row.app_id, row.resolution, row.start, row.node]), usageFromJson(row.counts)]));
  const counts = batch.map((r) => JSON.stringify(mergeUsageOverTime(stored.get(keyOf(r)) ?? emptyUsage(), r.counts)));
  await tx`
    UPDATE usage u SET counts = v.counts
    FROM unnest(${batch.map((r) => r.org)}::text[], ${batch.map((r) => r.appId)}::text[], ${batch.map((r) => r.resolution)}::text[],
      ${batch.map((r) => r.start)}::bigint[], ${batch.map((r) => r.node)}::text[], ${counts}::text[]) AS v(org, app_id, resolution, start, node, counts)
    WHERE u.org = v.org AND u.app_id = v.app_id AND u.resolution = v.resolution AND u.start = v.start AND u.node = v.node`;
}
