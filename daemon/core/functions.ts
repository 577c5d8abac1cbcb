import type { EdgeFunction, FunctionLogLine, FunctionLogs, FunctionTestResult } from '../../src/shared/api.js';
import { RelayError } from '../../src/shared/errors.js';
import { MAX_EVENT_NAME } from '../../src/shared/protocol/pusher.js';
import type { EventError } from '../../src/shared/protocol/relay.js';
import { FUNCTION_MEMORY_MB, FUNCTION_TIMEOUT_MS, type DeployFunctionBody } from '../../src/shared/schemas.js';
import type { FunctionLogRecord, FunctionRecord, FunctionStatsDelta, FunctionVersionRecord, Store } from '../store/store.js';
import { auditRecord, type Actor } from './audit.js';
import type { Clock } from './clock.js';
import { CACHE_TTL_MS } from './control.js';
import type { Sandbox } from './function-host.js';
import type { CallOutcome, SandboxLimits, SandboxPublish } from './function-sandbox.js';

/** How many of a function's log lines the store keeps (the newest). */
export const KEPT_LOG_LINES = 1000;
/** How many lines one node writes per function per flush; the rest are counted in one line. */
const LINES_PER_FLUSH = 200;
/** How often a node writes its functions' log lines and counts. */
const FLUSH_EVERY_MS = 1000;
/** How often `logs --follow` reads the store for new lines. */
const FOLLOW_EVERY_MS = 500;
/** An after-publish function may publish this many events per call. */
export const MAX_PUBLISHES_PER_CALL = 10;
/** relayd's own log says a function fails at most this often (with the count since). */
const FAILURE_LOG_EVERY_MS = 60_000;
/** After this many timeouts in a row a function version is not run for SUSPEND_MS: its calls fail at once. */
const TIMEOUTS_BEFORE_SUSPEND = 3;
const SUSPEND_MS = 10_000;

export interface FunctionsDeps {
  store: Store;
  clock: Clock;
  nodeId: string;
  /** The sandbox, started on first use (its thread and WebAssembly take a moment, and most daemons never need it). */
  sandbox(): Promise<Sandbox>;
  /** Tells every node (this one included) to drop its copy of the app's functions (a control message, awaited). */
  functionsChanged(org: string, appId: string): Promise<void>;
  /** relayd's log: a failing function is reported once per burst. */
  warn(fields: Record<string, unknown>, message: string): void;
  onError(err: unknown, what: string): void;
}

/** What a channel trigger gets: the event as published. `data` is the publisher's (a string from the APIs, any JSON from a client event). */
export interface ChannelEventInput {
  channels: string[];
  event: string;
  data: unknown;
  socketId: string | null;
  /** A client event's data is JSON as it came; the APIs' is a string that may hold JSON. */
  client: boolean;
}

/** A channel event after the before-publish functions: what to publish, or which function dropped it. */
export type BeforePublishResult = { event: string; data: unknown } | { dropped: { function: string; version: number } };

/** An agent event as before-dispatch functions get it. */
export interface AgentEventInput {
  agent: string;
  thread: string;
  name: string | null;
  payload: unknown;
}

export type BeforeDispatchResult = { payload: unknown } | { rejection: EventError };

interface Cached {
  functions: Promise<FunctionRecord[]>;
  until: number;
}

/** One call's result as a trigger reads it: the event that goes on, null to drop, or why it failed. */
type Step<T> = { ok: true; value: T | null; publishes: SandboxPublish[] } | { ok: false; kind: NonNullable<FunctionTestResult['error']>['kind']; message: string };

/** A node's counts and lines of one function, waiting for the next flush. */
interface Pending {
  stats: FunctionStatsDelta;
  lines: Omit<FunctionLogRecord, 'seq'>[];
  droppedLines: number;
  version: number;
}

const key = (org: string, appId: string): string => `${org}/${appId}`;
const fnKey = (org: string, appId: string, name: string): string => `${org}/${appId}/${name}`;
const sandboxKey = (v: FunctionVersionRecord): string => `${v.org}/${v.appId}/${v.name}@${v.version}`;
const limitsOf = (v: Pick<FunctionVersionRecord, 'timeoutMs' | 'memoryBytes'>): SandboxLimits => ({ timeoutMs: v.timeoutMs, memoryBytes: v.memoryBytes });
const MB = 1024 * 1024;

