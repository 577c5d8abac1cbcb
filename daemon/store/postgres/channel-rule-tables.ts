import { isDuplicate } from './duplicate.js';
import { RelayError } from '../../../src/shared/errors.js';
import { patchChannelRule, toChannelRule, type ChannelRuleRow } from '../rows.js';
import type { ChannelRulePatch, ChannelRuleRecord } from '../store.js';
import type { Pg, Tx } from './pg.js';

const duplicate = (pattern: string, appId: string): RelayError =>
  new RelayError('conflict', `app "${appId}" has a channel rule for pattern "${pattern}" already`, { hint: 'change that rule with `relay channels rules update RULE_ID`' });


/** The channel_rules table of the PostgreSQL store: the same queries and transactions as SQLite's (channel-rule-tables.ts there). */
export class PostgresChannelRuleTables {
  readonly #sql: Pg;

  constructor(sql: Pg) {
    this.#sql = sql;
  }

  /** `audit` runs in the same transaction as the change. */
  async insert(r: ChannelRuleRecord, audit: (tx: Tx) => Promise<unknown>): Promise<void> {
    try {
      await this.#sql.begin(async (tx) => {
        await tx`
          INSERT INTO channel_rules (id, org, app_id, pattern, schema, schema_event, client_events, history, retention_ms, max_members, created_at, updated_at)
          VALUES (${r.id}, ${r.org}, ${r.appId}, ${r.pattern}, ${r.schema}, ${r.schemaEvent}, ${r.clientEvents}, ${r.history}, ${r.retentionMs}, ${r.maxMembers}, ${r.createdAt}, ${r.updatedAt})`;
        await audit(tx);
      });
    } catch (err) {
      if (isDuplicate(err)) throw duplicate(r.pattern, r.appId);
      throw err;
    }
  }

  async list(org: string, appId: string): Promise<ChannelRuleRecord[]> {
    const rows = await this.#sql<ChannelRuleRow[]>`SELECT * FROM channel_rules WHERE org = ${org} AND app_id = ${appId} ORDER BY created_at, id`;
    return rows.map(toChannelRule);
  }

  async get(id: string): Promise<ChannelRuleRecord | null> {
    const [row] = await this.#sql<ChannelRuleRow[]>`SELECT * FROM channel_rules WHERE id = ${id}`;
    return row ? toChannelRule(row) : null;
  }

  async update(id: string, patch: ChannelRulePatch, updatedAt: number, audit: (tx: Tx) => Promise<unknown>): Promise<ChannelRuleRecord | null> {
    try {
      return await this.#sql.begin(async (tx) => {
        const [row] = await tx<ChannelRuleRow[]>`SELECT * FROM channel_rules WHERE id = ${id} FOR UPDATE`;
        if (!row) return null;
        const r = patchChannelRule(toChannelRule(row), patch, updatedAt);
        await tx`
          UPDATE channel_rules SET pattern = ${r.pattern}, schema = ${r.schema}, schema_event = ${r.schemaEvent}, client_events = ${r.clientEvents},
            history = ${r.history}, retention_ms = ${r.retentionMs}, max_members = ${r.maxMembers}, updated_at = ${r.updatedAt}
          WHERE id = ${id}`;
        await audit(tx);
        return r;
      });
    } catch (err) {
      if (isDuplicate(err)) throw duplicate(patch.pattern ?? '', (await this.get(id))?.appId ?? '');
      throw err;
    }
  }

  async delete(id: string, audit: (tx: Tx) => Promise<unknown>): Promise<ChannelRuleRecord | null> {
    return this.#sql.begin(async (tx) => {
      const [row] = await tx<ChannelRuleRow[]>`DELETE FROM channel_rules WHERE id = ${id} RETURNING *`;
      if (!row) return null;
      await audit(tx);
      return toChannelRule(row);
    });
  }
}
