import { Worker } from 'node:worker_threads';
import type { CallContext, CallOutcome, CompileProblem, SandboxLimits } from './function-sandbox.js';

/** What the host sends its worker. A call carries its source only the first time the worker sees its key. */
export type ToWorker =
  | { op: 'call'; id: number; key: string; source?: string; limits: SandboxLimits; input: unknown; ctx: CallContext }
  | { op: 'check'; id: number; source: string; limits: SandboxLimits }
  | { op: 'drop'; prefix: string };

type Answer = { id: number; outcome: CallOutcome } | { id: number; problem: CompileProblem | null };
/** What the worker sends back: that it is ready, or the answers to messages, in order. */
export type FromWorker = { ready: true } | { answers: Answer[] };

/** The sandbox as the functions service uses it. */
export interface Sandbox {
  check(source: string, limits: SandboxLimits): Promise<CompileProblem | null>;
  call(key: string, source: string, limits: SandboxLimits, input: unknown, ctx: CallContext): Promise<CallOutcome>;
  drop(prefix: string): void;
  close(): Promise<void>;
}

interface Pending {
  id: number;
  message: ToWorker & { op: 'call' | 'check' };
  source: string;
  limits: SandboxLimits;
  resolve(answer: Answer): void;
}

/** How often the watchdog looks at the running call. */
const WATCH_EVERY_MS = 20;
/**
 * How long a call may hold the thread before it is stopped: QuickJS enforces the call's own
 * limit between steps, this catches what runs on past it inside one step. Generous, as it
 * counts wall time: a busy machine must not see a sound call stopped.
 */
const overrunLimitMs = (timeoutMs: number): number => Math.max(1000, 3 * timeoutMs) + 1000;

/**
 * Edge functions on a thread of their own: relayd's event loop never runs function code, so no
 * function can stall it, whatever QuickJS does. Calls go to the worker in order and are run one
 * at a time; the first unanswered one is the one running. QuickJS stops a call at its time limit
 * between steps, but a built-in (indexOf on a huge string, say) runs to its end first: a
 * watchdog stops the whole thread when a call holds it far past its limit (see
 * overrunLimitMs), fails that call as a timeout, starts a new thread and sends it the calls
 * that were waiting. The same when the
 * thread dies (a function broke the WebAssembly module).
 */
export class FunctionHost implements Sandbox {
  #worker: Worker;
  #ready: Promise<void>;
  #nextId = 1;
  /** Unanswered, in the order sent: the first is the one running. */
  readonly #pending = new Map<number, Pending>();
  /** The keys whose source the current worker has. */
  #sent = new Set<string>();
  /** When the first unanswered message started running (as near as the host can tell). */
  #headSince = 0;
  readonly #watchdog: NodeJS.Timeout;
  #closed = false;
  /** Between a thread's stop and its successor's start: what is sent meanwhile waits in #pending. */
  #restarting = false;
  /** Messages waiting for this turn of the event loop to end: one postMessage carries them all. */
  #outbox: ToWorker[] = [];
  #flushScheduled = false;
  /** How many times the thread was stopped or died and was started again. */
  restarts = 0;

  private constructor() {
    const started = this.#spawn();
    this.#worker = started.worker;
    this.#ready = started.ready;
    this.#watchdog = setInterval(() => this.#watch(), WATCH_EVERY_MS);
    this.#watchdog.unref();
  }

  /** Starts the thread and waits until its sandbox is loaded. */
  static async start(): Promise<FunctionHost> {
    const host = new FunctionHost();
    await host.#ready;
    return host;
  }

  check(source: string, limits: SandboxLimits): Promise<CompileProblem | null> {
    const id = this.#nextId++;
    return this.#send({ op: 'check', id, source, limits }, source, limits).then((answer) => ('problem' in answer ? answer.problem : { message: 'the sandbox gave no answer', line: null, column: null }));
  }

  call(key: string, source: string, limits: SandboxLimits, input: unknown, ctx: CallContext): Promise<CallOutcome> {
    const id = this.#nextId++;
    const message: ToWorker & { op: 'call' } = { op: 'call', id, key, limits, input, ctx };
    if (!this.#sent.has(key)) {
      message.source = source;
      this.#sent.add(key);
    }
    return this.#send(message, source, limits).then((answer) => ('outcome' in answer ? answer.outcome : { ok: false, kind: 'error', message: 'the sandbox gave no answer', logs: [], publishes: [], durationMs: 0 }));
  }

