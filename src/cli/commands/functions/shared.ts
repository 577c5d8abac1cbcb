import { readFile } from 'node:fs/promises';
import type { EdgeFunction, FunctionLogLine, FunctionTrigger } from '../../../shared/api.js';
import { formatDuration } from '../../../shared/duration.js';
import { RelayError } from '../../../shared/errors.js';
import { SCHEMA_NAME_RULE, schemaNameProblem } from '../../../shared/ids.js';
import type { Context } from '../../context.js';
import { details, line, row, time, type Styles, type Text } from '../../output.js';
import { readStdin } from '../checks.js';

/** What the verbs of `relay functions` share: checks of their flags, and how a function reads. */

export const TRIGGERS: readonly FunctionTrigger[] = ['before-publish', 'after-publish', 'before-dispatch'];

/** Function names follow the rule of schema names. */
export function checkFunctionName(name: string): string {
  const problem = schemaNameProblem(name);
  if (problem) throw new RelayError('invalid_request', `invalid function name "${name}": ${problem} (${SCHEMA_NAME_RULE})`);
  return name;
}

/** A file's text (`-`: stdin); `what` is how the message names it when it cannot be read (`--file fn.js`). */
export async function readText(ctx: Context, file: string, what: string): Promise<string> {
  if (file === '-') return readStdin(ctx.io.stdin);
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new RelayError('invalid_request', `cannot read ${what}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory' : code ?? String(err)}`);
  }
}

/** Where a function runs, in words: `orders-*, event order.created`; `every channel` when nothing narrows it. */
export function scope(fn: Pick<EdgeFunction, 'trigger' | 'channels' | 'event' | 'agent'>): string {
  const parts: string[] = [];
  if (fn.trigger === 'before-dispatch') parts.push(fn.agent === null ? 'every agent' : `agent ${fn.agent}`);
  else parts.push(fn.channels ?? 'every channel');
  if (fn.event !== null) parts.push(`event ${fn.event}`);
  return parts.join(', ');
}

/** `2`, or `2 (latest 3)` when the one that runs is not the newest (after a rollback). */
export function versionText(fn: EdgeFunction): string {
  return fn.active === fn.latest ? String(fn.active) : `${fn.active} (latest ${fn.latest})`;
}

/** What a throw, a timeout or a wrong return does, in words. */
function onErrorText(fn: EdgeFunction): string {
  const event = fn.trigger === 'before-dispatch' ? 'the event is rejected' : fn.trigger === 'before-publish' ? 'the publish is refused (422)' : 'nothing more is published';
  return fn.onError === 'reject' ? `reject (${event})` : 'pass (the event goes on unchanged)';
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The metadata of one version of a function, as `Label: value` lines. */
export function functionDetails(ctx: Context, s: Styles, fn: EdgeFunction): void {
  const { stats } = fn;
  const versions = fn.version === fn.active ? `${fn.version} of ${fn.versions}, the one that runs` : `${fn.version} of ${fn.versions}; version ${fn.active} runs`;
  const failures = [plural(stats.failures, 'failure'), plural(stats.timeouts, 'timeout'), `${stats.dropped} dropped`];
  if (stats.lastFailureAt !== null) failures.push(`last failure ${time(ctx, stats.lastFailureAt, 'ago')}`);
  details(ctx, [
    ['Function', s.bold(fn.name)],
    ['App', fn.appId],
    ['Version', versions],
    ['Trigger', fn.trigger],
    ['On', scope(fn)],
    ['Order', `${fn.order} on ${fn.trigger}`],
    ['Limits', `${formatMs(fn.timeoutMs)} and ${fn.memoryMb} MB memory a call`],
    ['On error', onErrorText(fn)],
    ['Calls', `${stats.calls} (${failures.join(', ')})`],
    ['Deployed', `${time(ctx, fn.deployedAt, 'date')} by ${fn.deployedBy}`],
    ['Created', time(ctx, fn.createdAt, 'date')],
  ]);
}

/** `50ms`, `1s`: as --timeout takes them. */
export const formatMs = (ms: number): string => (ms % 1000 === 0 ? formatDuration(ms) : `${ms}ms`);

/**
 * Source text, line by line: each line is made safe for the terminal on its own (server data).
 * A tab would show as `^I`, so it reads as two spaces here; `--jq .function.source` is the text exactly.
 */
export function printSource(ctx: Context, source: string): void {
  for (const text of source.replace(/\n$/, '').split(/\r?\n/)) line(ctx, text.replaceAll('\t', '  '));
}

/** The colour of a log level: what failed red, a warning yellow, the rest plain; padded on a terminal so that messages line up. */
function level(ctx: Context, s: Styles, value: FunctionLogLine['level']): Text {
  const shown = ctx.io.isStdoutTTY ? value.padEnd(LEVEL_WIDTH) : value;
  switch (value) {
    case 'failure':
    case 'timeout':
    case 'error':
      return s.red(shown);
    case 'warn':
      return s.yellow(shown);
    case 'log':
    case 'info':
      return shown;
  }
}

/** `failure` and `timeout`, the longest levels. */
const LEVEL_WIDTH = 7;

/** One log line: `TIME  LEVEL  vN  NODE  MESSAGE` (tab-separated when piped). */
export function logRow(ctx: Context, s: Styles, entry: FunctionLogLine): void {
  row(ctx, [time(ctx, entry.at, 'seconds'), level(ctx, s, entry.level), `v${entry.version}`, entry.node, entry.message]);
}
