import type { Event } from '../../../shared/api.js';
import { RelayError } from '../../../shared/errors.js';
import { looksLikeSecret } from '../../../shared/ids.js';
import { checkId } from '../checks.js';
import type { Context } from '../../context.js';
import { arrow, column, duration, time, type Cell, type Column, type Styles, type TimeForm } from '../../output.js';

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

/** The columns of an events table; `eventRow` fills them. */
export const EVENT_COLUMNS: Column[] = [column.id('ID'), column.fixed('WHEN'), column.text('ROUTE'), column.text('THREAD'), column.text('NAME'), column.fixed('STATUS'), column.fixed('LATENCY')];

/**
 * One event as a row of EVENT_COLUMNS, for `table` (a list) or `row` (a stream's line, with
 * `at` the time of the change): the route is app → agent (or channels), two fields when piped.
 * `when`: `ago` in a list, `clock` for a stream.
 */
export function eventRow(ctx: Context, s: Styles, e: Event, when: TimeForm, at = e.createdAt): Cell[] {
  return [e.id, time(ctx, at, when), arrow(e.appId, target(e)), e.thread ?? '-', e.name ?? '-', s.status(e.status), duration(e.latencyMs)];
}

/** Where an event went: its agent, or the channels of a publish. */
export function target(e: Event): string {
  return e.kind === 'agent' ? (e.agent ?? '?') : (e.channels ?? []).join(',');
}
