import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import type { AgentEventFrame, EventError, FailedFrame, ReplyFrame, Role, WelcomeFrame } from '../shared/protocol/relay.js';
import { RELAY_CLOSE } from '../shared/protocol/relay.js';

/**
 * The relay protocol's clients: `RelayApp` sends events to agents and gets their replies;
 * `RelayAgent` answers them. Both keep one WebSocket to relayd's `/v1/connect` and
 * reconnect on their own, with exponential backoff and full jitter, within a time budget:
 * past it, or on an error that retrying cannot mend (a refused, expired or wrong token, a
 * deactivated app or agent), they stop with a `RelayConnectionError`.
 */
export interface RelayClientOptions {
  /** relayd's address: `http://127.0.0.1:7420` (or `https://`, `ws://`, `wss://`). */
  url: string;
  /** `rlk_...` for an app, `rla_...` for an agent. */
  token: string;
  /** How long the first connection may take, retries included, before `connect()` rejects with `unreachable` (default 10 s). */
  connectTimeoutMs?: number;
  /**
   * Reconnection after a connection drops: delays from `initialDelayMs` (default 250)
   * doubling up to `maxDelayMs` (default 10 s), each drawn at random below that ceiling;
   * after `giveUpAfterMs` (default 5 minutes; `Infinity`: never) without a connection, the
   * client stops with `unreachable`. A 429 refusal waits at least its `Retry-After`.
   */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number; giveUpAfterMs?: number };
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_RECONNECT = { initialDelayMs: 250, maxDelayMs: 10_000, giveUpAfterMs: 5 * 60_000 } as const;

/** Why a connection cannot go on: see {@link RelayConnectionError}. */
export type RelayConnectionErrorCode = 'wrong_token' | 'unauthorized' | 'deactivated' | 'token_expired' | 'unreachable' | 'closed';

/**
 * A connection that ended for good, or never started: `connect()`, `closed`, pending
 * `send()`s and the `error` event give it. `code` says why:
 * - `wrong_token`: a token of the other role (an agent token given to `RelayApp`, ...) or not a relay token at all;
 * - `unauthorized`: relayd refused the token (401: unknown, or replaced by a rotation whose grace has ended);
 * - `deactivated`: the app or agent is deactivated (403 at the handshake, or its socket closed with 4003);
 * - `token_expired`: its socket was closed with 4001, at the end of a rotation's grace period;
 * - `unreachable`: no connection within `connectTimeoutMs` (first) or `reconnect.giveUpAfterMs` (later);
 * - `closed`: `close()` was called before the connection was made, or `send()` after it.
 */
export class RelayConnectionError extends Error {
  readonly code: RelayConnectionErrorCode;
  /** The WebSocket close code or HTTP status relayd answered with, when there was one. */
  readonly status: number | null;

  constructor(code: RelayConnectionErrorCode, message: string, status: number | null = null) {
    super(message);
    this.name = 'RelayConnectionError';
    this.code = code;
    this.status = status;
  }
}

/** An event's failure: the agent's error, a timeout, or a rejection by relayd (`code` says which). */
export class RelayFailure extends Error {
  readonly code: string;
  readonly eventId: string | null;

  constructor(error: EventError | { code: string; message: string }, eventId: string | null) {
    super(error.message);
    this.name = 'RelayFailure';
    this.code = error.code;
    this.eventId = eventId;
  }
}

/** The events of both clients, with their listeners' arguments. */
export type RelayConnectionEvents = {
  /** relayd's welcome, on the first connection and on every reconnection. */
  connected: [connectionId: string];
  /** The socket closed: `code` is its close code; `reconnecting` false when the client stops (then `error` follows if fatal). */
  disconnected: [code: number, reconnecting: boolean];
  /** A fatal error; without a listener (and nobody awaiting `connect()`, `closed` or a `send()`), it is an unhandled rejection. */
  error: [err: RelayConnectionError];
  /** An `error` frame of relayd about a frame it could not act on. */
  protocolError: [error: { code: string; message: string }];
};

export type RelayAppEvents = RelayConnectionEvents & {
  /** An outcome of an event this instance did not send (another instance's, before a restart). */
  outcome: [outcome: Outcome];
};

