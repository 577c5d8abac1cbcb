import { soonestDueFirst, toAttempt, toDelivery, toWebhook, type AttemptRow, type DeliveryRow, type WebhookRow } from '../rows.js';
import type { WebhookAttemptRecord, WebhookAttemptWrite, WebhookClaim, WebhookDeliveryRecord, WebhookRecord } from '../store.js';
import type { Pg, Tx } from './pg.js';

/** The webhook tables of the PostgreSQL store: the same queries and transactions as SQLite's (webhook-tables.ts there). */
export class PostgresWebhookTables {
  readonly #sql: Pg;

  constructor(sql: Pg) {
    this.#sql = sql;
  }

  /** `audit` runs in the same transaction as the change. */
  async insert(w: WebhookRecord, audit: (tx: Tx) => Promise<unknown>): Promise<void> {
    await this.#sql.begin(async (tx) => {
      await tx`
        INSERT INTO webhooks (id, org, app_id, url, events, created_at, last_attempt_at, last_status_code, last_error, failures_in_row)
        VALUES (${w.id}, ${w.org}, ${w.appId}, ${w.url}, ${JSON.stringify(w.events)}, ${w.createdAt}, ${w.lastAttemptAt}, ${w.lastStatusCode}, ${w.lastError}, ${w.failuresInRow})`;
      await audit(tx);
    });
  }

  async list(scope: { org: string; appId: string } | null): Promise<WebhookRecord[]> {
    const sql = this.#sql;
    const rows =
      scope === null
        ? await sql<WebhookRow[]>`SELECT * FROM webhooks ORDER BY created_at, id`
        : await sql<WebhookRow[]>`SELECT * FROM webhooks WHERE org = ${scope.org} AND app_id = ${scope.appId} ORDER BY created_at, id`;
    return rows.map(toWebhook);
  }

  async get(id: string): Promise<WebhookRecord | null> {
    const [row] = await this.#sql<WebhookRow[]>`SELECT * FROM webhooks WHERE id = ${id}`;
    return row ? toWebhook(row) : null;
  }

  async delete(id: string, audit: (tx: Tx) => Promise<unknown>): Promise<void> {
    await this.#sql.begin(async (tx) => {
      await tx`DELETE FROM webhooks WHERE id = ${id}`;
      await audit(tx);
    });
  }

  async insertDeliveries(deliveries: WebhookDeliveryRecord[]): Promise<void> {
    if (deliveries.length === 0) return;
    const rows = deliveries.map((d) => ({
      id: d.id,
      webhook_id: d.webhookId,
      body: d.body,
      event_names: JSON.stringify(d.eventNames),
      created_at: d.createdAt,
      status: d.status,
      attempts: d.attempts,
      next_attempt_at: d.nextAttemptAt,
      settled_at: d.settledAt,
      claimed_by: d.claimedBy,
      claimed_until: d.claimedUntil,
    }));
    // One statement for all of them: atomic as SQLite's transaction is.
    await this.#sql`INSERT INTO webhook_deliveries ${this.#sql(rows, 'id', 'webhook_id', 'body', 'event_names', 'created_at', 'status', 'attempts', 'next_attempt_at', 'settled_at', 'claimed_by', 'claimed_until')}`;
  }

  async recordAttempt(write: WebhookAttemptWrite): Promise<void> {
    const { attempt: a, delivery: d, webhook: w } = write;
    await this.#sql.begin(async (tx) => {
      const updated = await tx`
        UPDATE webhook_deliveries SET status = ${d.status}, attempts = ${d.attempts}, next_attempt_at = ${d.nextAttemptAt}, settled_at = ${d.settledAt}, claimed_until = ${d.claimedUntil}
        WHERE id = ${d.id} AND claimed_by = ${a.node}`;
      // The webhook may have been removed while the attempt was in flight, or the claim taken by another node: then there is nothing to record.
      if (updated.count === 0) return;
      await Promise.all([
        tx`INSERT INTO webhook_attempts (delivery_id, at, status_code, duration_ms, error, node) VALUES (${a.deliveryId}, ${a.at}, ${a.statusCode}, ${a.durationMs}, ${a.error}, ${a.node})`,
        tx`UPDATE webhooks SET last_attempt_at = ${w.lastAttemptAt}, last_status_code = ${w.lastStatusCode}, last_error = ${w.lastError},
             failures_in_row = ${w.failuresInRow} WHERE id = ${w.id}`,
      ]);
    });
  }

  /**
   * pg-boss's and graphile-worker's claim: the rows are picked and locked in one statement,
   * skipping those another claim has locked, so that two nodes never take the same delivery;
   * under READ COMMITTED a row changed meanwhile (claimed, renewed) is checked again as it is now.
   */
  async claim(c: WebhookClaim): Promise<WebhookDeliveryRecord[]> {
    const rows = await this.#sql<DeliveryRow[]>`
      WITH due AS (
        SELECT id FROM webhook_deliveries
        WHERE status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ${c.dueBy}) AND (claimed_until IS NULL OR claimed_until < ${c.now})
        ORDER BY next_attempt_at NULLS FIRST, id
        LIMIT ${c.limit}
        FOR UPDATE SKIP LOCKED
      )
      UPDATE webhook_deliveries d SET claimed_by = ${c.node}, claimed_until = ${c.until}
      FROM due WHERE d.id = due.id
      RETURNING d.*`;
    // RETURNING gives no order: the soonest due first, as asked.
    return rows.map(toDelivery).sort(soonestDueFirst);
  }

  async renew(node: string, ids: string[], until: number): Promise<string[]> {
    if (ids.length === 0) return [];
    const rows = await this.#sql<{ id: string }[]>`
      UPDATE webhook_deliveries SET claimed_until = ${until}
      WHERE id = ANY(${ids}::text[]) AND claimed_by = ${node} AND status = 'pending' AND claimed_until IS NOT NULL
      RETURNING id`;
    return rows.map((r) => r.id);
  }

  async release(node: string | null): Promise<void> {
    if (node === null) await this.#sql`UPDATE webhook_deliveries SET claimed_until = NULL WHERE status = 'pending' AND claimed_until IS NOT NULL`;
    else await this.#sql`UPDATE webhook_deliveries SET claimed_until = NULL WHERE claimed_by = ${node} AND status = 'pending'`;
  }

  async pending(): Promise<WebhookDeliveryRecord[]> {
    // NULLS FIRST: SQLite's order, where NULL sorts before every value.
    const rows = await this.#sql<DeliveryRow[]>`SELECT * FROM webhook_deliveries WHERE status = 'pending' ORDER BY next_attempt_at NULLS FIRST, id`;
    return rows.map(toDelivery);
  }

  async deliveries(webhookId: string, limit: number): Promise<{ delivery: WebhookDeliveryRecord; attempts: WebhookAttemptRecord[] }[]> {
    const sql = this.#sql;
    const rows = await sql<DeliveryRow[]>`SELECT * FROM webhook_deliveries WHERE webhook_id = ${webhookId} ORDER BY id DESC LIMIT ${limit}`;
    if (rows.length === 0) return [];
    const attempts = await sql<AttemptRow[]>`SELECT * FROM webhook_attempts WHERE delivery_id = ANY(${rows.map((r) => r.id)}::text[]) ORDER BY seq`;
    const byDelivery = new Map<string, WebhookAttemptRecord[]>(rows.map((r) => [r.id, []]));
    for (const row of attempts) byDelivery.get(row.delivery_id)?.push(toAttempt(row));
    return rows.map((row) => ({ delivery: toDelivery(row), attempts: byDelivery.get(row.id) ?? [] }));
  }

  async prune(before: number, limit: number): Promise<number> {
    const [row] = await this.#sql<{ n: number }[]>`
      WITH gone AS (
        DELETE FROM webhook_deliveries WHERE id IN (
          SELECT id FROM webhook_deliveries WHERE status != 'pending' AND settled_at < ${before} LIMIT ${limit}
        ) RETURNING 1
      )
      SELECT count(*) AS n FROM gone`;
    return row?.n ?? 0;
  }
}
