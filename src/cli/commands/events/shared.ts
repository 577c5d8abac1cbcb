import type { Event } from '../../../shared/api.js';
import { RelayError } from '../../../shared/errors.js';
import { looksLikeSecret } from '../../../shared/ids.js';
import { checkId } from '../checks.js';
import type { Context } from '../../context.js';
import { when, type Styled, type Styles, type Text } from '../../output.js';

export const EVENT_STATUSES = ['pending', 'delivered', 'failed', 'rejected'] as const;

export function checkStatus(value: string | undefined): string | undefined {
  if (value === undefined || (EVENT_STATUSES as readonly string[]).includes(value)) return value;
  throw new RelayError('invalid_request', `invalid --status "${value}": use one of ${EVENT_STATUSES.join(', ')}`);
}

/** `flag`: the flag that took it (`--before`), for the message. */
export function checkEventId(value: string, flag?: string): string {
  if (looksLikeSecret(value)) throw new RelayError('invalid_request', 'that looks like a secret, not an event id');
  const what = flag === undefined ? 'event id' : `${flag}`;
  if (!/^evt_[0-9A-Z]{26}$/.test(value)) throw new RelayError('invalid_request', `invalid ${what} "${value}": event ids are evt_ and 26 characters`);
  return value;
}

/** The optional --app and --agent filters, checked as ids. */
export function checkFilters(opts: { app?: string | undefined; agent?: string | undefined }): void {
  if (opts.app !== undefined) checkId(opts.app, 'an app id');
  if (opts.agent !== undefined) checkId(opts.agent, 'an agent id');
}

/** Failed and rejected stand out on a terminal; pending is dim. */
export function statusCell(s: Styles, status: Event['status']): Styled {
  if (status === 'failed' || status === 'rejected') return s.red(status);
  if (status === 'pending') return s.yellow(status);
  return s.green(status);
}

export function latency(ms: number | null): string {
  if (ms === null) return '-';
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Where an event went: `app → agent` for the agent relay, the channels for a publish. */
export function route(e: Event): string {
  return e.kind === 'agent' ? `${e.appId} → ${e.agent ?? '?'}` : `${e.appId} → ${(e.channels ?? []).join(',')}`;
}

/** The columns of an event's row, in `events list` and `events tail` alike. */
export const EVENT_HEADERS = ['ID', 'WHEN', 'ROUTE', 'THREAD', 'NAME', 'STATUS', 'LATENCY'];

/** An event's row under EVENT_HEADERS: the one formatting of an event as a row. */
export function eventRow(ctx: Context, s: Styles, e: Event): Text[] {
  return [e.id, ctx.io.isStdoutTTY ? when(e.createdAt) : e.createdAt, route(e), e.thread ?? '-', e.name ?? '-', statusCell(s, e.status), latency(e.latencyMs)];
}
