import { isDuplicate } from './duplicate.js';
import Database from 'better-sqlite3';
import { toEncryptionKey, type EncryptionKeyRow } from '../rows.js';
import type { EncryptionKeyRecord } from '../store.js';
import { activeKeyExists, cannotRetireActive } from '../encryption-key-errors.js';

/** The encryption_keys table of the SQLite store (issue 18): its statements and the transactions over them. */
export class SqliteEncryptionKeyTables {
  readonly #db: Database.Database;
  readonly #s;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#s = {
      insert: db.prepare(
        `INSERT INTO encryption_keys (id, org, app_id, state, material, created_at, rotated_at, retired_at)
         VALUES (@id, @org, @appId, @state, @material, @createdAt, @rotatedAt, @retiredAt)`,
      ),
      demoteActive: db.prepare<[number, string, string], EncryptionKeyRow>(
        "UPDATE encryption_keys SET state = 'decrypt-only', rotated_at = ? WHERE org = ? AND app_id = ? AND state = 'active' RETURNING *",
      ),
      list: db.prepare<[string, string], EncryptionKeyRow>('SELECT * FROM encryption_keys WHERE org = ? AND app_id = ? ORDER BY id'),
      get: db.prepare<[string], EncryptionKeyRow>('SELECT * FROM encryption_keys WHERE id = ?'),
      retire: db.prepare("UPDATE encryption_keys SET state = 'retired', material = NULL, retired_at = ? WHERE id = ? AND state = 'decrypt-only'"),
      purgeApp: db.prepare('DELETE FROM encryption_keys WHERE org = ? AND app_id = ?'),
    };
  }

  insert(key: EncryptionKeyRecord, rotate: boolean, audit: () => void): EncryptionKeyRecord | null {
    try {
      return this.#db.transaction(() => {
        const demoted = rotate ? this.#s.demoteActive.get(key.createdAt, key.org, key.appId) : undefined;
        this.#s.insert.run(key);
        audit();
        return demoted ? toEncryptionKey(demoted) : null;
      })();
    } catch (err) {
      if (isDuplicate(err)) throw activeKeyExists(key.appId);
      throw err;
    }
  }

  list(org: string, appId: string): EncryptionKeyRecord[] {
    return this.#s.list.all(org, appId).map(toEncryptionKey);
  }

  get(id: string): EncryptionKeyRecord | null {
    const row = this.#s.get.get(id);
    return row ? toEncryptionKey(row) : null;
  }

  retire(id: string, at: number, audit: () => void): EncryptionKeyRecord | null {
    return this.#db.transaction(() => {
      const row = this.#s.get.get(id);
      if (!row) return null;
      if (row.state === 'active') throw cannotRetireActive(id, row.app_id);
      if (this.#s.retire.run(at, id).changes > 0) audit();
      return toEncryptionKey(this.#s.get.get(id) as EncryptionKeyRow);
    })();
  }

  purgeApp(org: string, appId: string): void {
    this.#s.purgeApp.run(org, appId);
  }
}
