/**
 * The sandbox edge functions run in: QuickJS compiled to WebAssembly (quickjs-emscripten),
 * a real isolate rather than node:vm (whose own documentation says it is no security
 * boundary). The function sees only what QuickJS's language gives and what is defined here: a
 * `console` whose lines come back with the outcome, and `ctx.publish`. No require, process,
 * fetch, timers, files or network, and no std/os modules.
 *
 * One QuickJS runtime and context per key (a function version), compiled once and reused, so
 * that a call is one crossing into the VM: a VM-side `call(json)` parses the input, calls the
 * handler and hands back one string. Module state persists between calls of one version (as
 * in Cloudflare Workers: a cache may live in a top-level variable, but nothing may rely on
 * it; the isolate is rebuilt after a timeout, an out-of-memory, an eviction or a restart, and
 * every node has its own). Contexts are never shared between keys.
 *
 * Limits, per call: CPU time through QuickJS's interrupt handler (a deadline compared on each
 * poll), memory through the runtime's allocation limit, and the stack through QuickJS's stack
 * limit. QuickJS polls the handler every 10,000 calls and loop iterations, not by time, and
 * native built-ins do not poll: `new Array(1e9).fill(1)` runs some 0.3 s before it runs out of
 * memory, and a loop whose every turn calls a slow built-in on a large value (milliseconds
 * each) can run far past its limit before the next poll. Closing that needs a QuickJS build
 * with a smaller JS_INTERRUPT_COUNTER_INIT or calls on a worker thread that can be terminated.
 *
 * Some native paths (JSON of very deep values, the parser on very deep nesting) recurse on
 * the host's stack without QuickJS's check and end in a RangeError thrown out of the
 * WebAssembly module, which leaves that module's state unknown: the sandbox then abandons the
 * module with every isolate in it and carries on with a spare one (see `reset`). Inputs nested deeper than MAX_INPUT_DEPTH are refused before
 * they reach the VM, so that an event alone cannot do this.
 */
import { newQuickJSWASMModule, RELEASE_SYNC, type QuickJSContext, type QuickJSHandle, type QuickJSRuntime, type QuickJSWASMModule } from 'quickjs-emscripten';

/** Per call: CPU time and memory. */
export interface SandboxLimits {
  timeoutMs: number;
  memoryBytes: number;
}

/** Why a source is not a function: the message, and where (1-based; null when QuickJS does not say). */
export interface CompileProblem {
  message: string;
  line: number | null;
  column: number | null;
}

/** What a function printed with console.log/info/warn/error (debug goes as log), one line per call of console.*. */
export interface SandboxLogLine {
  level: 'log' | 'info' | 'warn' | 'error';
  message: string;
}

/** What an after-publish function asked to publish with ctx.publish(channel, event, data). */
export interface SandboxPublish {
  channel: string;
  event: string;
  data: unknown;
}

export type CallOutcome =
  | {
      ok: true;
      /** The handler's result (a promise's value once settled), through JSON: undefined when it returned nothing. */
      value: unknown;
      logs: SandboxLogLine[];
      publishes: SandboxPublish[];
      durationMs: number;
    }
  | {
      ok: false;
      /** timeout: ran past its CPU time; memory: past its memory; error: threw (or its promise rejected or never settled); invalid-return: a result JSON cannot carry. */
      kind: 'timeout' | 'memory' | 'error' | 'invalid-return';
      /** For `error`, the thrown message with its line and column where QuickJS gives them. */
      message: string;
      logs: SandboxLogLine[];
      publishes: SandboxPublish[];
      durationMs: number;
    };

/** What the handler gets as its second argument besides `publish`. */
export interface CallContext {
  /** The app's id, as `ctx.app`. */
  app: string;
  /** The trigger, as `ctx.trigger`. */
  trigger: string;
  /** How many times ctx.publish may be called (0: ctx.publish throws, naming the trigger). */
  maxPublishes: number;
}

