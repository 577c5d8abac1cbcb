import { RelayError } from '../shared/errors.js';
import type { Context } from './context.js';
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
}

const unstyled = (text: Text): Styled => new Styled(safe(text));
const plain: Styles = { bold: unstyled, dim: unstyled, green: unstyled, yellow: unstyled, red: unstyled };

/** Colours only when the context allows them (TTY, NO_COLOR, CLICOLOR, CLICOLOR_FORCE). */
export async function styles(ctx: Context): Promise<Styles> {
  if (!ctx.io.color) return plain;
  const { Chalk } = await import('chalk');
  const chalk = new Chalk({ level: 1 });
  const style =
    (paint: (text: string) => string) =>
    (text: Text): Styled =>
      new Styled(paint(safe(text)));
  return { bold: style(chalk.bold), dim: style(chalk.dim), green: style(chalk.green), yellow: style(chalk.yellow), red: style(chalk.red) };
}

/**
 * A table on a TTY; tab-separated lines without one (no colour codes unless forced, no
 * truncation). A sanitized cell holds no tab or newline, so a row stays one line of fields.
 */
export async function table(ctx: Context, headers: string[], rows: Text[][]): Promise<void> {
  const cells = rows.map((row) => row.map(safe));
  if (!ctx.io.isStdoutTTY) {
    for (const row of rows) tableRow(ctx, row);
    return;
  }
  const s = await styles(ctx);
  const { default: Table } = await import('cli-table3');
  const t = new Table({
    head: headers.map((h) => s.bold(h).text),
    style: { head: [], border: [], compact: true },
    chars: { top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ' },
  });
  t.push(...cells);
  ctx.io.stdout.write(`${t.toString()}\n`);
}

/**
 * One row of a table whose rows come one at a time (`events tail`): without a TTY, the line
 * `table` prints for it; on a TTY, its cells two spaces apart (rows not yet seen cannot be
 * aligned with).
 */
export function tableRow(ctx: Context, cells: Text[]): void {
  ctx.io.stdout.write(`${cells.map(safe).join(ctx.io.isStdoutTTY ? '  ' : '\t')}\n`);
}

/** Label/value lines for `show` views. */
export function details(ctx: Context, pairs: [string, Text][]): void {
  const width = Math.max(...pairs.map(([label]) => label.length));
  for (const [label, value] of pairs) ctx.io.stdout.write(`${`${label}:`.padEnd(width + 2)}${safe(value)}\n`);
}

/** One line of the human view on stdout (none: an empty line). */
export function line(ctx: Context, text: Text = ''): void {
  ctx.io.stdout.write(`${safe(text)}\n`);
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

/** ISO time for JSON; a short readable form for people ("2026-11-22 23:18 UTC", "-" when unset). */
export function when(iso: string | null): string {
  if (iso === null) return '-';
  return `${iso.slice(0, 16).replace('T', ' ')} UTC`;
}

export function ago(iso: string | null, now = Date.now()): string {
  if (iso === null) return 'never';
  const seconds = Math.round((now - Date.parse(iso)) / 1000);
  if (seconds < 0) return `in ${span(-seconds)}`;
  return `${span(seconds)} ago`;
}

function span(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}