type Frame = { type: string } & Record<string, unknown>;

const TOKEN_KINDS: Record<string, string> = { rlk_: 'an app token (rlk_...)', rla_: 'an agent token (rla_...)', rly_: 'an API token (rly_...), for the HTTP API', rlo_: 'an admin token (rlo_...), for the relay CLI' };
const PREFIX: Record<Role, string> = { app: 'rlk_', agent: 'rla_' };

/** The app or agent id in a token (`rlk_{id}_{random}`), for messages; never the secret part. */
function ownerOf(token: string): string | null {
  return /^rl[ka]_([a-z0-9-]+)_/.exec(token)?.[1] ?? null;
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/** One handshake attempt and what came of it. */
interface Attempt {
  ws: WebSocket;
  /** An answer that ends the client (a refused token, a deactivated owner). */
  fatal: RelayConnectionError | null;
  /** A 429's Retry-After, in ms. */
  retryAfterMs: number;
  /** relayd answered with an HTTP status (the socket errors that follow say nothing more). */
  answered: boolean;
}

abstract class RelayConnection<Events extends RelayConnectionEvents & Record<keyof Events, unknown[]>> extends EventEmitter<Events> {
  protected abstract readonly role: Role;
  readonly #url: string;
  readonly #shownUrl: string;
  readonly #token: string;
  readonly #connectTimeout: number;
  readonly #initialDelay: number;
  readonly #maxDelay: number;
  readonly #giveUpAfter: number;
  #attempt: Attempt | null = null;
  #failures = 0;
  #stopped = false;
  #retryTimer: NodeJS.Timeout | null = null;
  #deadlineTimer: NodeJS.Timeout | null = null;
  /** What went wrong last while trying to connect, for the `unreachable` message. */
  #lastProblem = 'no answer';
  #connected = false;
  #everConnected = false;
  readonly #firstConnection: Promise<void>;
  #resolveFirst!: () => void;
  #rejectFirst!: (err: Error) => void;
  /** Whether someone called connect() (so that a failure of the first connection is theirs to handle). */
  #connectAwaited = false;
  #closedPromise: Promise<void> | null = null;
  #resolveClosed: (() => void) | null = null;
  #rejectClosed: ((err: Error) => void) | null = null;
  /** Frames written while disconnected, sent after the next welcome. */
  #outbox: string[] = [];
  /** The connection id of relayd's welcome. */
  connectionId: string | null = null;
  /** Why the client stopped for good, if it did. */
  protected failure: RelayConnectionError | null = null;

  constructor(options: RelayClientOptions) {
    super();
    const url = new URL(options.url);
    if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol)) {
      throw new TypeError(`url must start with http://, https://, ws:// or wss:// (got ${url.protocol}//...)`);
    }
    this.#shownUrl = url.origin;
    url.protocol = url.protocol.replace(/^http/, 'ws');
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/v1/connect`;
    this.#url = url.toString();
    this.#token = String(options.token ?? '');
    this.#connectTimeout = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.#initialDelay = options.reconnect?.initialDelayMs ?? DEFAULT_RECONNECT.initialDelayMs;
    this.#maxDelay = options.reconnect?.maxDelayMs ?? DEFAULT_RECONNECT.maxDelayMs;
    this.#giveUpAfter = options.reconnect?.giveUpAfterMs ?? DEFAULT_RECONNECT.giveUpAfterMs;
    this.#firstConnection = new Promise((resolve, reject) => {
      this.#resolveFirst = resolve;
      this.#rejectFirst = reject;
    });
    // Delivered through connect(), closed, send() or `error` instead (see #fatal).
    this.#firstConnection.catch(() => undefined);
    // Started on the next turn, so that listeners added right after the constructor hear everything.
    setImmediate(() => this.#start());
  }

  /** Resolves on relayd's first welcome; rejects with a {@link RelayConnectionError}. The constructor has started connecting. */
  connect(): Promise<void> {
    this.#connectAwaited = true;
    return this.#firstConnection;
  }

  /** Resolves once `close()` has closed the connection; rejects with the {@link RelayConnectionError} that ended it otherwise. */
  get closed(): Promise<void> {
    if (!this.#closedPromise) {
      if (this.failure) {
        this.#closedPromise = Promise.reject(this.failure);
      } else if (this.#stopped) {
        this.#closedPromise = Promise.resolve();
      } else {
        this.#closedPromise = new Promise((resolve, reject) => {
          this.#resolveClosed = resolve;
          this.#rejectClosed = reject;
        });
      }
    }
    return this.#closedPromise;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Closes the connection for good: a pending `connect()` and pending `send()`s reject with `closed`; `closed` resolves. */
  async close(): Promise<void> {
    if (this.#stopped) return;
    // Made now, so that `closed` taken while the socket closes resolves once it has.
    void this.closed;
    this.#stopped = true;
    this.#clearTimers();
    const err = new RelayConnectionError('closed', 'the connection was closed with close()');
    this.#rejectFirst(err);
    this.onStop(err);
    const ws = this.#attempt?.ws;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
        else ws.close(1000);
      });
    }
    this.#resolveClosed?.();
  }

  protected abstract onFrame(frame: Frame): void;
  /** Called on every welcome, after the outbox has gone out. */
  protected onConnected(): void {}
  /** Called once when the client stops (close() or a fatal error); returns how many pending calls it rejected with `err`. */
  protected onStop(_err: RelayConnectionError): number {
    return 0;
  }

  /** Sends now, or after the next welcome when disconnected. */
  protected write(frame: object): void {
    if (!this.writeIfConnected(frame)) this.#outbox.push(JSON.stringify(frame));
  }

  /** Sends now if connected; false otherwise. */
  protected writeIfConnected(frame: object): boolean {
    const ws = this.#attempt?.ws;
    if (!this.#connected || ws?.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  /** The error of a stopped client: its failure, or `closed`. */
  protected stoppedError(): RelayConnectionError | null {
    if (this.failure) return this.failure;
    return this.#stopped ? new RelayConnectionError('closed', 'the connection was closed with close()') : null;
  }

  /** Emits one of the shared events (the subclasses' event maps extend them). */
  #emit<K extends keyof RelayConnectionEvents>(event: K, ...args: RelayConnectionEvents[K]): void {
    // The untyped view: the subclasses' event maps extend the shared one.
    (this as unknown as EventEmitter).emit(event, ...args);
  }

  #listeners(event: keyof RelayConnectionEvents): number {
    return (this as unknown as EventEmitter).listenerCount(event);
  }

  #start(): void {
    if (this.#stopped) return;
    const wrong = this.#wrongToken();
    if (wrong) {
      this.#fatal(wrong);
      return;
    }
    this.#startDeadline(this.#connectTimeout, 'connectTimeoutMs');
    this.#open();
  }

  /** The token's prefix names its role: a token of the other role is refused before any connection. */
  #wrongToken(): RelayConnectionError | null {
    const expected = PREFIX[this.role];
    if (this.#token.startsWith(expected)) return null;
    const client = this.role === 'app' ? 'RelayApp' : 'RelayAgent';
    const kind = Object.entries(TOKEN_KINDS).find(([prefix]) => this.#token.startsWith(prefix))?.[1];
    const got = this.#token === '' ? 'no token was given' : kind ? `this is ${kind}` : 'this is not a relay token';
    const where = this.role === 'app' ? '`relay apps register` (or `relay apps rotate`) prints one' : '`relay agents register` (or `relay agents rotate`) prints one';
    const other = this.#token.startsWith(PREFIX[this.role === 'app' ? 'agent' : 'app']) ? ` (give it to a ${this.role === 'app' ? 'RelayAgent' : 'RelayApp'})` : '';
    return new RelayConnectionError('wrong_token', `${client} needs ${TOKEN_KINDS[expected]}, but ${got}${other}; ${where}`);
  }

  /** Starts the time budget of a (re)connection: past it, the client stops with `unreachable`. */
  #startDeadline(budgetMs: number, option: string): void {
    if (!Number.isFinite(budgetMs)) return;
    const started = Date.now();
    this.#deadlineTimer = setTimeout(() => {
      this.#deadlineTimer = null;
      if (this.#connected || this.#stopped) return;
      const waited = seconds(Math.round((Date.now() - started) / 100) * 100);
      this.#fatal(
        new RelayConnectionError('unreachable', `cannot reach relayd at ${this.#shownUrl}: ${this.#lastProblem}; gave up after ${waited} (${option})`),
      );
    }, budgetMs);
  }

  #open(): void {
    const ws = new WebSocket(this.#url, { headers: { authorization: `Bearer ${this.#token}` }, handshakeTimeout: this.#connectTimeout });
    const attempt: Attempt = { ws, fatal: null, retryAfterMs: 0, answered: false };
    this.#attempt = attempt;
    ws.on('unexpected-response', (_req, res) => {
      attempt.answered = true;
      readBody(res).then((body) => {
        this.#refused(attempt, res, body);
        ws.terminate();
      }, () => ws.terminate());
    });
    ws.on('message', (data) => {
      let frame: Frame;
      try {
        frame = JSON.parse(data.toString()) as Frame;
      } catch {
        return;
      }
      if (frame.type === 'welcome') {
        this.#welcome(ws, frame as unknown as WelcomeFrame);
        return;
      }
      this.onFrame(frame);
    });
    ws.on('error', (err: NodeJS.ErrnoException) => {
      if (!attempt.answered) this.#lastProblem = problemOf(err);
    });
    ws.on('close', (code) => this.#onClose(attempt, code));
  }

  #welcome(ws: WebSocket, welcome: WelcomeFrame): void {
    if (welcome.role !== this.role) {
      // relayd took the token for the other role: never act as the wrong one.
      const err = new RelayConnectionError('wrong_token', `relayd accepted this token as an ${welcome.role} (${welcome.id}), but it was given to a ${this.role === 'app' ? 'RelayApp' : 'RelayAgent'}`);
      this.#attempt!.fatal = err;
      ws.close(1000);
      return;
    }
    this.connectionId = welcome.connectionId;
    this.#connected = true;
    this.#everConnected = true;
    this.#failures = 0;
    if (this.#deadlineTimer) clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = null;
    const queued = this.#outbox;
    this.#outbox = [];
    for (const data of queued) ws.send(data);
    this.onConnected();
    this.#resolveFirst();
    this.#emit('connected', welcome.connectionId);
  }

  /** A handshake relayd answered with an HTTP status instead of a WebSocket. */
  #refused(attempt: Attempt, res: IncomingMessage, body: string): void {
    const status = res.statusCode ?? 0;
    const said = serverMessage(body) ?? `HTTP ${status}`;
    const who = `the ${this.role} token${ownerOf(this.#token) ? ` of ${ownerOf(this.#token)}` : ''}`;
    if (status === 401) {
      attempt.fatal = new RelayConnectionError('unauthorized', `relayd refused ${who} (401: ${said}); use the newest token \`relay ${this.role}s register\` or \`relay ${this.role}s rotate\` printed`, 401);
    } else if (status === 403) {
      attempt.fatal = new RelayConnectionError('deactivated', `relayd refused ${who} (403: ${said}); \`relay ${this.role}s activate ${ownerOf(this.#token) ?? 'ID'}\` lets it in again`, 403);
    } else {
      if (status === 429) attempt.retryAfterMs = retryAfterMs(res.headers['retry-after']);
      this.#lastProblem = `relayd answered ${status} (${said})`;
    }
  }

  #onClose(attempt: Attempt, code: number): void {
    if (this.#attempt !== attempt) return;
    const wasConnected = this.#connected;
    this.#connected = false;
    if (this.#stopped) {
      if (wasConnected) this.#emit('disconnected', code, false);
      return;
    }
    const fatal = attempt.fatal ?? (wasConnected ? this.#fatalClose(code) : null);
    if (wasConnected) this.#emit('disconnected', code, fatal === null);
    if (fatal) {
      this.#fatal(fatal);
      return;
    }
    if (wasConnected) {
      this.#lastProblem = `the connection closed (${code}) and could not be opened again`;
      this.#startDeadline(this.#giveUpAfter, 'reconnect.giveUpAfterMs');
    }
    this.#scheduleRetry(attempt.retryAfterMs);
  }

  /** What a close code of an open connection means: null when reconnecting may help. */
  #fatalClose(code: number): RelayConnectionError | null {
    const owner = ownerOf(this.#token) ?? `this ${this.role}`;
    if (code === RELAY_CLOSE.tokenExpired) {
      return new RelayConnectionError('token_expired', `relayd closed the connection (4001): the ${this.role} token of ${owner} expired at the end of a rotation's grace period; use the token \`relay ${this.role}s rotate ${owner}\` printed`, code);
    }
    if (code === RELAY_CLOSE.inactive) {
      return new RelayConnectionError('deactivated', `relayd closed the connection (4003): ${this.role} ${owner} was deactivated; \`relay ${this.role}s activate ${owner}\` lets it in again`, code);
    }
    return null;
  }

  #scheduleRetry(atLeastMs: number): void {
    if (this.#stopped || this.#retryTimer) return;
    const ceiling = Math.min(this.#maxDelay, this.#initialDelay * 2 ** this.#failures);
    this.#failures++;
    // Full jitter: many clients cut off at once do not all come back at once.
    const delay = Math.max(atLeastMs, Math.random() * ceiling);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (!this.#stopped) this.#open();
    }, delay);
  }

  #clearTimers(): void {
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    if (this.#deadlineTimer) clearTimeout(this.#deadlineTimer);
    this.#retryTimer = null;
    this.#deadlineTimer = null;
  }

  /**
   * Stops for good and hands the error to whoever waits for it: a pending connect(), the
   * `closed` promise, pending sends, `error` listeners. When nobody does, it becomes an
   * unhandled rejection, so that a process that ignores it exits non-zero instead of
   * looking like success.
   */
  #fatal(err: RelayConnectionError): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.failure = err;
    this.#clearTimers();
    const ws = this.#attempt?.ws;
    if (ws && ws.readyState !== WebSocket.CLOSED && ws.readyState !== WebSocket.CLOSING) ws.terminate();
    let handled = this.#connectAwaited && !this.#everConnected;
    this.#rejectFirst(err);
    if (this.onStop(err) > 0) handled = true;
    if (this.#rejectClosed) {
      this.#rejectClosed(err);
      handled = true;
    }
    if (this.#listeners('error') > 0) {
      this.#emit('error', err);
      handled = true;
    }
    if (!handled) void Promise.reject(err);
  }
}

function problemOf(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused (ECONNREFUSED)';
    case 'ENOTFOUND':
      return 'host not found (ENOTFOUND)';
    case 'ETIMEDOUT':
      return 'timed out (ETIMEDOUT)';
    default:
      return err.code ? `${err.message} (${err.code})` : err.message;
  }
}