/** The file name errors and stack frames give for the function's source. */
export const FUNCTION_FILE_NAME = 'function.js';
/** At most this many live isolates (compiled versions); the least recently called goes first. */
export const MAX_ISOLATES = 200;
/** console.* lines kept per call; past them, one line says how many more were dropped. */
export const MAX_LOG_LINES = 100;
/** A console line is cut to this many characters. */
export const MAX_LOG_LINE_CHARS = 2000;
/** An input nested deeper than this (arrays and objects) is refused before it reaches the VM. */
export const MAX_INPUT_DEPTH = 1000;
/**
 * QuickJS's stack limit. Small on purpose: QuickJS measures the WebAssembly module's own
 * stack, while its frames also take the host's native stack (about twice as much, measured),
 * and Node gives the main thread under 1 MB. 128 KB allows some 700 levels of plain
 * recursion and keeps QuickJS's own check ahead of the host's on every path that has one.
 */
const MAX_STACK_BYTES = 128 * 1024;
/** The least time a module gets to compile and run its top level (see `build`). */
const BUILD_MIN_MS = 100;
/** Reading a thrown value (which may run getters) gets its own small budget. */
const DESCRIBE_BUDGET_MS = 20;

const PRELUDE_FILE_NAME = 'relay:sandbox';

/**
 * Evaluated in each context before the function's module, so that it holds the built-ins as
 * they were before any user code ran. It returns the functions the host calls; none of them
 * is reachable from the function's code (only `console` and the `publish` of `ctx` are).
 * Results come back as one string: `v` + JSON (a value), `u` (undefined), `i` + message
 * (a result JSON cannot carry), `p` (a promise, not settled yet), `r` (rejected: `result()`
 * throws the reason), `x` + message (a module that is not a function).
 */
const PRELUDE = String.raw`(function (hostLog, hostPublish, fileName, maxLine) {
  'use strict';
  const parse = JSON.parse, stringify = JSON.stringify, toText = String, isArray = Array.isArray;
  const ErrorCtor = Error, TypeErrorCtor = TypeError, InternalErrorCtor = InternalError, PromiseCtor = Promise;
  const promiseResolve = (value) => PromiseCtor.resolve(value);
  const promiseThen = PromiseCtor.prototype.then, apply = Reflect.apply;
  const escaped = fileName.replace(/[.*+?^$(){}|[\]\\]/g, '\\$&');
  const frame = new RegExp('(?:^|[\\s(])' + escaped + ':(\\d+):(\\d+)', 'm');

  // Out of memory, stack overflow and the like are the sandbox's business, not the function's.
  function rethrowFatal(e) { if (e instanceof InternalErrorCtor) throw e; }
  function errorText(e) { return toText(e.name) + ': ' + toText(e.message); }
  function show(v) {
    switch (typeof v) {
      case 'string': return v;
      case 'undefined': case 'number': case 'boolean': case 'bigint': case 'symbol': return toText(v);
      case 'function': return '[Function: ' + (toText(v.name) || '(anonymous)') + ']';
    }
    if (v instanceof ErrorCtor) return errorText(v);
    try { const s = stringify(v); if (s !== undefined) return s; } catch (e) { rethrowFatal(e); }
    try { return toText(v); } catch (e) { rethrowFatal(e); return '[object]'; }
  }
  function kindOf(v) {
    if (v === null) return 'null';
    if (v === undefined) return 'undefined';
    if (isArray(v)) return 'an array';
    const t = typeof v;
    return (t === 'object' ? 'an ' : 'a ') + t;
  }
  function line(args) {
    let s = '';
    for (let i = 0; i < args.length && s.length <= maxLine; i++) s += (i === 0 ? '' : ' ') + show(args[i]);
    return s.length > maxLine ? s.slice(0, maxLine) : s;
  }
  const console = {};
  for (const [name, level] of [['log', 0], ['info', 1], ['warn', 2], ['error', 3], ['debug', 0]]) {
    console[name] = { [name](...args) { hostLog(level, line(args)); } }[name];
  }
  globalThis.console = console;

  let handler, ctx, trigger = '', max = 0, count = 0, seq = 0, outcome = 'u', failure;
  let loaded = 'p', loadFailure;

  function publish(channel, event, data) {
    if (max <= 0) throw new ErrorCtor('ctx.publish is for after-publish functions; this one runs ' + trigger);
    if (typeof channel !== 'string' || channel === '') throw new TypeErrorCtor('ctx.publish: the channel must be a non-empty string');
    if (typeof event !== 'string' || event === '') throw new TypeErrorCtor('ctx.publish: the event must be a non-empty string');
    if (count >= max) throw new ErrorCtor('ctx.publish: at most ' + max + ' publishes per call');
    const json = data === undefined ? 'null' : stringify(data);
    if (json === undefined) throw new TypeErrorCtor('ctx.publish: the data must be a JSON value (it is ' + kindOf(data) + ')');
    count++;
    hostPublish(channel, event, json);
  }

  function encode(v) {
    if (v === undefined) return 'u';
    let s;
    try { s = stringify(v); } catch (e) { rethrowFatal(e); return 'ithe handler returned a value JSON cannot carry (' + show(e) + ')'; }
    if (s === undefined) return 'ithe handler returned ' + kindOf(v) + ', which JSON cannot carry';
    return 'v' + s;
  }

  function check(ns) {
    if (!('default' in ns)) return 'xthe module has no default export (write: export default function (event, ctx) { ... })';
    const h = ns.default;
    if (typeof h !== 'function') return "xthe module's default export is not a function (it is " + kindOf(h) + ')';
    handler = h;
    return 'ok';
  }

  return {
    // The module's namespace, or (top-level await) a promise of it.
    bind(ns) {
      if (!(ns instanceof PromiseCtor)) return check(ns);
      apply(promiseThen, ns, [(m) => { try { loaded = check(m); } catch (e) { loadFailure = e; loaded = 'r'; } }, (e) => { loadFailure = e; loaded = 'r'; }]);
      return 'p';
    },
    bound() { if (loaded === 'r') throw loadFailure; return loaded; },
    // One ctx per app and trigger, not per call (a function that writes to it sees its writes again).
    setup(a, t, m) { trigger = t; max = m; ctx = { app: a, trigger: t, publish }; },
    call(json) {
      const id = ++seq;
      count = 0; outcome = 'p'; failure = undefined;
      const r = handler(parse(json), ctx);
      if (r !== null && (typeof r === 'object' || typeof r === 'function') && typeof r.then === 'function') {
        // A promise from an earlier call that settles now must not answer for this one.
        apply(promiseThen, promiseResolve(r), [
          (v) => { if (id === seq) { try { outcome = encode(v); } catch (e) { failure = e; outcome = 'r'; } } },
          (e) => { if (id === seq) { failure = e; outcome = 'r'; } },
        ]);
        return 'p';
      }
      return encode(r);
    },
    result() { if (outcome === 'r') throw failure; return outcome; },
    describe(e) {
      let kind = 'error', message, at = null;
      if (e instanceof ErrorCtor) {
        if (e instanceof InternalErrorCtor && e.message === 'out of memory') kind = 'memory';
        message = errorText(e);
        const stack = e.stack;
        if (typeof stack === 'string') at = frame.exec(stack);
      } else {
        message = show(e);
      }
      return stringify({ kind, message, line: at ? +at[1] : null, column: at ? +at[2] : null });
    },
  };
})`;

