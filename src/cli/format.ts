
/**
 * The pure part of the human view: display widths, fitting a table to the terminal, and the
 * one way each kind of value reads (times, durations). output.ts prints with these; nothing
 * here writes or knows about streams.
 */

/**
 * How a table column behaves when the terminal is too narrow (gh's tableprinter):
 * - `id`: a handle to copy into the next command, never truncated;
 * - `text`: free text (names, URLs, errors), truncated with an ellipsis, the widest first;
 * - `fixed`: short values of a known form (times, statuses, counts), kept whole.
 */
export type ColumnKind = 'id' | 'text' | 'fixed';

export interface Column {
  header: string;
  kind: ColumnKind;
}

/** The two spaces between columns. */
export const GAP = 2;

/** Our own colour codes (SGR), the only escape sequences a printed cell can hold (server data is sanitized). */
const SGR = /(\u001b\[[0-9;]*m)/;

let measure: ((text: string) => number) | null = null;

/**
 * Loads string-width, which displayWidth needs for text beyond printable ASCII. Only a table
 * on a terminal measures text, and its emoji tables cost about 100 ms of start-up, so it is
 * loaded there and not by every command.
 */
export async function loadWidths(): Promise<void> {
  measure ??= (await import('string-width')).default;
}

const SGR_ALL = new RegExp(SGR.source, 'g');
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** Columns a string takes on a terminal: colour codes take none, wide characters two (after loadWidths). */
export function displayWidth(text: string): number {
  const bare = text.replace(SGR_ALL, '');
  if (PRINTABLE_ASCII.test(bare)) return bare.length;
  if (measure === null) throw new Error('displayWidth: call loadWidths() first');
  return measure(text);
}

/** Made when first needed: building a Segmenter loads ICU data, about 15 ms of every command's start-up. */
let graphemes: Intl.Segmenter | null = null;

/**
 * `text` cut to `width` columns, the cut marked with `…`. Colour codes are kept, and a colour
 * open at the cut is reset so that it does not bleed into the next column.
 */
export function truncate(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  if (width <= 0) return '';
  const budget = width - 1;
  let out = '';
  let used = 0;
  let coloured = false;
  for (const part of text.split(SGR)) {
    if (SGR.test(part)) {
      out += part;
      coloured = true;
      continue;
    }
    graphemes ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
    for (const { segment } of graphemes.segment(part)) {
      const w = displayWidth(segment);
      if (used + w > budget) return `${out}…${coloured ? '\u001b[0m' : ''}`;
      out += segment;
      used += w;
    }
  }
  return out;
}

/** `text` padded with spaces to `width` columns. */
export function pad(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - displayWidth(text)));
}

/**
 * The width of each column so that a row fits `available` columns (the gaps left out): ids
 * and fixed columns keep their width; text columns give up columns one at a time, the widest
 * first, first down to their header's width, then down to a few characters. What still does
 * not fit (ids and fixed columns alone wider than the terminal) overflows, as gh's does.
 */
export function fitWidths(columns: Column[], natural: number[], available: number): number[] {
  const widths = [...natural];
  let excess = widths.reduce((a, b) => a + b, 0) - available;
  const floors = [columns.map((c, i) => Math.min(natural[i]!, displayWidth(c.header))), columns.map((_, i) => Math.min(natural[i]!, 4))];
  for (const floor of floors) {
    while (excess > 0) {
      let widest = -1;
      columns.forEach((c, i) => {
        if (c.kind === 'text' && widths[i]! > floor[i]! && (widest === -1 || widths[i]! > widths[widest]!)) widest = i;
      });
      if (widest === -1) break;
      widths[widest]!--;
      excess--;
    }
  }
  return widths;
}

/** Durations as people read them: `9ms`, `1.5s`, `2m3s`, `1h5m`, `2d3h`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(1))}s`;
  const s = Math.floor(ms / 1000);
  const two = (big: number, bigUnit: string, small: number, smallUnit: string): string => `${big}${bigUnit}${small > 0 ? `${small}${smallUnit}` : ''}`;
  if (s < 3600) return two(Math.floor(s / 60), 'm', s % 60, 's');
  if (s < 86_400) return two(Math.floor(s / 3600), 'h', Math.floor((s % 3600) / 60), 'm');
  return two(Math.floor(s / 86_400), 'd', Math.floor((s % 86_400) / 3600), 'h');
}

/**
 * The readable forms of a time (all UTC, as relayd keeps them):
 * - `date`: `2026-11-22 23:18 UTC`, for when something was made or expires;
 * - `ago`: `5m ago`, `in 3d`, for how recent (lists);
 * - `seconds`: `2026-11-22 23:18:05`, for attempts seconds apart, on any day;
 * - `clock`: `23:18:05.042`, for steps that are milliseconds apart (an event's timeline).
 */
export type TimeForm = 'date' | 'ago' | 'seconds' | 'clock';

export function formatTime(iso: string, form: TimeForm, now = Date.now()): string {
  switch (form) {
    case 'date':
      return `${iso.slice(0, 16).replace('T', ' ')} UTC`;
    case 'seconds':
      return new Date(iso).toISOString().slice(0, 19).replace('T', ' ');
    case 'clock':
      return new Date(iso).toISOString().slice(11, 23);
    case 'ago': {
      const seconds = Math.round((now - Date.parse(iso)) / 1000);
      return seconds < 0 ? `in ${span(-seconds)}` : `${span(seconds)} ago`;
    }
  }
}

function span(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}
