import { RelayError } from '../shared/errors.js';
import type { Context } from './context.js';
import { GAP, displayWidth, duration as formatDuration, fitWidths, formatTime, loadWidths, pad, truncate, type Column, type TimeForm } from './format.js';
import { sanitize } from './sanitize.js';

/**
 * The only place that writes results. `--jq` and `--json` print JSON on stdout, exactly as
 * relayd sent it; otherwise the command's human view. Messages go to stderr so that stdout
 * stays pipeable.
 *
 * Everything the human view and the messages print is sanitized here (see sanitize.ts), so
 * that server data reaches a terminal as text and never as escape sequences: a plain string
 * given to `table`, `details`, `line`, `note` or `success` may hold server data and is
 * sanitized; only a `Styled` value, which `styles()` and `fmt` make from sanitized parts, is
 * printed as is. Commands never write to the streams themselves.
 */
export interface Printable {
  json: unknown;
  /** Writes the human view (called only without --json/--jq/-q). */
  human(): Promise<void> | void;
  /** With -q: printed alone on stdout (a secret, for `TOKEN=$(...)`). */
  quiet?: string;
  /**
   * What a create made: piped (no TTY, no --json), stdout gets `id<TAB>secret`, or the id
   * alone when there is no secret, instead of the human view, so that a script can read both.
   */
  created?: { id: string; secret?: string };
}

export async function print(ctx: Context, out: Printable, options: { quiet?: boolean } = {}): Promise<void> {
  if (options.quiet && out.quiet !== undefined) {
    ctx.io.stdout.write(`${out.quiet}\n`);
    return;
  }
  if (ctx.globals.jq !== undefined) {
    ctx.io.stdout.write(await runJq(out.json, ctx.globals.jq));
    return;
  }
  if (ctx.globals.json) {
    ctx.io.stdout.write(`${JSON.stringify(out.json, null, 2)}\n`);
    return;
  }
  if (out.created && !ctx.io.isStdoutTTY) {
    const { id, secret } = out.created;
    ctx.io.stdout.write(`${[id, ...(secret === undefined ? [] : [secret])].map(sanitize).join('\t')}\n`);
    return;
  }
  await out.human();
}

/** One JSON object a line, for streams (`--watch`, `tail`). */
export function printLine(ctx: Context, value: unknown): void {
  ctx.io.stdout.write(`${JSON.stringify(value)}\n`);
}

type Jq = Awaited<typeof import('jq-web').default>;

async function loadJq(): Promise<Jq> {
  return (await import('jq-web')).default;
}

/**
 * `--jq` as gh runs it, and the one place that runs jq: one line per result, strings raw,
 * other values as compact JSON, and nothing at all when the expression yields nothing
 * (`empty`, a `select` that matches none). jq-web answers no output with `undefined` and
 * drops the last newline of any other.
 */
function applyJq(jq: Jq, value: unknown, expression: string): string {
  try {
    const result = jq.raw(JSON.stringify(value), expression, ['-r', '-c']);
    return result === undefined ? '' : `${result}\n`;
  } catch (err) {
    // jq's stderr, on one line: "jq: error (at inputString:0): null (null) has no keys" → "null (null) has no keys".
    const message = (err as Error).message
      .split('\n')
      .filter((text) => !/^Non-zero exit code: \d+$/.test(text) && !/^jq: \d+ compile errors?$/.test(text))
      .map((text) => text.replace(/^jq: error( \(at inputString:\d+\))?: ?/, '').trim())
      .filter(Boolean)
      .join(' ');
    throw new RelayError('invalid_request', `--jq: ${message || 'the expression failed'}`);
  }
}

export async function runJq(value: unknown, expression: string): Promise<string> {
  return applyJq(await loadJq(), value, expression);
}

/**
 * The writer of streams (`events tail`): one JSON object a line, or with --jq the
 * expression's results for each value. An expression that does not compile is refused
 * before the stream starts; one that fails on a value says so on stderr and the stream goes
 * on, as jq does with a stream of inputs.
 */
export async function jsonLines(ctx: Context): Promise<(value: unknown) => void> {
  const expression = ctx.globals.jq;
  if (expression === undefined) return (value) => printLine(ctx, value);
  const jq = await loadJq();
  try {
    jq.raw('null', expression, ['-c']);
  } catch (err) {
    if ((err as { exitCode?: number }).exitCode === 3) applyJq(jq, null, expression);
  }
  return (value) => {
    try {
      ctx.io.stdout.write(applyJq(jq, value, expression));
    } catch (err) {
      note(ctx, `warning: ${(err as Error).message}`);
    }
  };
}