/** What the prelude's `describe` says of a thrown value. */
interface Thrown {
  kind: 'error' | 'memory';
  message: string;
  line: number | null;
  column: number | null;
}

/** One compiled function version: its own QuickJS runtime and context, and the prelude's entry points. */
interface Isolate {
  key: string;
  source: string;
  runtime: QuickJSRuntime;
  context: QuickJSContext;
  call: QuickJSHandle;
  setup: QuickJSHandle;
  result: QuickJSHandle;
  describe: QuickJSHandle;
  /** What `setup` last told the VM: most calls of a version repeat it, and skip the crossing. */
  app: string | null;
  trigger: string | null;
  maxPublishes: number;
  memoryBytes: number;
  /** performance.now() past which the interrupt handler stops the VM. */
  deadline: number;
  interrupted: boolean;
  /** For eviction: the sandbox's call counter when this one was last called. */
  lastUsed: number;
}

/** One WebAssembly instance of QuickJS and the isolates in it. */
interface Engine {
  module: QuickJSWASMModule;
  isolates: Map<string, Isolate>;
}

/** What a call collects from the VM's console and ctx.publish as it runs. */
interface CallState {
  logs: SandboxLogLine[];
  publishes: SandboxPublish[];
  droppedLogs: number;
}

/** A call's outcome before its logs, publishes and duration are added. */
type Result = { ok: true; value: unknown } | { ok: false; kind: 'timeout' | 'memory' | 'error' | 'invalid-return'; message: string };

