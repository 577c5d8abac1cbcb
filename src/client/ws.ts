import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import type { AgentEventFrame, EventError, FailedFrame, ReplyFrame, WelcomeFrame } from '../shared/protocol/relay.js';
import { RELAY_CLOSE } from '../shared/protocol/relay.js';

/**
 * The relay protocol's clients: `RelayApp` sends events to agents and gets their replies;
 * `RelayAgent` answers them. Both keep one WebSocket to relayd's `/v1/connect` and
 * reconnect on their own, with exponential backoff and full jitter.
 */
export interface RelayClientOptions {
  /** relayd's address: `http://127.0.0.1:7420` (or `ws://...`). */
  url: string;
  /** `rlk_...` for an app, `rla_...` for an agent. */
  token: string;
  /** Backoff between reconnections: from `minDelayMs` (default 250) doubling up to `maxDelayMs` (default 10 s). */
  reconnect?: { minDelayMs?: number; maxDelayMs?: number };
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

type Frame = { type: string } & Record<string, unknown>;

/** What a 401 or a closed-for-good socket means: retrying with the same token cannot help. */
const FATAL_CLOSE: ReadonlySet<number> = new Set([RELAY_CLOSE.tokenExpired]);

abstract class RelayConnection extends EventEmitter {
  readonly #url: string;
  readonly #token: string;
  readonly #minDelay: number;
  readonly #maxDelay: number;
  #ws: WebSocket | null = null;
  #attempt = 0;
  #closed = false;
  #timer: NodeJS.Timeout | null = null;
  #connected = false;
  #ready: Promise<void>;
  #readyResolve!: () => void;
  #readyReject!: (err: Error) => void;
  /** Frames written while disconnected, sent after the next welcome. */
  #outbox: string[] = [];
  /** The connection id of relayd's welcome. */
  connectionId: string | null = null;
  /** Why the connection ended for good (a refused token), if it did. */
  protected failure: Error | null = null;

  constructor(options: RelayClientOptions) {
    super();
    this.#url = `${options.url.replace(/^http/, 'ws').replace(/\/+$/, '')}/v1/connect`;
    this.#token = options.token;
    this.#minDelay = options.reconnect?.minDelayMs ?? 250;
    this.#maxDelay = options.reconnect?.maxDelayMs ?? 10_000;
    this.#ready = new Promise((resolve, reject) => {
      this.#readyResolve = resolve;
      this.#readyReject = reject;
    });
    // A rejection nobody awaited must not crash the process; ready() still reports it.
    this.#ready.catch(() => undefined);
    this.#open();
  }

  /** Resolves once connected (the first time); rejects if the token is refused. */
  ready(): Promise<void> {
    return this.#ready;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Closes the socket for good. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    const ws = this.#ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      ws.close(1000);
    });
  }

  protected abstract onFrame(frame: Frame): void;
  /** Called on every welcome, after the outbox has gone out. */
  protected onConnected(): void {}
  protected onFatal(_err: Error): void {}

  /** Sends now, or after the next welcome when disconnected. */
  protected write(frame: object): void {
    if (!this.writeIfConnected(frame)) this.#outbox.push(JSON.stringify(frame));
  }

  /** Sends now if connected; false otherwise. */
  protected writeIfConnected(frame: object): boolean {
    if (!this.#connected || this.#ws?.readyState !== WebSocket.OPEN) return false;
    this.#ws.send(JSON.stringify(frame));
    return true;
  }

  #open(): void {
    const ws = new WebSocket(this.#url, { headers: { authorization: `Bearer ${this.#token}` } });
    this.#ws = ws;
    ws.on('unexpected-response', (_req, res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      ws.terminate();
      if (status === 401) this.#fatal(new RelayFailure({ code: 'unauthorized', message: 'relayd refused the token (401)' }, null));
    });
    ws.on('message', (data) => {
      let frame: Frame;
      try {
        frame = JSON.parse(data.toString()) as Frame;
      } catch {
        return;
      }
      if (frame.type === 'welcome') {
        this.connectionId = (frame as unknown as WelcomeFrame).connectionId;
        this.#connected = true;
        this.#attempt = 0;
        const queued = this.#outbox;
        this.#outbox = [];
        for (const data of queued) ws.send(data);
        this.onConnected();
        this.#readyResolve();
        this.emit('connected', this.connectionId);
        return;
      }
      this.onFrame(frame);
    });
    ws.on('error', () => undefined);
    ws.on('close', (code) => {
      const wasConnected = this.#connected;
      this.#connected = false;
      if (wasConnected) this.emit('disconnected', code);
      if (this.#closed) return;
      if (FATAL_CLOSE.has(code)) {
        this.#fatal(new RelayFailure({ code: 'unauthorized', message: `relayd closed the connection with ${code}: the token is no longer valid` }, null));
        return;
      }
      this.#scheduleReconnect();
    });
  }

  #scheduleReconnect(): void {
    if (this.#closed || this.#timer) return;
    const ceiling = Math.min(this.#maxDelay, this.#minDelay * 2 ** this.#attempt);
    this.#attempt++;
    // Full jitter: many clients cut off at once do not all come back at once.
    const delay = Math.random() * ceiling;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (!this.#closed) this.#open();
    }, delay);
  }

  #fatal(err: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.failure = err;
    if (this.#timer) clearTimeout(this.#timer);
    this.#readyReject(err);
    this.onFatal(err);
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
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
 * `RelayFailure`; every reply and failure is acknowledged once handed over. Outcomes of
 * events this instance did not send come as `'outcome'` events (then acknowledged).
 */
export class RelayApp extends RelayConnection {
  readonly #byRef = new Map<string, PendingSend>();
  readonly #byEvent = new Map<string, PendingSend>();

  send(agent: string, thread: string, payload: unknown, options: SendOptions = {}): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
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

  protected override onFatal(err: Error): void {
    for (const pending of this.#byRef.values()) pending.reject(err);
    this.#byRef.clear();
    this.#byEvent.clear();
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
        if (this.listenerCount('protocolError') > 0) this.emit('protocolError', frame.error);
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
export class RelayAgent extends RelayConnection {
  readonly #handler: AgentHandler;

  constructor(options: RelayClientOptions & { handler: AgentHandler }) {
    super(options);
    this.#handler = options.handler;
  }

  protected onFrame(frame: Frame): void {
    if (frame.type !== 'event') {
      if (frame.type === 'error' && this.listenerCount('protocolError') > 0) this.emit('protocolError', frame.error);
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
