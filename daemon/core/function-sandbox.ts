/**
 * The sandbox edge functions run in: QuickJS compiled to WebAssembly (quickjs-emscripten),
 * a real isolate rather than node:vm. CONTRACT ONLY: the helper building the sandbox fills
 * this in; the signatures are what the functions service calls.
 */

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

export declare class FunctionSandbox {
  /** Loads the WebAssembly module (once per process; later calls return the same sandbox). */
  static load(): Promise<FunctionSandbox>;
  /** Null when `source` is an ES module whose default export is a function; else why not. */
  check(source: string, limits: SandboxLimits): CompileProblem | null;
  /**
   * Calls the default export of `source` with (input, ctx), synchronously, within `limits`.
   * `key` names the compiled isolate to reuse (one per function version: `org/app/name@v`).
   */
  call(key: string, source: string, limits: SandboxLimits, input: unknown, ctx: CallContext): CallOutcome;
  /** Frees the isolates whose key starts with `prefix` (a function removed or redeployed). */
  drop(prefix: string): void;
  /** Frees everything (shutdown). */
  dispose(): void;
}