/** Whether a channel trigger's `channels` pattern (exact, or a prefix ending in `*`; null: all) covers one of the channels. */
function coversChannel(pattern: string | null, channels: string[]): boolean {
  if (pattern === null) return true;
  if (pattern.endsWith('*')) {
    const prefix = pattern.slice(0, -1);
    return channels.some((c) => c.startsWith(prefix));
  }
  return channels.includes(pattern);
}

/** Channel data as a function sees it: the JSON a string holds, else the string (a client event's data is JSON already). */
function decoded(input: ChannelEventInput): { value: unknown; json: boolean } {
  if (input.client || typeof input.data !== 'string') return { value: input.data, json: true };
  try {
    return { value: JSON.parse(input.data) as unknown, json: true };
  } catch {
    return { value: input.data, json: false };
  }
}

/**
 * An app's edge functions: deploys (each a new version), rollbacks, logs, counts, and the
 * three triggers that run them in the sandbox. Each node keeps an app's functions for
 * CACHE_TTL_MS, dropped on every node by `functionsChanged`; it counts calls and collects
 * what functions print in memory and writes them every FLUSH_EVERY_MS, so that a call never
 * waits on the store. Functions on one trigger run oldest first (by first deploy, then name),
 * each on what the one before returned.
 */
export class FunctionService {
  readonly #deps: FunctionsDeps;
  readonly #cache = new Map<string, Cached>();
  readonly #pending = new Map<string, Pending>();
  /** Failures not yet reported in relayd's log, per function: when it last said so and how many since. */
  readonly #reported = new Map<string, { at: number; since: number }>();
  /** Timeouts in a row per function version, and until when it is suspended. */
  readonly #timeouts = new Map<string, { inRow: number; until: number }>();
  #sandbox: Sandbox | null = null;
  #starting: Promise<Sandbox> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> = Promise.resolve();
  #generation = 0;

  constructor(deps: FunctionsDeps) {
    this.#deps = deps;
  }

  start(): void {
    this.#timer = setInterval(() => void this.flush(), FLUSH_EVERY_MS);
    this.#timer.unref();
  }