function retryAfterMs(header: string | string[] | undefined): number {
  const value = Number(Array.isArray(header) ? header[0] : header);
  return Number.isFinite(value) && value > 0 ? value * 1000 : 0;
}

/** The `error.message` of relayd's JSON answer, if it is one. */
function serverMessage(body: string): string | null {
  try {
    const message = (JSON.parse(body) as { error?: { message?: unknown } }).error?.message;
    return typeof message === 'string' ? message : null;
  } catch {
    return null;
  }
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      if (text.length < 4096) text += chunk;
    });
    res.on('end', () => resolve(text));
    res.on('error', reject);
  });
}

interface PendingSend {
  frame: object;
  eventId: string | null;
  resolve(reply: unknown): void;
  reject(err: Error): void;
}

export interface SendOptions {
  /** The event's name, shown in history. */
  name?: string;
}

/** An outcome for an event this RelayApp did not send (another instance's, before a restart). */
export type Outcome = { type: 'reply'; eventId: string; agent: string; thread: string; payload: unknown } | { type: 'failed'; eventId: string; agent: string; thread: string; error: EventError };

/**
 * An app's connection. `send` resolves with the agent's reply or rejects with a
 * `RelayFailure` (or, when the connection ends for good, its `RelayConnectionError`);
 * every reply and failure is acknowledged once handed over. Outcomes of events this
 * instance did not send come as `'outcome'` events (then acknowledged).
 */
