import type { FunctionTestResult } from '../../../shared/api.js';
import { RelayError } from '../../../shared/errors.js';
import type { Context } from '../../context.js';
import { details, duration, fmt, line, print, styles, type Styles, type Text } from '../../output.js';
import { checkId, required } from '../checks.js';
import { checkVersion } from '../checks.js';
import { checkFunctionName, readText } from './shared.js';

export interface Options {
  org: string;
  app: string | undefined;
  name: string;
  event: string | undefined;
  version: string | undefined;
}

/**
 * Runs a function once on an event given here, as its trigger would give it, and prints what
 * came of it; nothing is published or dispatched. Exit 0 when the call succeeded (the event
 * passed, changed or dropped), 1 when it failed, with the error on stderr.
 */
export async function run(opts: Options, ctx: Context): Promise<void> {
  const app = checkId(await required(ctx, opts.app, '--app', 'App ID'), 'app id');
  const name = checkFunctionName(opts.name);
  const event = await readEvent(ctx, await required(ctx, opts.event, '--event', 'Event (JSON)'));
  const version = opts.version === undefined ? undefined : checkVersion(opts.version, '--version');
  const result = await (await ctx.client()).testFunction(opts.org, app, name, version === undefined ? { event } : { event, version });
  await print(ctx, { json: result, human: async () => testReport(ctx, await styles(ctx), result) });
  if (result.outcome === 'failed') {
    const error = result.error;
    const what = error === null ? 'failed' : error.kind === 'timeout' ? 'timed out' : error.kind === 'memory' ? 'ran out of memory' : error.kind === 'invalid-return' ? 'returned something wrong' : 'threw';
    throw new RelayError('function_failed', `${name} version ${result.function.version} ${what}${error === null ? '' : `: ${error.message}`}`, {
      hint: `a real call would ${result.function.onError === 'pass' ? 'let the event go on unchanged (--on-error pass)' : 'refuse the event (--on-error reject)'}`,
    });
  }
}

/**
 * `--event '{...}'`, or `--event @file.json` (`@-`: stdin): a JSON object, as the trigger gives
 * it (`{"channel","event","data"}` on channels, `{"agent","thread","event","payload"}` before dispatch).
 */
async function readEvent(ctx: Context, value: string): Promise<Record<string, unknown>> {
  const file = value.startsWith('@') ? value.slice(1) : null;
  const text = file === null ? value : await readText(ctx, file, `--event @${file}`);
  const shown = file === null ? '--event' : `--event @${file === '-' ? '- (stdin)' : file}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch (err) {
    throw new RelayError('invalid_request', `${shown} is not JSON: ${(err as Error).message}`, {
      hint: `give the event as a JSON object, e.g. --event '{"channel":"orders-eu","event":"order.created","data":{"id":1}}', or --event @event.json`,
    });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new RelayError('invalid_request', `${shown} must be a JSON object (the event), not ${Array.isArray(parsed) ? 'an array' : parsed === null ? 'null' : `a ${typeof parsed}`}`);
  return parsed as Record<string, unknown>;
}

const OUTCOMES: Record<FunctionTestResult['outcome'], string> = {
  passed: 'passed: the event goes on unchanged',
  changed: 'changed: the event goes on as below',
  dropped: 'dropped: the event would not go on',
  failed: 'failed',
};

/** What came of the call: the outcome, the event as it would go on, what it would publish, what it printed. */
function testReport(ctx: Context, s: Styles, result: FunctionTestResult): void {
  const colour = result.outcome === 'failed' ? s.red : result.outcome === 'dropped' ? s.yellow : s.green;
  const pairs: [string, Text][] = [
    ['Function', `${result.function.name} version ${result.function.version} (${result.function.trigger})`],
    ['Outcome', colour(OUTCOMES[result.outcome])],
    ['Duration', duration(result.durationMs)],
  ];
  if (result.error !== null) pairs.push(['Error', fmt`${s.red(result.error.kind)}: ${result.error.message}`]);
  details(ctx, pairs);
  if (result.outcome === 'passed' || result.outcome === 'changed') {
    line(ctx);
    line(ctx, s.bold('Result:'));
    // Line by line: each is made safe for the terminal on its own (JSON escapes control characters in strings already).
    for (const text of JSON.stringify(result.result ?? null, null, 2).split('\n')) line(ctx, text);
  }
  if (result.publishes.length > 0) {
    line(ctx);
    line(ctx, s.bold(`Publishes (${result.publishes.length}, not sent):`));
    for (const p of result.publishes) line(ctx, fmt`  ${p.channel}  ${p.event}  ${JSON.stringify(p.data)}`);
  }
  if (result.logs.length > 0) {
    line(ctx);
    line(ctx, s.bold('Logs:'));
    for (const entry of result.logs) line(ctx, fmt`  ${entry.level === 'error' ? s.red(entry.level.padEnd(5)) : entry.level === 'warn' ? s.yellow(entry.level.padEnd(5)) : entry.level.padEnd(5)}  ${entry.message}`);
  }
}