  /** Writes what is pending and stops the timer (shutdown). */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.flush();
    const sandbox = this.#sandbox;
    this.#sandbox = null;
    await sandbox?.close();
  }

  // ---- management

  async deploy(actor: Actor, org: string, appId: string, body: DeployFunctionBody): Promise<EdgeFunction> {
    await this.#requireApp(org, appId);
    const limits: SandboxLimits = { timeoutMs: body.timeoutMs ?? FUNCTION_TIMEOUT_MS.default, memoryBytes: (body.memoryMb ?? FUNCTION_MEMORY_MB.default) * MB };
    const problem = await (await this.#sandboxLoaded()).check(body.source, limits);
    if (problem) {
      const where = problem.line === null ? '' : ` at line ${problem.line}${problem.column === null ? '' : `, column ${problem.column}`}`;
      throw new RelayError('invalid_request', `function "${body.name}" was not deployed: ${problem.message}${where}`, {
        details: { line: problem.line, column: problem.column },
        hint: 'a function is an ES module: `export default function (event, ctx) { return event; }`',
      });
    }
    const record = await this.#deps.store.insertFunctionVersion(
      {
        org,
        appId,
        name: body.name,
        source: body.source,
        trigger: body.trigger,
        channels: body.channels ?? null,
        event: body.event ?? null,
        agent: body.agent ?? null,
        timeoutMs: limits.timeoutMs,
        memoryBytes: limits.memoryBytes,
        onError: body.onError ?? 'reject',
        createdAt: this.#deps.clock.now(),
        createdBy: actor,
      },
      auditRecord(this.#deps.clock, actor, 'function.deploy', { org, type: 'function', id: `${appId}/${body.name}` }, { trigger: body.trigger }),
    );
    await this.#changed(org, appId);
    return this.#toFunction(record, record.active, await this.#orderOf(org, appId, record), true);
  }

  async list(org: string, appId: string): Promise<EdgeFunction[]> {
    await this.#requireApp(org, appId);
    const records = await this.#deps.store.listFunctions(org, appId);
    return records.map((r) => this.#toFunction(r, r.active, orderIn(records, r), false));
  }

  /** The active version, or `version`. */
  async show(org: string, appId: string, name: string, version?: number): Promise<EdgeFunction> {
    await this.#requireApp(org, appId);
    const record = await this.#require(org, appId, name);
    const shown = version === undefined ? record.active : await this.#version(record, version);
    return this.#toFunction(record, shown, await this.#orderOf(org, appId, record), true);
  }

  async rollback(actor: Actor, org: string, appId: string, name: string, version: number): Promise<EdgeFunction> {
    await this.#requireApp(org, appId);
    const before = await this.#require(org, appId, name);
    const record = await this.#deps.store.setActiveFunctionVersion(
      org,
      appId,
      name,
      version,
      auditRecord(this.#deps.clock, actor, 'function.rollback', { org, type: 'function', id: `${appId}/${name}` }, { from: before.active.version, to: version }),
    );
    if (!record) throw notFound(org, appId, name);
    await this.#changed(org, appId);
    return this.#toFunction(record, record.active, await this.#orderOf(org, appId, record), true);
  }

  async remove(actor: Actor, org: string, appId: string, name: string): Promise<EdgeFunction> {
    await this.#requireApp(org, appId);
    const record = await this.#deps.store.deleteFunction(org, appId, name, auditRecord(this.#deps.clock, actor, 'function.remove', { org, type: 'function', id: `${appId}/${name}` }));
    if (!record) throw notFound(org, appId, name);
    this.#pending.delete(fnKey(org, appId, name));
    await this.#changed(org, appId);
    return this.#toFunction(record, record.active, 0, false);
  }

  /** The newest `limit` lines, or the first `limit` after `after`; oldest first. */
  async logs(org: string, appId: string, name: string, query: { after: number | null; limit: number }): Promise<FunctionLogs> {
    await this.#requireApp(org, appId);
    await this.#require(org, appId, name);
    const records = await this.#deps.store.listFunctionLogs(org, appId, name, query);
    const last = records[records.length - 1];
    return { logs: records.map(toLogLine), after: last ? last.seq : query.after };
  }

  /**
   * Follows a function's log for `relay functions logs --follow`: the lines after `after`
   * (null: from now on), as every node writes them to the store, read every FOLLOW_EVERY_MS.
   */
  async follow(org: string, appId: string, name: string, after: number | null): Promise<{ after: number; start(send: (line: FunctionLogLine) => void, fail: (err: unknown) => void): () => void }> {
    await this.#requireApp(org, appId);
    await this.#require(org, appId, name);
    const newest = after ?? (await this.#deps.store.listFunctionLogs(org, appId, name, { after: null, limit: 1 }))[0]?.seq ?? 0;
    return {
      after: newest,
      start: (send, fail) => {
        let cursor = newest;
        let stopped = false;
        let timer: NodeJS.Timeout | null = null;
        const poll = async (): Promise<void> => {
          try {
            for (;;) {
              const page = await this.#deps.store.listFunctionLogs(org, appId, name, { after: cursor, limit: 500 });
              if (stopped) return;
              for (const record of page) send(toLogLine(record));
              if (page.length > 0) cursor = (page[page.length - 1] as FunctionLogRecord).seq;
              if (page.length < 500) break;
            }
            timer = setTimeout(() => void poll(), FOLLOW_EVERY_MS);
          } catch (err) {
            if (!stopped) fail(err);
          }
        };
        void poll();
        return () => {
          stopped = true;
          if (timer) clearTimeout(timer);
        };
      },
    };
  }

  /** Runs a version once on `event`, as its trigger would, publishing and dispatching nothing; counted nowhere. */
  async test(org: string, appId: string, name: string, event: Record<string, unknown>, version?: number): Promise<FunctionTestResult> {
    await this.#requireApp(org, appId);
    const record = await this.#require(org, appId, name);
    const v = version === undefined ? record.active : await this.#version(record, version);
    const sandbox = await this.#sandboxLoaded();
    let input: Record<string, unknown>;
    let channelInput: ChannelEventInput | null = null;
    let json = true;
    if (v.trigger === 'before-dispatch') {
      input = { app: appId, agent: String(event['agent'] ?? ''), thread: String(event['thread'] ?? ''), event: event['event'] ?? event['name'] ?? null, payload: event['payload'] ?? null };
    } else {
      const channel = typeof event['channel'] === 'string' ? event['channel'] : '';
      channelInput = { channels: [channel], event: typeof event['event'] === 'string' ? event['event'] : '', data: event['data'] ?? null, socketId: typeof event['socketId'] === 'string' ? event['socketId'] : null, client: false };
      const data = typeof channelInput.data === 'string' ? decoded(channelInput) : { value: channelInput.data, json: true };
      json = data.json;
      input = { app: appId, channel, channels: [channel], event: channelInput.event, data: data.value, socketId: channelInput.socketId };
    }
    const outcome = await sandbox.call(sandboxKey(v), v.source, limitsOf(v), input, { app: appId, trigger: v.trigger, maxPublishes: v.trigger === 'after-publish' ? MAX_PUBLISHES_PER_CALL : 0 });
    const step = v.trigger === 'before-dispatch' ? this.#dispatchStep(outcome) : v.trigger === 'before-publish' ? this.#publishStep(outcome, input as { channel: string; event: string }, json, false) : afterStep(outcome);
    const base = { function: { name, version: v.version, trigger: v.trigger, onError: v.onError }, logs: outcome.logs, durationMs: Math.round(outcome.durationMs * 1000) / 1000 };
    if (!step.ok) return { ...base, outcome: 'failed', result: null, publishes: outcome.publishes, error: { kind: step.kind, message: step.message } };
    if (v.trigger === 'after-publish') return { ...base, outcome: 'passed', result: null, publishes: step.publishes, error: null };
    if (step.value === null) return { ...base, outcome: 'dropped', result: null, publishes: [], error: null };
    const before = v.trigger === 'before-dispatch' ? { payload: input['payload'] } : { event: input['event'], data: input['data'] };
    // As the function returned it (a publish carries it as a string of JSON).
    const returned = outcome.ok ? (outcome.value as Record<string, unknown>) : {};
    const after = v.trigger === 'before-dispatch' ? { payload: returned['payload'] } : { event: (step.value as { event: string }).event, data: returned['data'] };
    const result = v.trigger === 'before-dispatch' ? { ...input, ...after } : { channel: input['channel'], ...after };
    return { ...base, outcome: JSON.stringify(before) === JSON.stringify(after) ? 'passed' : 'changed', result, publishes: [], error: null };
  }

  // ---- triggers

  /** Whether the app has functions on any channel trigger (a publish without any skips the rest at the cost of one lookup). */
  async onChannels(org: string, appId: string): Promise<boolean> {
    const all = await this.#functions(org, appId);
    return all.length > 0 && all.some((f) => f.active.trigger !== 'before-dispatch');
  }

  /**
   * Runs the app's before-publish functions that cover the event, in order, each on what the
   * one before returned. Throws function_failed (422) when one fails and rejects on error.
   */
  async beforePublish(org: string, appId: string, input: ChannelEventInput): Promise<BeforePublishResult> {
    const all = await this.#functions(org, appId);
    let event = input.event;
    let data = input.data;
    for (const f of all) {
      const v = f.active;
      if (v.trigger !== 'before-publish' || !coversChannel(v.channels, input.channels) || (v.event !== null && v.event !== event)) continue;
      const current: ChannelEventInput = { ...input, event, data };
      const { value, json } = decoded(current);
      const fnInput = { app: appId, channel: input.channels[0], channels: input.channels, event, data: value, socketId: input.socketId };
      const step = this.#publishStep(await this.#run(v, fnInput, 0), fnInput as { channel: string; event: string }, json, input.client);
      if (!step.ok) {
        this.#failed(v, step.kind, step.message);
        if (v.onError === 'pass') continue;
        throw functionFailed(v, step.kind, step.message);
      }
      if (step.value === null) {
        this.#count(v, 'dropped');
        return { dropped: { function: v.name, version: v.version } };
      }
      event = step.value.event;
      data = step.value.data;
    }
    return { event, data };
  }

  /**
   * Runs the app's after-publish functions that cover the published event, and hands what
   * each asked to publish to `publish` (in order; the caller publishes it without
   * after-publish functions, so that none loops back into itself). A failure, of a call or
   * of a publish it asked for, is counted and written to the function's log only: the event
   * is out already.
   */
  async afterPublish(org: string, appId: string, input: ChannelEventInput, publish: (p: SandboxPublish) => Promise<void>): Promise<void> {
    const all = await this.#functions(org, appId);
    for (const f of all) {
      const v = f.active;
      if (v.trigger !== 'after-publish' || !coversChannel(v.channels, input.channels) || (v.event !== null && v.event !== input.event)) continue;
      const { value } = decoded(input);
      const step = afterStep(await this.#run(v, { app: appId, channel: input.channels[0], channels: input.channels, event: input.event, data: value, socketId: input.socketId }, MAX_PUBLISHES_PER_CALL));
      if (!step.ok) {
        this.#failed(v, step.kind, step.message);
        continue;
      }
      for (const p of step.publishes) {
        try {
          await publish(p);
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          this.#failed(v, 'error', `ctx.publish to ${p.channel.slice(0, 200)} failed: ${message}`);
        }
      }
    }
  }

  /** Runs the app's before-dispatch functions that cover the agent event: the payload that goes on, or why the event is rejected. */
  async beforeDispatch(org: string, appId: string, input: AgentEventInput): Promise<BeforeDispatchResult> {
    const all = await this.#functions(org, appId);
    let payload = input.payload;
    for (const f of all) {
      const v = f.active;
      if (v.trigger !== 'before-dispatch' || (v.agent !== null && v.agent !== input.agent) || (v.event !== null && v.event !== input.name)) continue;
      const step = this.#dispatchStep(await this.#run(v, { app: appId, agent: input.agent, thread: input.thread, event: input.name, payload }, 0));
      if (!step.ok) {
        this.#failed(v, step.kind, step.message);
        if (v.onError === 'pass') continue;
        return { rejection: { code: 'function_failed', message: failedMessage(v, step.kind, step.message), function: v.name, version: v.version } };
      }
      if (step.value === null) {
        this.#count(v, 'dropped');
        return { rejection: { code: 'function_rejected', message: `function "${v.name}" (version ${v.version}) rejected the event`, function: v.name, version: v.version } };
      }
      payload = step.value.payload;
    }
    return { payload };
  }

  // ---- caches and counts

  /** Drops this node's copy of an app's functions (a control message; also after an app is deleted). */
  invalidate(org: string, appId: string): void {
    this.#generation++;
    this.#cache.delete(key(org, appId));
    this.#sandbox?.drop(`${org}/${appId}/`);
  }

  dropAll(): void {
    this.#generation++;
    this.#cache.clear();
  }

  /** Writes this node's counts and log lines, each function's lines bounded per flush. */
  flush(): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.#pending.size === 0) return;
      const pending = [...this.#pending.values()];
      this.#pending.clear();
      const lines: Omit<FunctionLogRecord, 'seq'>[] = [];
      for (const p of pending) {
        lines.push(...p.lines);
        if (p.droppedLines > 0) {
          const { org, appId, name } = p.stats;
          lines.push({ org, appId, name, version: p.version, at: this.#deps.clock.now(), node: this.#deps.nodeId, level: 'warn', message: `[relayd] ${p.droppedLines} more line${p.droppedLines === 1 ? '' : 's'} of this function were dropped (at most ${LINES_PER_FLUSH} a second per node)` });
        }
      }
      const stats = pending.map((p) => p.stats).filter((s) => s.calls + s.failures + s.timeouts + s.dropped > 0);
      try {
        if (stats.length > 0) await this.#deps.store.addFunctionStats(stats);
        if (lines.length > 0) await this.#deps.store.insertFunctionLogs(lines, KEPT_LOG_LINES);
      } catch (err) {
        this.#deps.onError(err, 'could not write the counts and logs of edge functions');
      }
    };
    this.#flushing = this.#flushing.then(run);
    return this.#flushing;
  }

  // ---- inside

  async #sandboxLoaded(): Promise<Sandbox> {
    if (this.#sandbox) return this.#sandbox;
    this.#starting ??= this.#deps.sandbox().catch((err: unknown) => {
      this.#starting = null;
      throw err;
    });
    this.#sandbox = await this.#starting;
    return this.#sandbox;
  }

  /** The app's functions (oldest first), cached; the sandbox is loaded before the first one is handed out. */
  #functions(org: string, appId: string): Promise<FunctionRecord[]> {
    const k = key(org, appId);
    const now = this.#deps.clock.now();
    const cached = this.#cache.get(k);
    if (cached && cached.until > now) return cached.functions;
    const generation = this.#generation;
    const functions = (async () => {
      const records = await this.#deps.store.listFunctions(org, appId);
      if (records.length > 0) await this.#sandboxLoaded();
      return records;
    })();
    this.#cache.set(k, { functions, until: now + CACHE_TTL_MS });
    // A read that failed, or straddled a change, is not kept.
    functions.then(
      () => {
        if (generation !== this.#generation && this.#cache.get(k)?.functions === functions) this.#cache.delete(k);
      },
      () => {
        if (this.#cache.get(k)?.functions === functions) this.#cache.delete(k);
      },
    );
    return functions;
  }

  /** One call, counted, its lines kept; a version that timed out TIMEOUTS_BEFORE_SUSPEND times in a row is not run for a while. */
  async #run(v: FunctionVersionRecord, input: unknown, maxPublishes: number): Promise<CallOutcome> {
    const sk = sandboxKey(v);
    const now = this.#deps.clock.now();
    const suspended = this.#timeouts.get(sk);
    if (suspended && suspended.until > now) {
      return { ok: false, kind: 'timeout', message: `suspended until ${new Date(suspended.until).toISOString()} after ${TIMEOUTS_BEFORE_SUSPEND} timeouts in a row`, logs: [], publishes: [], durationMs: 0 };
    }
    const sandbox = this.#sandbox;
    if (!sandbox) return { ok: false, kind: 'error', message: 'relayd is shutting down', logs: [], publishes: [], durationMs: 0 };
    const outcome = await sandbox.call(sk, v.source, limitsOf(v), input, { app: v.appId, trigger: v.trigger, maxPublishes });
    this.#count(v, 'calls');
    if (outcome.logs.length > 0) this.#lines(v, outcome.logs);
    if (!outcome.ok && outcome.kind === 'timeout') {
      const inRow = (suspended?.inRow ?? 0) + 1;
      this.#timeouts.set(sk, { inRow: inRow >= TIMEOUTS_BEFORE_SUSPEND ? 0 : inRow, until: inRow >= TIMEOUTS_BEFORE_SUSPEND ? now + SUSPEND_MS : 0 });
    } else if (suspended) {
      this.#timeouts.delete(sk);
    }
    return outcome;
  }

  /** A before-publish call's result: `{event, data}` to publish, null to drop. */
  #publishStep(outcome: CallOutcome, input: { channel: string; event: string }, json: boolean, client: boolean): Step<{ event: string; data: unknown }> {
    if (!outcome.ok) return { ok: false, kind: outcome.kind, message: outcome.message };
    const value = outcome.value;
    if (value === null) return { ok: true, value: null, publishes: [] };
    if (value === undefined) return invalid('the handler returned nothing: return the event (changed or not), or null to drop it');
    if (typeof value !== 'object' || Array.isArray(value)) return invalid(`the handler returned ${Array.isArray(value) ? 'an array' : `a ${typeof value}`}: return the event (an object with event and data), or null to drop it`);
    const returned = value as Record<string, unknown>;
    if (returned['channel'] !== undefined && returned['channel'] !== input.channel) {
      return invalid('a before-publish function cannot move an event to another channel; publish to others from an after-publish function');
    }
    const event = returned['event'] === undefined ? input.event : returned['event'];
    if (typeof event !== 'string' || event.length === 0 || event.length > MAX_EVENT_NAME) return invalid(`the returned event name must be a string of 1-${MAX_EVENT_NAME} characters`);
    if (client && !event.startsWith('client-')) return invalid(`a client event's name must start with "client-" (the handler returned "${event.slice(0, 64)}")`);
    if (!client && (event.startsWith('pusher:') || event.startsWith('pusher_internal:'))) return invalid('the returned event name must not start with "pusher:" or "pusher_internal:"');
    if (!Object.hasOwn(returned, 'data')) return invalid('the returned event has no data: return the event with its data (null for none)');
    const data = returned['data'];
    // The APIs carry data as a string: JSON in, JSON out; a plain string stays a plain string.
    const out = client ? data : json || typeof data !== 'string' ? JSON.stringify(data) : data;
    return { ok: true, value: { event, data: out }, publishes: [] };
  }

  /** A before-dispatch call's result: `{payload}` to dispatch, null to reject. */
  #dispatchStep(outcome: CallOutcome): Step<{ payload: unknown }> {
    if (!outcome.ok) return { ok: false, kind: outcome.kind, message: outcome.message };
    const value = outcome.value;
    if (value === null) return { ok: true, value: null, publishes: [] };
    if (value === undefined) return invalid('the handler returned nothing: return the event (changed or not), or null to reject it');
    if (typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, 'payload')) return invalid('the handler must return the event (an object with its payload), or null to reject it');
    return { ok: true, value: { payload: (value as { payload: unknown }).payload }, publishes: [] };
  }

  #entry(v: FunctionVersionRecord): Pending {
    const k = fnKey(v.org, v.appId, v.name);
    let p = this.#pending.get(k);
    if (!p) {
      p = { stats: { org: v.org, appId: v.appId, name: v.name, calls: 0, failures: 0, timeouts: 0, dropped: 0, lastFailureAt: null }, lines: [], droppedLines: 0, version: v.version };
      this.#pending.set(k, p);
    }
    p.version = v.version;
    return p;
  }

  #count(v: FunctionVersionRecord, what: 'calls' | 'dropped'): void {
    this.#entry(v).stats[what]++;
  }

  #lines(v: FunctionVersionRecord, lines: { level: FunctionLogRecord['level']; message: string }[]): void {
    const p = this.#entry(v);
    const at = this.#deps.clock.now();
    for (const l of lines) {
      if (p.lines.length >= LINES_PER_FLUSH) p.droppedLines++;
      else p.lines.push({ org: v.org, appId: v.appId, name: v.name, version: v.version, at, node: this.#deps.nodeId, level: l.level, message: l.message });
    }
  }

  /** A failed call: counted, written to the function's log, and said in relayd's log once per burst. */
  #failed(v: FunctionVersionRecord, kind: NonNullable<FunctionTestResult['error']>['kind'], message: string): void {
    const p = this.#entry(v);
    const now = this.#deps.clock.now();
    if (kind === 'timeout') p.stats.timeouts++;
    else p.stats.failures++;
    p.stats.lastFailureAt = now;
    this.#lines(v, [{ level: kind === 'timeout' ? 'timeout' : 'failure', message: `${kind}: ${message}` }]);
    const k = fnKey(v.org, v.appId, v.name);
    const reported = this.#reported.get(k);
    if (reported && now - reported.at < FAILURE_LOG_EVERY_MS) {
      reported.since++;
      return;
    }
    this.#reported.set(k, { at: now, since: 0 });
    this.#deps.warn(
      { org: v.org, app: v.appId, function: v.name, version: v.version, kind, failuresSinceLastReport: reported?.since ?? 0 },
      `edge function failed: ${kind}: ${message.slice(0, 200)} (said at most once a minute per function; see relay functions logs)`,
    );
  }

  async #changed(org: string, appId: string): Promise<void> {
    this.invalidate(org, appId);
    await this.#deps.functionsChanged(org, appId);
  }

  async #require(org: string, appId: string, name: string): Promise<FunctionRecord> {
    const record = await this.#deps.store.getFunction(org, appId, name);
    if (!record) throw notFound(org, appId, name);
    return record;
  }

  async #version(record: FunctionRecord, version: number): Promise<FunctionVersionRecord> {
    const v = await this.#deps.store.getFunctionVersion(record.active.org, record.active.appId, record.active.name, version);
    if (!v) throw new RelayError('not_found', `function "${record.active.name}" of app "${record.active.appId}" has no version ${version} (it has 1-${record.latestVersion})`);
    return v;
  }

  async #orderOf(org: string, appId: string, record: FunctionRecord): Promise<number> {
    return orderIn(await this.#deps.store.listFunctions(org, appId), record);
  }

  async #requireApp(org: string, appId: string): Promise<void> {
    if (await this.#deps.store.getApp(org, appId)) return;
    if (!(await this.#deps.store.getOrg(org))) throw new RelayError('not_found', `organization "${org}" not found`);
    throw new RelayError('not_found', `app "${appId}" not found in organization "${org}"`);
  }

  #toFunction(record: FunctionRecord, shown: FunctionVersionRecord, order: number, withSource: boolean): EdgeFunction {
    const s = record.stats;
    return {
      name: shown.name,
      appId: shown.appId,
      org: shown.org,
      version: shown.version,
      active: record.active.version,
      latest: record.latestVersion,
      versions: record.versions,
      trigger: shown.trigger,
      channels: shown.channels,
      event: shown.event,
      agent: shown.agent,
      timeoutMs: shown.timeoutMs,
      memoryMb: Math.round(shown.memoryBytes / MB),
      onError: shown.onError,
      order,
      createdAt: new Date(record.createdAt).toISOString(),
      deployedAt: new Date(shown.createdAt).toISOString(),
      deployedBy: shown.createdBy,
      stats: { calls: s.calls, failures: s.failures, timeouts: s.timeouts, dropped: s.dropped, lastFailureAt: s.lastFailureAt === null ? null : new Date(s.lastFailureAt).toISOString() },
      source: withSource ? shown.source : null,
    };
  }
}