export class RelayApp extends RelayConnection<RelayAppEvents> {
  protected readonly role = 'app';
  readonly #byRef = new Map<string, PendingSend>();
  readonly #byEvent = new Map<string, PendingSend>();

  send(agent: string, thread: string, payload: unknown, options: SendOptions = {}): Promise<unknown> {
    const stopped = this.stoppedError();
    if (stopped) return Promise.reject(stopped);
    const ref = randomUUID();
    const frame = { type: 'event', ref, agent, thread, ...(options.name === undefined ? {} : { name: options.name }), payload };
    return new Promise((resolve, reject) => {
      this.#byRef.set(ref, { frame, eventId: null, resolve, reject });
      // When disconnected, onConnected sends it with the others not yet accepted.
      this.writeIfConnected(frame);
    });
  }

  /** Events sent and not yet answered. */
  get inFlight(): number {
    return this.#byRef.size;
  }

  protected override onConnected(): void {
    // Events sent on a socket that dropped before relayd said `accepted` go again
    // (at least once: an idempotency key will make that exactly once).
    for (const pending of this.#byRef.values()) if (pending.eventId === null) this.writeIfConnected(pending.frame);
  }

  protected override onStop(err: RelayConnectionError): number {
    const pending = [...this.#byRef.values()];
    this.#byRef.clear();
    this.#byEvent.clear();
    for (const p of pending) p.reject(err);
    return pending.length;
  }

  protected onFrame(frame: Frame): void {
    switch (frame.type) {
      case 'accepted': {
        const pending = this.#byRef.get(frame.ref as string);
        if (pending && pending.eventId === null) {
          pending.eventId = frame.eventId as string;
          this.#byEvent.set(pending.eventId, pending);
        }
        return;
      }
      case 'rejected': {
        const pending = this.#byRef.get(frame.ref as string);
        if (!pending) return;
        this.#byRef.delete(frame.ref as string);
        pending.reject(new RelayFailure(frame.error as EventError, (frame.eventId as string | null) ?? null));
        return;
      }
      case 'reply':
      case 'failed': {
        const outcome = frame as unknown as ReplyFrame | FailedFrame;
        const pending = this.#byEvent.get(outcome.eventId) ?? (outcome.ref !== null ? this.#byRef.get(outcome.ref) : undefined);
        if (pending) {
          this.#byEvent.delete(outcome.eventId);
          if (outcome.ref !== null) this.#byRef.delete(outcome.ref);
          if (outcome.type === 'reply') pending.resolve(outcome.payload);
          else pending.reject(new RelayFailure(outcome.error, outcome.eventId));
        } else {
          const { eventId, agent, thread } = outcome;
          this.emit('outcome', outcome.type === 'reply' ? { type: 'reply', eventId, agent, thread, payload: outcome.payload } : { type: 'failed', eventId, agent, thread, error: outcome.error });
        }
        this.write({ type: 'ack', eventId: outcome.eventId });
        return;
      }
      case 'error':
        if (this.listenerCount('protocolError') > 0) this.emit('protocolError', frame.error as { code: string; message: string });
        return;
    }
  }
}

/** What an agent's handler gets for each event: the `event` frame's fields. */
export type AgentEvent = Omit<AgentEventFrame, 'type'>;

export type AgentHandler = (event: AgentEvent) => unknown;

/**
 * An agent's connection: `handler` runs for each event, and what it returns (or resolves
 * with) is the reply; what it throws goes back as the event's failure. Events of one
 * thread come one at a time; different threads come concurrently.
 */
export class RelayAgent extends RelayConnection<RelayConnectionEvents> {
  protected readonly role = 'agent';
  readonly #handler: AgentHandler;

  constructor(options: RelayClientOptions & { handler: AgentHandler }) {
    super(options);
    this.#handler = options.handler;
  }

  protected onFrame(frame: Frame): void {
    if (frame.type !== 'event') {
      if (frame.type === 'error' && this.listenerCount('protocolError') > 0) this.emit('protocolError', frame.error as { code: string; message: string });
      return;
    }
    const { eventId, appId, thread, name, payload, attempt } = frame as unknown as AgentEventFrame;
    void (async () => {
      try {
        const reply = await this.#handler({ eventId, appId, thread, name, payload, attempt });
        this.write({ type: 'reply', eventId, payload: reply === undefined ? null : reply });
      } catch (err) {
        this.write({ type: 'error', eventId, error: { message: err instanceof Error ? err.message : String(err) } });
      }
    })();
  }
}