type BuildResult = { ok: true; isolate: Isolate } | { ok: false; kind: 'timeout' | 'memory' | 'error'; problem: CompileProblem };

const LOG_LEVELS = ['log', 'info', 'warn', 'error'] as const;

let loading: Promise<FunctionSandbox> | null = null;

export class FunctionSandbox {
  private engine: Engine | null;
  private spare: Engine | null = null;
  private spareLoading: Promise<void> | null = null;
  /** The call in progress (calls are synchronous: one at a time), where console and ctx.publish write. */
  private current: CallState | null = null;
  private tick = 0;
  /** How many times the module was abandoned (for tests and metrics). */
  resets = 0;

  private constructor(engine: Engine) {
    this.engine = engine;
  }

  /** Loads the WebAssembly module (once per process; later calls return the same sandbox). */
  static load(): Promise<FunctionSandbox> {
    loading ??= (async () => {
      const [engine, spare] = await Promise.all([newEngine(), newEngine()]);
      const sandbox = new FunctionSandbox(engine);
      sandbox.warmUp(engine);
      sandbox.warmUp(spare);
      sandbox.spare = spare;
      return sandbox;
    })().catch((err: unknown) => {
      loading = null;
      throw err;
    });
    return loading;
  }

  /** Null when `source` is an ES module whose default export is a function; else why not. */
  check(source: string, limits: SandboxLimits): CompileProblem | null {
    const engine = this.engine;
    if (!engine) return { message: 'the sandbox is restarting after a failure; try again in a moment', line: null, column: null };
    const saved = this.current;
    this.current = { logs: [], publishes: [], droppedLogs: 0 };
    try {
      const built = this.build(engine, '', source, limits);
      if (!built.ok) return built.problem;
      this.disposeIsolate(built.isolate);
      return null;
    } catch (err) {
      this.reset();
      return { message: `the source could not be compiled: ${hostFailure(err)}`, line: null, column: null };
    } finally {
      this.current = saved;
    }
  }

  /**
   * Calls the default export of `source` with (input, ctx), synchronously, within `limits`.
   * `key` names the compiled isolate to reuse (one per function version: `org/app/name@v`).
   */
  call(key: string, source: string, limits: SandboxLimits, input: unknown, ctx: CallContext): CallOutcome {
    const started = performance.now();
    const state: CallState = { logs: [], publishes: [], droppedLogs: 0 };
    // Built field by field rather than spread: this is on the path of every publish.
    const finish = (outcome: Result): CallOutcome => {
      if (state.droppedLogs > 0) state.logs.push({ level: 'warn', message: `(${state.droppedLogs} more console line${state.droppedLogs === 1 ? '' : 's'} dropped: at most ${MAX_LOG_LINES} per call)` });
      const durationMs = performance.now() - started;
      return outcome.ok
        ? { ok: true, value: outcome.value, logs: state.logs, publishes: state.publishes, durationMs }
        : { ok: false, kind: outcome.kind, message: outcome.message, logs: state.logs, publishes: state.publishes, durationMs };
    };

    let json: string | undefined;
    try {
      json = JSON.stringify(input);
    } catch {
      json = undefined;
    }
    if (json === undefined) return finish({ ok: false, kind: 'error', message: 'the input is not a JSON value' });
    if (json.length > 2 * MAX_INPUT_DEPTH && jsonDepth(json) > MAX_INPUT_DEPTH) {
      return finish({ ok: false, kind: 'error', message: `the input is nested more than ${MAX_INPUT_DEPTH} levels deep` });
    }

    const engine = this.engine;
    if (!engine) return finish({ ok: false, kind: 'error', message: 'the sandbox is restarting after a failure; try again in a moment' });
    this.current = state;
    try {
      return finish(this.run(engine, key, source, limits, json, ctx));
    } catch (err) {
      this.reset();
      return finish({ ok: false, kind: 'error', message: `the function broke the sandbox, which was restarted: ${hostFailure(err)}` });
    } finally {
      this.current = null;
    }
  }

  /** Frees the isolates whose key starts with `prefix` (a function removed or redeployed). */
  drop(prefix: string): void {
    const engine = this.engine;
    if (!engine) return;
    try {
      for (const [key, isolate] of engine.isolates) {
        if (key.startsWith(prefix)) {
          engine.isolates.delete(key);
          this.disposeIsolate(isolate);
        }
      }
    } catch {
      this.reset();
    }
  }

