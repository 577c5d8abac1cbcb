import { isDuplicate } from './duplicate.js';
import { toEncryptionKey, type EncryptionKeyRow } from '../rows.js';
import type { EncryptionKeyRecord } from '../store.js';
import { activeKeyExists, cannotRetireActive } from '../encryption-key-errors.js';
import type { Pg, Tx } from './pg.js';

/** The encryption_keys table of the PostgreSQL store (issue 18): the same queries and transactions as SQLite's. */
export class PostgresEncryptionKeyTables {
  readonly #sql: Pg;

  constructor(sql: Pg) {
    this.#sql = sql;
  }

  /** `audit` runs in the same transaction as the change. */
  async insert(k: EncryptionKeyRecord, rotate: boolean, audit: (tx: Tx) => Promise<unknown>): Promise<EncryptionKeyRecord | null> {
    try {
      return await this.#sql.begin(async (tx) => {
        const [demoted] = rotate
          ? await tx<EncryptionKeyRow[]>`
              UPDATE encryption_keys SET state = 'decrypt-only', rotated_at = ${k.createdAt}
              WHERE org = ${k.org} AND app_id = ${k.appId} AND state = 'active' RETURNING *`
          : [];
        await tx`
          INSERT INTO encryption_keys (id, org, app_id, state, material, created_at, rotated_at, retired_at)
          VALUES (${k.id}, ${k.org}, ${k.appId}, ${k.state}, ${k.material}, ${k.createdAt}, ${k.rotatedAt}, ${k.retiredAt})`;
        await audit(tx);
        return demoted ? toEncryptionKey(demoted) : null;
      });
    } catch (err) {
      if (isDuplicate(err) && err.constraint_name === 'encryption_keys_one_active') throw activeKeyExists(k.appId);
      throw err;
    }
  }

  async list(org: string, appId: string): Promise<EncryptionKeyRecord[]> {
    return (await this.#sql<EncryptionKeyRow[]>`SELECT * FROM encryption_keys WHERE org = ${org} AND app_id = ${appId} ORDER BY id`).map(toEncryptionKey);
  }

  async get(id: string): Promise<EncryptionKeyRecord | null> {
    const [row] = await this.#sql<EncryptionKeyRow[]>`SELECT * FROM encryption_keys WHERE id = ${id}`;
    return row ? toEncryptionKey(row) : null;
  }

  async retire(id: string, at: number, audit: (tx: Tx) => Promise<unknown>): Promise<EncryptionKeyRecord | null> {
    return this.#sql.begin(async (tx) => {
      const [row] = await tx<EncryptionKeyRow[]>`SELECT * FROM encryption_keys WHERE id = ${id} FOR UPDATE`;
      if (!row) return null;
      if (row.state === 'active') throw cannotRetireActive(id, row.app_id);
      if (row.state === 'retired') return toEncryptionKey(row);
      const [after] = await tx<EncryptionKeyRow[]>`
        UPDATE encryption_keys SET state = 'retired', material = NULL, retired_at = ${at} WHERE id = ${id} RETURNING *`;
      await audit(tx);
      return toEncryptionKey(after as EncryptionKeyRow);
    });
  }

}