/** An after-publish call: what it published; its return value is not used. */
function afterStep(outcome: CallOutcome): Step<never> {
  if (!outcome.ok) return { ok: false, kind: outcome.kind, message: outcome.message };
  return { ok: true, value: null, publishes: outcome.publishes };
}

function invalid(message: string): { ok: false; kind: 'invalid-return'; message: string } {
  return { ok: false, kind: 'invalid-return', message };
}

/** Its place among the app's functions on its trigger: 1 runs first. */
function orderIn(records: FunctionRecord[], record: FunctionRecord): number {
  const same = records.filter((r) => r.active.trigger === record.active.trigger);
  const index = same.findIndex((r) => r.active.name === record.active.name);
  return index === -1 ? same.length + 1 : index + 1;
}

function failedMessage(v: FunctionVersionRecord, kind: string, message: string): string {
  return `function "${v.name}" (version ${v.version}) failed: ${kind === 'timeout' ? `timeout: ${message || `ran past its ${v.timeoutMs} ms`}` : kind === 'memory' ? `out of memory: ${message || `used more than ${Math.round(v.memoryBytes / MB)} MB`}` : message}`;
}

function functionFailed(v: FunctionVersionRecord, kind: string, message: string): RelayError {
  return new RelayError('function_failed', failedMessage(v, kind, message), {
    details: { function: v.name, version: v.version, kind },
    hint: `see relay functions logs ${v.name} --app ${v.appId}; deploy it with --on-error pass to let events through when it fails`,
  });
}

function notFound(org: string, appId: string, name: string): RelayError {
  return new RelayError('not_found', `function "${name}" not found in app "${appId}" (organization "${org}")`, { hint: `see the app's functions with \`relay functions list --app ${appId}\`` });
}

function toLogLine(r: FunctionLogRecord): FunctionLogLine {
  return { seq: r.seq, at: new Date(r.at).toISOString(), node: r.node, version: r.version, level: r.level, message: r.message };
}