  /** Frees everything (shutdown). The sandbox stays usable: isolates are built again when called. */
  dispose(): void {
    for (const engine of [this.engine, this.spare]) {
      if (!engine) continue;
      try {
        for (const isolate of engine.isolates.values()) this.disposeIsolate(isolate);
      } catch {
        // Nothing more to free in a module that fails; it is dropped below with the rest.
      }
      engine.isolates.clear();
    }
  }

  /** Resolves once a spare module is loaded (after a reset, one loads in the background). */
  async whenReady(): Promise<void> {
    while (this.spareLoading) await this.spareLoading;
  }

  /** How many isolates are live (tests, metrics). */
  get size(): number {
    return this.engine?.isolates.size ?? 0;
  }

  // ---- calls ----

  private run(engine: Engine, key: string, source: string, limits: SandboxLimits, json: string, ctx: CallContext): Result {
    let isolate = engine.isolates.get(key);
    if (isolate && isolate.source !== source) {
      engine.isolates.delete(key);
      this.disposeIsolate(isolate);
      isolate = undefined;
    }
    if (!isolate) {
      const built = this.build(engine, key, source, limits);
      if (!built.ok) return { ok: false, kind: built.kind, message: `the module failed to load: ${withPlace(built.problem)}` };
      isolate = built.isolate;
      this.evictFor(engine);
      engine.isolates.set(key, isolate);
    }
    isolate.lastUsed = ++this.tick;
    if (isolate.memoryBytes !== limits.memoryBytes) {
      isolate.runtime.setMemoryLimit(limits.memoryBytes);
      isolate.memoryBytes = limits.memoryBytes;
    }

    const vm = isolate.context;
    isolate.interrupted = false;
    isolate.deadline = performance.now() + limits.timeoutMs;
    try {
      if (isolate.app !== ctx.app || isolate.trigger !== ctx.trigger || isolate.maxPublishes !== ctx.maxPublishes) {
        const a = vm.newString(ctx.app);
        const t = vm.newString(ctx.trigger);
        const m = vm.newNumber(ctx.maxPublishes);
        const r = vm.callFunction(isolate.setup, vm.undefined, a, t, m);
        a.dispose();
        t.dispose();
        m.dispose();
        if (r.error) return this.failed(engine, isolate, r.error, limits);
        r.value.dispose();
        isolate.app = ctx.app;
        isolate.trigger = ctx.trigger;
        isolate.maxPublishes = ctx.maxPublishes;
      }

      const arg = vm.newString(json);
      const r = vm.callFunction(isolate.call, vm.undefined, arg);
      arg.dispose();
      if (r.error) return this.failed(engine, isolate, r.error, limits);
      let answer = vm.getString(r.value);
      r.value.dispose();

      if (isolate.runtime.hasPendingJob()) {
        const jobs = isolate.runtime.executePendingJobs(-1);
        if (jobs.error) return this.failed(engine, isolate, jobs.error, limits);
        if (answer === 'p') {
          const settled = vm.callFunction(isolate.result, vm.undefined);
          if (settled.error) return this.failed(engine, isolate, settled.error, limits);
          answer = vm.getString(settled.value);
          settled.value.dispose();
        }
      }
      return decode(answer);
    } finally {
      isolate.deadline = Number.POSITIVE_INFINITY;
    }
  }

  /** A call that threw (or whose jobs did): what it was, and the isolate dropped when its state may be broken. */
  private failed(engine: Engine, isolate: Isolate, error: QuickJSHandle, limits: SandboxLimits): { ok: false; kind: 'timeout' | 'memory' | 'error'; message: string } {
    const interrupted = isolate.interrupted;
    const thrown = interrupted ? null : this.describe(isolate, error);
    error.dispose();
    const kind = interrupted ? 'timeout' : thrown ? thrown.kind : 'error';
    // After a timeout or an out-of-memory (or a throw not even readable) its state may be broken.
    if (kind !== 'error' || !thrown) {
      engine.isolates.delete(isolate.key);
      this.disposeIsolate(isolate);
    }
    if (kind === 'timeout') return { ok: false, kind, message: `the function ran past its ${limits.timeoutMs} ms time limit` };
    if (kind === 'memory') return { ok: false, kind, message: `the function ran out of memory (its limit is ${formatBytes(limits.memoryBytes)})` };
    if (!thrown) return { ok: false, kind, message: 'the function threw a value that could not be read' };
    return { ok: false, kind, message: withPlace(thrown) };
  }

