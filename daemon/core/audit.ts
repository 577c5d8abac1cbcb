import type { AuditEntry } from '../../src/shared/api.js';
import { ID_PREFIX } from '../../src/shared/ids.js';
import type { AuditRecord, Store } from '../store/store.js';
import type { Clock } from './clock.js';
import { randomBase62 } from './secrets.js';

/** Who made a change: `admin:<token id>` for the CLI, `system` for relayd itself. */
export type Actor = string;

export function auditRecord(
  clock: Clock,
  actor: Actor,
  action: string,
  target: { org: string | null; type: string; id: string },
  details: Record<string, unknown> = {},
): AuditRecord {
  return {
    id: `${ID_PREFIX.audit}${randomBase62(16)}`,
    at: clock.now(),
    actor,
    action,
    org: target.org,
    targetType: target.type,
    targetId: target.id,
    details,
  };
}

export function toAuditEntry(record: AuditRecord): AuditEntry {
  return {
    id: record.id,
    at: new Date(record.at).toISOString(),
    actor: record.actor,
    action: record.action,
    org: record.org,
    targetType: record.targetType,
    targetId: record.targetId,
    details: record.details,
  };
}

export async function listAudit(store: Store, clock: Clock, query: { sinceMs: number | null; limit: number }): Promise<AuditEntry[]> {
  const since = query.sinceMs === null ? null : clock.now() - query.sinceMs;
  return (await store.listAudit(since, query.limit)).map(toAuditEntry);
}
