import Database from 'better-sqlite3';

/** A row with the same key is there already. Other constraint failures (a missing organization, say) are bugs: core checks those first, and they stay errors. */
export function isDuplicate(err: unknown): err is Database.SqliteError {
  return err instanceof Database.SqliteError && (err.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || err.code === 'SQLITE_CONSTRAINT_UNIQUE');
}
