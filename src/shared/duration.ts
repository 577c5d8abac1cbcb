import { RelayError } from './errors.js';

const UNITS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^(\d{1,9})([smhd])$/;

/** Parses `90s`, `15m`, `1h`, `30d` into milliseconds; outside `range` (when given), a usage error in the flag's units. */
export function parseDuration(text: string, flag = 'duration', range?: { min: number; max: number }): number {
  const match = DURATION.exec(text.trim());
  if (!match) {
    throw new RelayError('invalid_request', `invalid ${flag} "${text}": use a whole number with s, m, h or d (90s, 15m, 1h, 30d)`);
  }
  const [, amount, unit] = match as unknown as [string, string, keyof typeof UNITS];
  const ms = Number(amount) * UNITS[unit];
  if (range && ms > range.max) throw new RelayError('invalid_request', `${flag} may be at most ${formatDuration(range.max)} (got ${text.trim()})`);
  if (range && ms < range.min) throw new RelayError('invalid_request', `${flag} must be at least ${formatDuration(range.min)} (got ${text.trim()})`);
  return ms;
}

/** Formats milliseconds the way parseDuration reads them, in the largest exact unit. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms % UNITS[unit] === 0 && ms >= UNITS[unit]) return `${ms / UNITS[unit]}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * An expiry given as a duration from now (`30d`) or as a date (`2027-01-31`, ISO 8601).
 * Returns the epoch milliseconds.
 */
export function parseExpiry(text: string, now: number): number {
  if (DURATION.test(text.trim())) return now + parseDuration(text, '--expires');
  const at = Date.parse(text);
  if (Number.isNaN(at)) {
    throw new RelayError('invalid_request', `invalid --expires "${text}": use a duration (30d) or a date (2027-01-31)`);
  }
  if (at <= now) throw new RelayError('invalid_request', `invalid --expires "${text}": the date is in the past`);
  return at;
}

/** Epoch milliseconds, as a bare number (13 digits for any date this century). */
const EPOCH_MS = /^\d{1,15}$/;

/** Whether `parseTimeBound` reads `text` (without a clock: for schemas). */
export function isTimeBound(text: string): boolean {
  const t = text.trim();
  return DURATION.test(t) || EPOCH_MS.test(t) || (/^\d{4}-\d{2}-\d{2}/.test(t) && !Number.isNaN(Date.parse(t)));
}

/**
 * A point in time given as a duration back from `now` (`24h`), an ISO 8601 time
 * (`2026-12-01`, `2026-12-01T10:00:00Z`) or epoch milliseconds. Returns epoch milliseconds.
 */
export function parseTimeBound(text: string, now: number, flag = 'time'): number {
  const t = text.trim();
  if (DURATION.test(t)) return now - parseDuration(t, flag);
  if (EPOCH_MS.test(t)) return Number(t);
  const at = /^\d{4}-\d{2}-\d{2}/.test(t) ? Date.parse(t) : Number.NaN;
  if (Number.isNaN(at)) throw new RelayError('invalid_request', `invalid ${flag} "${text}": use a duration back from now (90s, 15m, 24h, 30d), an ISO 8601 time or epoch milliseconds`);
  return at;
}
