import type Database from 'better-sqlite3';
import { soonestDueFirst, toAttempt, toDelivery, toWebhook, type AttemptRow, type DeliveryRow, type WebhookRow } from '../rows.js';
import type { WebhookAttemptRecord, WebhookAttemptWrite, WebhookClaim, WebhookDeliveryRecord, WebhookRecord } from '../store.js';

/** The webhook tables of the SQLite store: its statements and the transactions over them. */
export class SqliteWebhookTables {
  readonly #db: Database.Database;
  readonly #s;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#s = {
      insert: db.prepare(
        `INSERT INTO webhooks (id, org, app_id, url, events, created_at, last_attempt_at, last_status_code, last_error, failures_in_row)
         VALUES (@id, @org, @appId, @url, @events, @createdAt, @lastAttemptAt, @lastStatusCode, @lastError, @failuresInRow)`,
      ),
      listAll: db.prepare<[], WebhookRow>('SELECT * FROM webhooks ORDER BY created_at, id'),
      listOfApp: db.prepare<[string, string], WebhookRow>('SELECT * FROM webhooks WHERE org = ? AND app_id = ? ORDER BY created_at, id'),
      get: db.prepare<[string], WebhookRow>('SELECT * FROM webhooks WHERE id = ?'),
      delete: db.prepare('DELETE FROM webhooks WHERE id = ?'),
      insertDelivery: db.prepare(
        `INSERT INTO webhook_deliveries (id, webhook_id, body, event_names, created_at, status, attempts, next_attempt_at, settled_at, claimed_by, claimed_until)
         VALUES (@id, @webhookId, @body, @eventNames, @createdAt, @status, @attempts, @nextAttemptAt, @settledAt, @claimedBy, @claimedUntil)`,
      ),
      updateDelivery: db.prepare(
        `UPDATE webhook_deliveries SET status = @status, attempts = @attempts, next_attempt_at = @nextAttemptAt, settled_at = @settledAt, claimed_until = @claimedUntil
         WHERE id = @id AND claimed_by = @node`,
      ),
      insertAttempt: db.prepare(
        'INSERT INTO webhook_attempts (delivery_id, at, status_code, duration_ms, error, node) VALUES (@deliveryId, @at, @statusCode, @durationMs, @error, @node)',
      ),
      // One statement: SQLite runs it alone, so that no other claim sees the rows half-claimed.
      claim: db.prepare<[WebhookClaim], DeliveryRow>(
        `UPDATE webhook_deliveries SET claimed_by = @node, claimed_until = @until
         WHERE id IN (
           SELECT id FROM webhook_deliveries
           WHERE status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= @dueBy) AND (claimed_until IS NULL OR claimed_until < @now)
           ORDER BY next_attempt_at, id LIMIT @limit
         )
         RETURNING *`,
      ),
      renew: db.prepare<[{ node: string; ids: string; until: number }], { id: string }>(
        `UPDATE webhook_deliveries SET claimed_until = @until
         WHERE id IN (SELECT value FROM json_each(@ids)) AND claimed_by = @node AND status = 'pending' AND claimed_until IS NOT NULL
         RETURNING id`,
      ),
      releaseOf: db.prepare<[string]>("UPDATE webhook_deliveries SET claimed_until = NULL WHERE claimed_by = ? AND status = 'pending'"),
      releaseAll: db.prepare("UPDATE webhook_deliveries SET claimed_until = NULL WHERE status = 'pending' AND claimed_until IS NOT NULL"),
      updateHealth: db.prepare(
        `UPDATE webhooks SET last_attempt_at = @lastAttemptAt, last_status_code = @lastStatusCode, last_error = @lastError,
           failures_in_row = @failuresInRow WHERE id = @id`,
      ),
      pending: db.prepare<[], DeliveryRow>("SELECT * FROM webhook_deliveries WHERE status = 'pending' ORDER BY next_attempt_at, id"),
      deliveriesOf: db.prepare<[string, number], DeliveryRow>('SELECT * FROM webhook_deliveries WHERE webhook_id = ? ORDER BY id DESC LIMIT ?'),
      attemptsOf: db.prepare<[string], AttemptRow>('SELECT * FROM webhook_attempts WHERE delivery_id = ? ORDER BY seq'),
      prunable: db.prepare<[number, number], { id: string }>("SELECT id FROM webhook_deliveries WHERE status != 'pending' AND settled_at < ? LIMIT ?"),
      deleteDelivery: db.prepare('DELETE FROM webhook_deliveries WHERE id = ?'),
    };
  }

  /** `audit` runs in the same transaction as the change. */
  insert(webhook: WebhookRecord, audit: () => void): void {
    this.#db.transaction(() => {
      this.#s.insert.run({ ...webhook, events: JSON.stringify(webhook.events) });
      audit();
    })();
  }

  list(scope: { org: string; appId: string } | null): WebhookRecord[] {
    return (scope === null ? this.#s.listAll.all() : this.#s.listOfApp.all(scope.org, scope.appId)).map(toWebhook);
  }

  get(id: string): WebhookRecord | null {
    const row = this.#s.get.get(id);
    return row ? toWebhook(row) : null;
  }

  delete(id: string, audit: () => void): void {
    this.#db.transaction(() => {
      this.#s.delete.run(id);
      audit();
    })();
  }

  insertDeliveries(deliveries: WebhookDeliveryRecord[]): void {
    this.#db.transaction(() => {
      for (const d of deliveries) this.#s.insertDelivery.run({ ...d, eventNames: JSON.stringify(d.eventNames) });
    })();
  }

  recordAttempt(write: WebhookAttemptWrite): void {
    this.#db.transaction(() => {
      // The webhook may have been removed while the attempt was in flight, or the claim taken by another node: then there is nothing to record.
      if (this.#s.updateDelivery.run({ ...write.delivery, node: write.attempt.node }).changes === 0) return;
      this.#s.insertAttempt.run(write.attempt);
      this.#s.updateHealth.run(write.webhook);
    })();
  }

  claim(claim: WebhookClaim): WebhookDeliveryRecord[] {
    // RETURNING gives no order: the soonest due first, as asked.
    return this.#s.claim
      .all(claim)
      .map(toDelivery)
      .sort(soonestDueFirst);
  }

  renew(node: string, ids: string[], until: number): string[] {
    if (ids.length === 0) return [];
    return this.#s.renew.all({ node, ids: JSON.stringify(ids), until }).map((r) => r.id);
  }

  release(node: string | null): void {
    if (node === null) this.#s.releaseAll.run();
    else this.#s.releaseOf.run(node);
  }

  pending(): WebhookDeliveryRecord[] {
    return this.#s.pending.all().map(toDelivery);
  }

  deliveries(webhookId: string, limit: number): { delivery: WebhookDeliveryRecord; attempts: WebhookAttemptRecord[] }[] {
    return this.#s.deliveriesOf.all(webhookId, limit).map((row) => ({ delivery: toDelivery(row), attempts: this.#s.attemptsOf.all(row.id).map(toAttempt) }));
  }

  prune(before: number, limit: number): number {
    return this.#db.transaction(() => {
      const ids = this.#s.prunable.all(before, limit);
      for (const { id } of ids) this.#s.deleteDelivery.run(id);
      return ids.length;
    })();
  }
}