/**
 * Text the CLI composed itself: its own colour codes around parts already sanitized. Only
 * this module makes one (through `styles()` and `fmt`), so a value of this type is safe to print.
 */
class Styled {
  readonly text: string;

  constructor(text: string) {
    this.text = text;
  }

  /**
   * A Styled pasted into a template string would turn back into a plain string, and its
   * colour codes would then be escaped like server data: fail loudly instead; use `fmt`.
   */
  toString(): never {
    throw new Error('a Styled value was used as a string: compose it with fmt`...`');
  }
}

export type { Styled };

/** What the writers take: a plain string (sanitized when printed) or text composed by `styles()`/`fmt`. */
export type Text = string | Styled;

function safe(text: Text): string {
  return typeof text === 'string' ? sanitize(text) : text.text;
}

/** One line composed of our own words, styled parts and server values: the values are sanitized, styled parts kept. */
export function fmt(strings: TemplateStringsArray, ...values: (Text | number)[]): Styled {
  let text = strings[0] ?? '';
  values.forEach((value, i) => {
    text += (typeof value === 'number' ? String(value) : safe(value)) + (strings[i + 1] ?? '');
  });
  return new Styled(text);
}

export interface Styles {
  bold(text: Text): Styled;
  dim(text: Text): Styled;
  green(text: Text): Styled;
  yellow(text: Text): Styled;
  red(text: Text): Styled;
  /** A status word in its colour (see STATUS_COLOURS); a word not in the map is printed plain. */
  status(word: string): Styled;
}

/**
 * The one map of status words to colours, as gh colours them: what works is green, what
 * failed or was cut off is red, what waits or needs a look is yellow, what never happened dim.
 */
const STATUS_COLOURS: Record<string, 'green' | 'red' | 'yellow' | 'dim'> = {
  active: 'green',
  connected: 'green',
  delivered: 'green',
  ok: 'green',
  yes: 'green',
  failed: 'red',
  failing: 'red',
  rejected: 'red',
  revoked: 'red',
  error: 'red',
  pending: 'yellow',
  retrying: 'yellow',
  expired: 'yellow',
  inactive: 'yellow',
  new: 'dim',
  no: 'dim',
};

function withStatus(paints: Omit<Styles, 'status'>): Styles {
  return {
    ...paints,
    status: (word) => {
      // Own keys only: a word from relayd such as `constructor` is no colour.
      const colour = Object.hasOwn(STATUS_COLOURS, word) ? STATUS_COLOURS[word] : undefined;
      return colour === undefined ? new Styled(safe(word)) : paints[colour](word);
    },
  };
}

const unstyled = (text: Text): Styled => new Styled(safe(text));
const plain: Styles = withStatus({ bold: unstyled, dim: unstyled, green: unstyled, yellow: unstyled, red: unstyled });

/** Colours only when the context allows them (TTY, NO_COLOR, CLICOLOR, CLICOLOR_FORCE). */
export async function styles(ctx: Context): Promise<Styles> {
  if (!ctx.io.color) return plain;
  const { Chalk } = await import('chalk');
  const chalk = new Chalk({ level: 1 });
  // Each line painted on its own: a colour never spans a newline, so a reset never lands on the next line.
  const style =
    (paint: (text: string) => string) =>
    (text: Text): Styled =>
      new Styled(
        safe(text)
          .split('\n')
          .map((part) => (part === '' ? part : paint(part)))
          .join('\n'),
      );
  return withStatus({ bold: style(chalk.bold), dim: style(chalk.dim), green: style(chalk.green), yellow: style(chalk.yellow), red: style(chalk.red) });
}

export type { Column, ColumnKind, TimeForm } from './format.js';

/** Table columns by kind (see format.ts): ids are never truncated, text is, fixed values keep their width. */
export const column = {
  id: (header: string): Column => ({ header, kind: 'id' }),
  text: (header: string): Column => ({ header, kind: 'text' }),
  fixed: (header: string): Column => ({ header, kind: 'fixed' }),
};

/**
 * A cell made of two values: `from → to` on a terminal, two fields when piped (`acme-pm` and
 * `athena`), so that a script reads each with `cut`.
 */
class Arrow {
  readonly from: Text;
  readonly to: Text;

  constructor(from: Text, to: Text) {
    this.from = from;
    this.to = to;
  }
}

export type { Arrow };

export function arrow(from: Text, to: Text): Arrow {
  return new Arrow(from, to);
}

export type Cell = Text | Arrow;

/**
 * A table on a TTY, fitted to the terminal's width (`--wide`: everything, however wide) as
 * gh's are: borderless, columns two spaces apart, a bold header. Without a TTY, tab-separated
 * lines without a header (no colour codes unless forced, no truncation); a sanitized cell holds
 * no tab or newline, so a row stays one line of fields.
 */
