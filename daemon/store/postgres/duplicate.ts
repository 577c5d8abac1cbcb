import { PostgresError } from 'postgres';

/** A row with the same key is there already. Other constraint failures (a missing organization, say) are bugs: core checks those first, and they stay errors. */
export function isDuplicate(err: unknown): err is PostgresError {
  return err instanceof PostgresError && err.code === '23505';
}
