import { RelayError } from '../../shared/errors.js';
import { SLUG_RULE, looksLikeSecret, slugProblem } from '../../shared/ids.js';
import type { Context } from '../context.js';

/** Checks the verbs make before calling relayd: ids, required values, confirmations. */

/** An app, agent or organization id given on the command line; exit 2 naming the rule. */
export function checkId(value: string, what: string): string {
  if (looksLikeSecret(value)) {
    throw new RelayError('invalid_request', `that looks like a secret, not ${what}`, {
      hint: 'pass the id; secrets on the command line end up in your shell history',
    });
  }
  const problem = slugProblem(value);
  if (problem) throw new RelayError('invalid_request', `invalid ${what} "${value}": ${problem} (${SLUG_RULE})`);
  return value;
}

/** Values a script must pass when no one is there to be asked. */
export async function required(ctx: Context, value: string | undefined, flag: string, question: string, validate?: (v: string) => string | true): Promise<string> {
  if (value !== undefined) return value;
  if (!ctx.io.canPrompt) throw new RelayError('invalid_request', `missing ${flag}: required when not running interactively`);
  return (await ctx.prompter()).input(question, validate);
}

/** All of stdin, trimmed: a secret piped in (`printf %s "$SECRET" | relay ...`, or with echo's newline). */
export async function readStdin(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8').trim();
}

/** Commands that destroy or cut off ask first on a TTY, and need --yes without one. */
export async function confirm(ctx: Context, yes: boolean | undefined, question: string, verb: string): Promise<boolean> {
  if (yes) return true;
  if (!ctx.io.canPrompt) throw new RelayError('invalid_request', `pass --yes to ${verb} without a prompt`);
  return (await ctx.prompter()).confirm(question);
}

/** `--limit N` of the list commands: a whole number from 1 to 1000. */
export function checkLimit(value: string): number {
  const limit = Number(value);
  if (!/^\d+$/.test(value) || limit < 1 || limit > 1000) throw new RelayError('invalid_request', `invalid --limit "${value}": use a whole number from 1 to 1000`);
  return limit;
}

/** `--version N`, `--to N`: a version of a schema or a function, a whole number from 1. */
export function checkVersion(value: string, flag: string): number {
  const version = Number(value);
  if (!/^\d+$/.test(value) || version < 1) throw new RelayError('invalid_request', `invalid ${flag} "${value}": versions are whole numbers from 1`);
  return version;
}