export async function table(ctx: Context, columns: Column[], rows: Cell[][]): Promise<void> {
  if (!ctx.io.isStdoutTTY) {
    for (const cells of rows) row(ctx, cells);
    return;
  }
  await loadWidths();
  const s = await styles(ctx);
  const cells = rows.map((row) => row.map(shownCell));
  const natural = columns.map((c, i) => Math.max(displayWidth(c.header), ...cells.map((row) => displayWidth(row[i] ?? ''))));
  const widths = ctx.globals.wide ? natural : fitWidths(columns, natural, ctx.io.width - GAP * (columns.length - 1));
  const render = (row: string[], paint: (text: string) => string): string =>
    row
      .map((cell, i) => {
        const shown = paint(truncate(cell, widths[i]!));
        return i === row.length - 1 ? shown : pad(shown, widths[i]!);
      })
      .join(' '.repeat(GAP))
      .trimEnd();
  const lines = [render(columns.map((c) => c.header), (h) => s.bold(h).text), ...cells.map((row) => render(row, (c) => c))];
  ctx.io.stdout.write(`${lines.join('\n')}\n`);
}

/**
 * One row on its own line, for streams whose rows come one at a time (`events tail`): piped,
 * the same tab-separated fields as `table`; on a terminal the cells two spaces apart.
 */
export function row(ctx: Context, cells: Cell[]): void {
  if (!ctx.io.isStdoutTTY) {
    ctx.io.stdout.write(`${cells.map((cell) => (cell instanceof Arrow ? `${safe(cell.from)}\t${safe(cell.to)}` : safe(cell))).join('\t')}\n`);
    return;
  }
  ctx.io.stdout.write(`${cells.map(shownCell).join(' '.repeat(GAP))}\n`);
}

const shownCell = (cell: Cell): string => (cell instanceof Arrow ? `${safe(cell.from)} → ${safe(cell.to)}` : safe(cell));

/** Label/value lines for `show` views. */
export function details(ctx: Context, pairs: [string, Text][]): void {
  const width = Math.max(...pairs.map(([label]) => label.length));
  for (const [label, value] of pairs) ctx.io.stdout.write(`${`${label}:`.padEnd(width + 2)}${safe(value)}\n`);
}

/** One line of the human view on stdout (none: an empty line). */
export function line(ctx: Context, text: Text = ''): void {
  ctx.io.stdout.write(`${safe(text)}\n`);
}

/**
 * Lines the CLI drew from numbers (`relay analytics`'s charts): its own words, numbers, times
 * it formatted and, when colours are on, its own colour codes; no server text, so printed as is.
 */
export function chart(ctx: Context, lines: string[]): void {
  ctx.io.stdout.write(lines.map((text) => `${text}\n`).join(''));
}

/** `status --watch` redraws its frame on a terminal. */
export function clearScreen(ctx: Context): void {
  ctx.io.stdout.write('\u001b[2J\u001b[H');
}

/** Text the CLI generated from its own code (a completion script), printed as is: no server data in it. */
export function generated(ctx: Context, text: string): void {
  ctx.io.stdout.write(text);
}

/** `export NAME='value'` lines on stdout, for `eval "$(...)"`: every value single-quoted, so nothing in it is run. */
export function shellExports(ctx: Context, vars: [name: string, value: string][]): void {
  ctx.io.stdout.write(vars.map(([name, value]) => `export ${name}='${value.replaceAll("'", "'\\''")}'\n`).join(''));
}

export async function success(ctx: Context, message: Text): Promise<void> {
  const s = await styles(ctx);
  ctx.io.stderr.write(`${s.green('✓').text} ${safe(message)}\n`);
}

export function note(ctx: Context, message: Text): void {
  ctx.io.stderr.write(`${safe(message)}\n`);
}

/**
 * A time as this output shows it: on a terminal in the readable `form` (see format.ts), piped
 * as relayd sent it (ISO 8601 UTC), so that scripts get one exact form. Unset: `never` for how
 * recent, `-` otherwise.
 */
export function time(ctx: Context, iso: string | null, form: TimeForm): string {
  if (iso === null) return ctx.io.isStdoutTTY && form === 'ago' ? 'never' : '-';
  return ctx.io.isStdoutTTY ? formatTime(iso, form) : iso;
}

/** Durations, one way everywhere: `9ms`, `1.5s`, `2m3s`; `-` when unset. */
export function duration(ms: number | null): string {
  return ms === null ? '-' : formatDuration(ms);
}