  drop(prefix: string): void {
    for (const key of this.#sent) if (key.startsWith(prefix)) this.#sent.delete(key);
    if (!this.#restarting) this.#post({ op: 'drop', prefix });
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#watchdog);
    for (const p of this.#pending.values()) p.resolve(failure(p, 'error', 'relayd is shutting down'));
    this.#pending.clear();
    await this.#worker.terminate();
  }

  #send(message: ToWorker & { op: 'call' | 'check' }, source: string, limits: SandboxLimits): Promise<Answer> {
    if (this.#closed) return Promise.resolve(failure({ message }, 'error', 'relayd is shutting down'));
    return new Promise((resolve) => {
      if (this.#pending.size === 0) this.#headSince = performance.now();
      this.#pending.set(message.id, { id: message.id, message, source, limits, resolve });
      if (!this.#restarting) this.#post(message);
    });
  }

  /** Queues a message; the messages of one turn of the event loop go to the worker as one (a publish under load makes many). */
  #post(message: ToWorker): void {
    this.#outbox.push(message);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      const batch = this.#outbox;
      this.#outbox = [];
      if (batch.length > 0) this.#worker.postMessage(batch);
    });
  }

  #spawn(): { worker: Worker; ready: Promise<void> } {
    const worker = new Worker(new URL('./function-worker.js', import.meta.url));
    worker.unref();
    let markReady: () => void = () => undefined;
    let markFailed: (err: Error) => void = () => undefined;
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      markFailed = reject;
    });
    ready.catch(() => undefined);
    worker.on('message', (answer: FromWorker) => {
      if (worker !== this.#worker) return;
      if ('ready' in answer) {
        this.#headSince = performance.now();
        markReady();
        return;
      }
      this.#headSince = performance.now();
      for (const a of answer.answers) {
        const pending = this.#pending.get(a.id);
        if (!pending) continue;
        this.#pending.delete(a.id);
        pending.resolve(a);
      }
    });
    let started = false;
    void ready.then(() => (started = true));
    worker.on('error', () => undefined);
    worker.on('exit', () => {
      if (worker !== this.#worker || this.#closed) return;
      if (started) {
        this.#restart('error', 'the function broke the sandbox, which was restarted');
        return;
      }
      // A thread that cannot even start (an install without the sandbox) is not started again and again.
      this.#closed = true;
      for (const p of this.#pending.values()) p.resolve(failure(p, 'error', 'the sandbox of edge functions could not start'));
      this.#pending.clear();
      markFailed(new Error('the sandbox of edge functions could not start'));
    });
    return { worker, ready };
  }

  /** Stops a call that ran past its limit by stopping its thread. */
  #watch(): void {
    const head = this.#pending.values().next().value;
    if (!head) return;
    if (performance.now() - this.#headSince <= overrunLimitMs(head.limits.timeoutMs)) return;
    this.#restart('timeout', `the function ran past its ${head.limits.timeoutMs} ms time limit and was stopped`);
  }

  /** Fails the running call, starts a new thread and sends it what was waiting (with its sources: the new thread has none). */
  #restart(kind: 'timeout' | 'error', message: string): void {
    this.restarts++;
    const old = this.#worker;
    const head = this.#pending.values().next().value;
    if (head) {
      this.#pending.delete(head.id);
      head.resolve(failure(head, kind, message));
    }
    const started = this.#spawn();
    this.#worker = started.worker;
    this.#restarting = true;
    void old.terminate();
    this.#headSince = Number.POSITIVE_INFINITY;
    // What was queued for the old thread is in #pending (calls, checks) or no longer needed (drops).
    this.#outbox = [];
    this.#ready = started.ready.then(() => {
      this.#restarting = false;
      this.#sent = new Set();
      for (const p of this.#pending.values()) {
        if (p.message.op === 'call') {
          if (!this.#sent.has(p.message.key)) {
            p.message.source = p.source;
            this.#sent.add(p.message.key);
          } else delete p.message.source;
        }
        this.#post(p.message);
      }
    });
  }
}

function failure(p: { message: ToWorker & { op: 'call' | 'check' } }, kind: 'timeout' | 'error', message: string): Answer {
  if (p.message.op === 'check') return { id: p.message.id, problem: { message, line: null, column: null } };
  return { id: p.message.id, outcome: { ok: false, kind, message, logs: [], publishes: [], durationMs: 0 } };
}