  /** The prelude's reading of a thrown value, under its own small deadline; null when even that fails. */
  private describe(isolate: Isolate, error: QuickJSHandle): Thrown | null {
    const vm = isolate.context;
    isolate.deadline = performance.now() + DESCRIBE_BUDGET_MS;
    const r = vm.callFunction(isolate.describe, vm.undefined, error);
    if (r.error) {
      r.error.dispose();
      return null;
    }
    const text = vm.getString(r.value);
    r.value.dispose();
    try {
      return JSON.parse(text) as Thrown;
    } catch {
      return null;
    }
  }

  // ---- isolates ----

  /** A runtime and context for `source`: the prelude, then the module (its top level runs, under `limits`). */
  private build(engine: Engine, key: string, source: string, limits: SandboxLimits): BuildResult {
    const runtime = engine.module.newRuntime();
    let context: QuickJSContext | null = null;
    let built: Isolate | null = null;
    let kept = false;
    const owned: QuickJSHandle[] = [];
    let broken = false;
    try {
      runtime.setMemoryLimit(limits.memoryBytes);
      runtime.setMaxStackSize(MAX_STACK_BYTES);
      runtime.setModuleLoader((name) => ({ error: new Error(`functions cannot import modules (import of "${name}")`) }));
      const vm = runtime.newContext();
      context = vm;
      const isolate: Isolate = {
        key,
        source,
        runtime,
        context: vm,
        call: vm.undefined,
        setup: vm.undefined,
        result: vm.undefined,
        describe: vm.undefined,
        app: null,
        trigger: null,
        maxPublishes: -1,
        memoryBytes: limits.memoryBytes,
        // The prelude is ours: no deadline until the function's module is evaluated.
        deadline: Number.POSITIVE_INFINITY,
        interrupted: false,
        lastUsed: 0,
      };
      built = isolate;
      runtime.setInterruptHandler(() => {
        if (performance.now() <= isolate.deadline) return false;
        isolate.interrupted = true;
        return true;
      });

      const hostLog = vm.newFunction('log', (level, message) => {
        this.log(vm.getNumber(level), vm.getString(message));
      });
      const hostPublish = vm.newFunction('publish', (channel, event, data) => {
        this.publish(vm.getString(channel), vm.getString(event), vm.getString(data));
      });
      const fileName = vm.newString(FUNCTION_FILE_NAME);
      const maxLine = vm.newNumber(MAX_LOG_LINE_CHARS);
      owned.push(hostLog, hostPublish, fileName, maxLine);

      // The prelude is ours and small; it fails only when the memory limit is too small for it.
      const factory = vm.evalCode(PRELUDE, PRELUDE_FILE_NAME, { type: 'global', strict: true });
      if (factory.error) return this.preludeFailed(factory.error, limits);
      owned.push(factory.value);
      const started = vm.callFunction(factory.value, vm.undefined, hostLog, hostPublish, fileName, maxLine);
      if (started.error) return this.preludeFailed(started.error, limits);
      const api = started.value;
      owned.push(api);
      const bind = vm.getProp(api, 'bind');
      const bound = vm.getProp(api, 'bound');
      owned.push(bind, bound);
      isolate.call = vm.getProp(api, 'call');
      isolate.setup = vm.getProp(api, 'setup');
      isolate.result = vm.getProp(api, 'result');
      isolate.describe = vm.getProp(api, 'describe');

      // Compiling and the top level run under the function's time limit, but never less than
      // BUILD_MIN_MS: a 1 ms function with a long source must still compile.
      isolate.deadline = performance.now() + Math.max(limits.timeoutMs, BUILD_MIN_MS);
      const ns = vm.evalCode(source, FUNCTION_FILE_NAME, { type: 'module' });
      if (ns.error) return this.buildFailed(isolate, ns.error, source, limits);
      const b = vm.callFunction(bind, vm.undefined, ns.value);
      ns.value.dispose();
      if (b.error) return this.buildFailed(isolate, b.error, source, limits);
      let state = vm.getString(b.value);
      b.value.dispose();
      if (runtime.hasPendingJob()) {
        const jobs = runtime.executePendingJobs(-1);
        if (jobs.error) return this.buildFailed(isolate, jobs.error, source, limits);
        if (state === 'p') {
          const s = vm.callFunction(bound, vm.undefined);
          if (s.error) return this.buildFailed(isolate, s.error, source, limits);
          state = vm.getString(s.value);
          s.value.dispose();
        }
      }
      if (state === 'p') return refused("the module's top-level await never settled");
      if (state.startsWith('x')) return refused(state.slice(1));
      if (state !== 'ok') return refused('the module could not be read');

      isolate.deadline = Number.POSITIVE_INFINITY;
      kept = true;
      return { ok: true, isolate };
    } catch (err) {
      broken = true;
      throw err;
    } finally {
      // A module that threw is abandoned whole (see `reset`): running more of it to free is no use.
      if (!broken) {
        for (const handle of owned) handle.dispose();
        if (built && !kept) this.disposeIsolate(built);
        else if (!built) {
          context?.dispose();
          runtime.dispose();
        }
      }
    }
  }

