import { isDuplicate } from './duplicate.js';
import Database from 'better-sqlite3';
import { RelayError } from '../../../src/shared/errors.js';
import { patchChannelRule, toChannelRule, type ChannelRuleRow } from '../rows.js';
import type { ChannelRulePatch, ChannelRuleRecord } from '../store.js';

const ruleParams = (r: ChannelRuleRecord) => ({
  ...r,
  clientEvents: r.clientEvents === null ? null : Number(r.clientEvents),
  history: r.history === null ? null : Number(r.history),
});

const duplicate = (pattern: string, appId: string): RelayError =>
  new RelayError('conflict', `app "${appId}" has a channel rule for pattern "${pattern}" already`, { hint: 'change that rule with `relay channels rules update RULE_ID`' });


/** The channel_rules table of the SQLite store (migration 16). */
export class SqliteChannelRuleTables {
  readonly #db: Database.Database;
  readonly #s;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#s = {
      insert: db.prepare(
        `INSERT INTO channel_rules (id, org, app_id, pattern, schema, schema_event, client_events, history, retention_ms, max_members, created_at, updated_at)
         VALUES (@id, @org, @appId, @pattern, @schema, @schemaEvent, @clientEvents, @history, @retentionMs, @maxMembers, @createdAt, @updatedAt)`,
      ),
      update: db.prepare(
        `UPDATE channel_rules SET pattern = @pattern, schema = @schema, schema_event = @schemaEvent, client_events = @clientEvents, history = @history,
           retention_ms = @retentionMs, max_members = @maxMembers, updated_at = @updatedAt WHERE id = @id`,
      ),
      list: db.prepare<[string, string], ChannelRuleRow>('SELECT * FROM channel_rules WHERE org = ? AND app_id = ? ORDER BY created_at, id'),
      get: db.prepare<[string], ChannelRuleRow>('SELECT * FROM channel_rules WHERE id = ?'),
      delete: db.prepare('DELETE FROM channel_rules WHERE id = ?'),
      expired: db.prepare<[number, number], { id: string }>('SELECT id FROM events WHERE expires_at IS NOT NULL AND expires_at < ? LIMIT ?'),
    };
  }

  /** `audit` runs in the same transaction as the change. */
  insert(rule: ChannelRuleRecord, audit: () => void): void {
    try {
      this.#db.transaction(() => {
        this.#s.insert.run(ruleParams(rule));
        audit();
      })();
    } catch (err) {
      if (isDuplicate(err)) throw duplicate(rule.pattern, rule.appId);
      throw err;
    }
  }

  list(org: string, appId: string): ChannelRuleRecord[] {
    return this.#s.list.all(org, appId).map(toChannelRule);
  }

  get(id: string): ChannelRuleRecord | null {
    const row = this.#s.get.get(id);
    return row ? toChannelRule(row) : null;
  }

  update(id: string, patch: ChannelRulePatch, updatedAt: number, audit: () => void): ChannelRuleRecord | null {
    try {
      return this.#db.transaction(() => {
        const row = this.#s.get.get(id);
        if (!row) return null;
        const rule = patchChannelRule(toChannelRule(row), patch, updatedAt);
        this.#s.update.run(ruleParams(rule));
        audit();
        return rule;
      })();
    } catch (err) {
      if (isDuplicate(err)) throw duplicate(patch.pattern ?? '', this.get(id)?.appId ?? '');
      throw err;
    }
  }

  delete(id: string, audit: () => void): ChannelRuleRecord | null {
    return this.#db.transaction(() => {
      const row = this.#s.get.get(id);
      if (!row) return null;
      this.#s.delete.run(id);
      audit();
      return toChannelRule(row);
    })();
  }

  /** Ids of events past their own expiry (a channel rule's retention). */
  expired(now: number, limit: number): string[] {
    return this.#s.expired.all(now, limit).map((r) => r.id);
  }
}
