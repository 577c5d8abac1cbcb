import type { FunctionTrigger } from '../../../shared/api.js';
import { RelayError } from '../../../shared/errors.js';
import {
  FUNCTION_MEMORY_MB,
  FUNCTION_TIMEOUT_MS,
  MAX_FUNCTION_SOURCE_BYTES,
  channelRulePatternProblem,
  type DeployFunctionBody,
} from '../../../shared/schemas.js';
import type { Context } from '../../context.js';
import { print, styles, success } from '../../output.js';
import { checkId, required } from '../checks.js';
import { TRIGGERS, checkFunctionName, formatMs, functionDetails, readText, scope } from './shared.js';

export interface Options {
  org: string;
  app: string | undefined;
  name: string | undefined;
  file: string | undefined;
  trigger: string | undefined;
  channels: string | undefined;
  event: string | undefined;
  agent: string | undefined;
  timeout: string | undefined;
  memory: string | undefined;
  onError: string | undefined;
  quiet: boolean;
}

/**
 * Deploys a new version of a function (the first makes it), which runs from the next event.
 * Every flag is checked here so that a typo is named before relayd is asked; relayd checks
 * that the source compiles and exports a handler, and says the line and column when not.
 */
export async function run(opts: Options, ctx: Context): Promise<void> {
  const app = checkId(await required(ctx, opts.app, '--app', 'App ID'), 'app id');
  const name = checkFunctionName(await required(ctx, opts.name, '--name', 'Function name'));
  const trigger = checkTrigger(await required(ctx, opts.trigger, '--trigger', `Trigger (${TRIGGERS.join(', ')})`));
  const body: DeployFunctionBody = { name, trigger, source: await readSource(ctx, await required(ctx, opts.file, '--file', 'File with the function (an ES module)')) };
  if (opts.channels !== undefined) {
    if (trigger === 'before-dispatch') throw new RelayError('invalid_request', '--channels is for before-publish and after-publish functions; a before-dispatch function takes --agent');
    const problem = channelRulePatternProblem(opts.channels);
    if (problem) throw new RelayError('invalid_request', `invalid --channels "${opts.channels}": it ${problem}; use a channel name or a prefix ending in * ('orders-*')`);
    body.channels = opts.channels;
  }
  if (opts.agent !== undefined) {
    if (trigger !== 'before-dispatch') throw new RelayError('invalid_request', `--agent is for before-dispatch functions; a ${trigger} function takes --channels`);
    body.agent = checkId(opts.agent, 'agent id');
  }
  if (opts.event !== undefined) {
    if (opts.event.trim() === '') throw new RelayError('invalid_request', '--event must not be empty: leave it out to run on every event');
    body.event = opts.event;
  }
  if (opts.timeout !== undefined) body.timeoutMs = parseTimeout(opts.timeout);
  if (opts.memory !== undefined) body.memoryMb = parseMemory(opts.memory);
  if (opts.onError !== undefined) body.onError = checkOnError(opts.onError);

  const result = await (await ctx.client()).deployFunction(opts.org, app, body);
  const fn = result.function;
  await print(
    ctx,
    {
      json: result,
      quiet: String(fn.version),
      human: async () => {
        await success(ctx, `Deployed ${fn.name} version ${fn.version} (${fn.trigger} on ${scope(fn)})`);
        functionDetails(ctx, await styles(ctx), fn);
      },
    },
    { quiet: opts.quiet },
  );
}

function checkTrigger(value: string): FunctionTrigger {
  const trigger = TRIGGERS.find((t) => t === value);
  if (trigger === undefined) throw new RelayError('invalid_request', `invalid --trigger "${value}": use ${TRIGGERS.slice(0, -1).join(', ')} or ${TRIGGERS.at(-1)}`);
  return trigger;
}

function checkOnError(value: string): 'reject' | 'pass' {
  if (value !== 'reject' && value !== 'pass') {
    throw new RelayError('invalid_request', `invalid --on-error "${value}": use reject (a failed call refuses the event) or pass (it goes on unchanged)`);
  }
  return value;
}

async function readSource(ctx: Context, file: string): Promise<string> {
  const source = await readText(ctx, file, `--file ${file}`);
  const shown = file === '-' ? '- (stdin)' : file;
  if (source.trim() === '') throw new RelayError('invalid_request', `--file ${shown} is empty: a function is an ES module with \`export default function (event, ctx) { ... }\``);
  const bytes = Buffer.byteLength(source);
  if (bytes > MAX_FUNCTION_SOURCE_BYTES) {
    throw new RelayError('invalid_request', `--file ${shown} is ${Math.ceil(bytes / 1024)} KB; a function may be at most ${MAX_FUNCTION_SOURCE_BYTES / 1024} KB`);
  }
  return source;
}

/** `--timeout`: how long a call may run, `50ms` or `1s` (milliseconds, as most of these limits are well under a second). */
export function parseTimeout(text: string): number {
  const match = /^(\d{1,7})(ms|s)$/.exec(text.trim());
  if (!match) throw new RelayError('invalid_request', `invalid --timeout "${text}": use milliseconds or seconds (50ms, 200ms, 1s)`);
  const ms = Number(match[1]) * (match[2] === 's' ? 1000 : 1);
  const { min, max } = FUNCTION_TIMEOUT_MS;
  if (ms < min || ms > max) throw new RelayError('invalid_request', `--timeout must be from ${formatMs(min)} to ${formatMs(max)} (got ${text.trim()})`);
  return ms;
}

/** `--memory`: memory a call may use, `32MB` or `32` (MB). */
export function parseMemory(text: string): number {
  const match = /^(\d{1,6})\s*(mb|m)?$/i.exec(text.trim());
  if (!match) throw new RelayError('invalid_request', `invalid --memory "${text}": use megabytes (32MB, or 32)`);
  const mb = Number(match[1]);
  const { min, max } = FUNCTION_MEMORY_MB;
  if (mb < min || mb > max) throw new RelayError('invalid_request', `--memory must be from ${min} MB to ${max} MB (got ${text.trim()})`);
  return mb;
}
