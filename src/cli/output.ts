import { RelayError } from '../shared/errors.js';
import type { Context } from './context.js';

/**
 * The only place that writes results. `--jq` and `--json` print JSON on stdout; otherwise
 * the command's human view. Messages go to stderr so that stdout stays pipeable.
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

/** jq as gh runs it: strings print raw, everything else as JSON. */
export async function runJq(value: unknown, expression: string): Promise<string> {
  const jq = await (await import('jq-web')).default;
  try {
    const result = jq.raw(JSON.stringify(value), expression, ['-r']);
    return result === '' ? '' : `${result}\n`;
  } catch (err) {
    const message = (err as Error).message.replace(/^Non-zero exit code: \d+\n?/, '').trim();
    throw new RelayError('invalid_request', `--jq: ${message}`);
  }
}

export interface Styles {
  bold(text: string): string;
  dim(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  red(text: string): string;
}

const plain: Styles = { bold: (t) => t, dim: (t) => t, green: (t) => t, yellow: (t) => t, red: (t) => t };

/** Colours only when the context allows them (TTY, NO_COLOR, CLICOLOR, CLICOLOR_FORCE). */
export async function styles(ctx: Context): Promise<Styles> {
  if (!ctx.io.color) return plain;
  const { Chalk } = await import('chalk');
  const chalk = new Chalk({ level: 1 });
  return { bold: chalk.bold, dim: chalk.dim, green: chalk.green, yellow: chalk.yellow, red: chalk.red };
}

/** A table on a TTY; tab-separated lines without one (no colour codes unless forced, no truncation). */
export async function table(ctx: Context, headers: string[], rows: string[][]): Promise<void> {
  if (!ctx.io.isStdoutTTY) {
    for (const row of rows) ctx.io.stdout.write(`${row.join('\t')}\n`);
    return;
  }
  const s = await styles(ctx);
  const { default: Table } = await import('cli-table3');
  const t = new Table({
    head: headers.map((h) => s.bold(h)),
    style: { head: [], border: [], compact: true },
    chars: { top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '', left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ' },
  });
  t.push(...rows);
  ctx.io.stdout.write(`${t.toString()}\n`);
}

/** Label/value lines for `show` views. */
export function details(ctx: Context, pairs: [string, string][]): void {
  const width = Math.max(...pairs.map(([label]) => label.length));
  for (const [label, value] of pairs) ctx.io.stdout.write(`${`${label}:`.padEnd(width + 2)}${value}\n`);
}

export async function success(ctx: Context, message: string): Promise<void> {
  const s = await styles(ctx);
  ctx.io.stderr.write(`${s.green('✓')} ${message}\n`);
}

export function note(ctx: Context, message: string): void {
  ctx.io.stderr.write(`${message}\n`);
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