  private preludeFailed(error: QuickJSHandle, limits: SandboxLimits): BuildResult {
    error.dispose();
    return { ok: false, kind: 'memory', problem: { message: `the sandbox does not fit in the memory limit (${formatBytes(limits.memoryBytes)})`, line: null, column: null } };
  }

  private buildFailed(isolate: Isolate, error: QuickJSHandle, source: string, limits: SandboxLimits): BuildResult {
    const interrupted = isolate.interrupted;
    const thrown = interrupted ? null : this.describe(isolate, error);
    error.dispose();
    if (interrupted) return { ok: false, kind: 'timeout', problem: { message: `its top-level code ran past the time limit (${Math.max(limits.timeoutMs, BUILD_MIN_MS)} ms)`, line: null, column: null } };
    if (!thrown) return { ok: false, kind: 'error', problem: { message: 'it threw a value that could not be read', line: null, column: null } };
    if (thrown.kind === 'memory') return { ok: false, kind: 'memory', problem: { message: `its top-level code ran out of memory (the limit is ${formatBytes(limits.memoryBytes)})`, line: thrown.line, column: thrown.column } };
    const problem: CompileProblem = { message: thrown.message, line: thrown.line, column: thrown.column };
    if (problem.line === null) {
      // The module loader's refusal carries no stack: point at the import's specifier.
      const imported = /functions cannot import modules \(import of "(.*)"\)$/.exec(problem.message);
      if (imported) Object.assign(problem, placeOfSpecifier(source, imported[1] as string));
    }
    return { ok: false, kind: 'error', problem };
  }

  private evictFor(engine: Engine): void {
    while (engine.isolates.size >= MAX_ISOLATES) {
      let oldest: Isolate | null = null;
      for (const isolate of engine.isolates.values()) if (!oldest || isolate.lastUsed < oldest.lastUsed) oldest = isolate;
      if (!oldest) return;
      engine.isolates.delete(oldest.key);
      this.disposeIsolate(oldest);
    }
  }

  private disposeIsolate(isolate: Isolate): void {
    for (const handle of [isolate.call, isolate.setup, isolate.result, isolate.describe]) if (handle.alive) handle.dispose();
    if (isolate.context.alive) isolate.context.dispose();
    if (isolate.runtime.alive) isolate.runtime.dispose();
  }

  // ---- what the VM calls ----

  private log(level: number, message: string): void {
    const state = this.current;
    if (!state) return;
    if (state.logs.length >= MAX_LOG_LINES) {
      state.droppedLogs++;
      return;
    }
    state.logs.push({ level: LOG_LEVELS[level] ?? 'log', message });
  }

  private publish(channel: string, event: string, data: string): void {
    const state = this.current;
    if (!state) return;
    let value: unknown = null;
    try {
      value = JSON.parse(data);
    } catch {
      // The VM's JSON.stringify made it; a function that replaced it publishes null.
    }
    state.publishes.push({ channel, event, data: value });
  }

  // ---- the module ----

  /**
   * Something was thrown out of the module rather than inside the VM (the host's stack ran
   * out inside it, a WebAssembly trap; or a bug of ours): the module may be half way through
   * anything, malloc included, so none of it is trusted again. Its isolates are abandoned, not
   * disposed (disposing runs more of it), and the spare module takes over; a new spare loads
   * in the background. Until one is ready, calls fail with a message saying so.
   */
  private reset(): void {
    this.resets++;
    this.engine = this.spare;
    this.spare = null;
    this.prepareSpare();
  }

  private prepareSpare(): void {
    if (this.spare || this.spareLoading) return;
    this.spareLoading = newEngine()
      .then((engine) => {
        this.warmUp(engine);
        if (this.engine) this.spare = engine;
        else this.engine = engine;
        this.spareLoading = null;
        if (!this.spare) this.prepareSpare();
      })
      .catch(() => {
        // Tried again at the next reset.
        this.spareLoading = null;
      });
  }

  /**
   * WebAssembly functions are compiled on their first call: without this, a new module's
   * first calls take tens of milliseconds, past a function's time limit.
   */
  private warmUp(engine: Engine): void {
    const limits = { timeoutMs: 5000, memoryBytes: 32 * 1024 * 1024 };
    const key = 'relay:warm-up';
    const saved = this.current;
    this.current = { logs: [], publishes: [], droppedLogs: 0 };
    try {
      for (let i = 0; i < 3; i++) {
        this.run(engine, key, WARM_UP_SOURCE, limits, JSON.stringify({ channel: 'c', event: 'e', data: { n: i, s: 'x' } }), { app: 'warm-up', trigger: 'after-publish', maxPublishes: 1 });
      }
      const isolate = engine.isolates.get(key);
      if (isolate) {
        engine.isolates.delete(key);
        this.disposeIsolate(isolate);
      }
    } catch {
      // A module that fails here fails again on its first call, where it is reset.
    } finally {
      this.current = saved;
    }
  }
}

const WARM_UP_SOURCE = `let calls = 0;
export default async function (event, ctx) {
  calls++;
  console.log('warm', calls, { a: [1, 2] });
  try { null.x } catch (e) { void String(e) }
  await null;
  if (calls === 2) ctx.publish('other', 'e', event.data);
  if (calls === 3) throw new Error('warm');
  return { ...event, data: JSON.parse(JSON.stringify(event.data)) };
}`;

async function newEngine(): Promise<Engine> {
  return { module: await newQuickJSWASMModule(RELEASE_SYNC), isolates: new Map() };
}

function decode(answer: string): Result {
  switch (answer[0]) {
    case 'v':
      return { ok: true, value: JSON.parse(answer.slice(1)) as unknown };
    case 'u':
      return { ok: true, value: undefined };
    case 'i':
      return { ok: false, kind: 'invalid-return', message: answer.slice(1) };
    case 'p':
      return { ok: false, kind: 'error', message: "the handler's promise never settled (a function has no timers or I/O to wait for)" };
    default:
      return { ok: false, kind: 'error', message: 'the sandbox could not read the handler\'s result' };
  }
}

function refused(message: string): BuildResult {
  return { ok: false, kind: 'error', problem: { message, line: null, column: null } };
}

function withPlace(p: { message: string; line: number | null; column: number | null }): string {
  return p.line === null ? p.message : `${p.message} (${FUNCTION_FILE_NAME}:${p.line}:${p.column ?? 1})`;
}

function formatBytes(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  if (mb >= 1) return `${Math.round(mb * 10) / 10} MB`;
  return `${Math.round(bytes / 1024)} KB`;
}

function hostFailure(err: unknown): string {
  if (err instanceof RangeError && /call stack/i.test(err.message)) return 'it nested too deeply (the stack ran out)';
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** Where the first quoted `specifier` is in `source` (1-based), or nowhere. */
function placeOfSpecifier(source: string, specifier: string): { line: number | null; column: number | null } {
  let at = -1;
  for (const quote of ['"', "'", '`']) {
    const i = source.indexOf(quote + specifier + quote);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  if (at < 0) return { line: null, column: null };
  const before = source.slice(0, at);
  const line = before.split('\n').length;
  return { line, column: at - before.lastIndexOf('\n') };
}

/** How deep arrays and objects nest in a JSON text (brackets inside strings do not count). */
export function jsonDepth(json: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) max = depth;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return max;
}
