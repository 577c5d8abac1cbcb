import type { Event } from '../../src/shared/api.js';
import { formatDuration } from '../../src/shared/duration.js';
import type { EventError, EventErrorCode } from '../../src/shared/protocol/relay.js';
import type { EventPatch, EventRecord, Store, TimelineRecord } from '../store/store.js';
import { DEFAULT_AGENT_TIMEOUT_MS } from './agents.js';
import type { Clock } from './clock.js';
import { newEventId, type EventLog } from './events.js';
import { compositeKey as key } from './keys.js';
import type { WebhookSink } from './webhooks.js';

/** A relay-protocol socket as the dispatcher sees it. */
export interface Session {
  readonly id: string;
  readonly org: string;
  /** The app or agent id. */
  readonly ownerId: string;
  /** Sends one encoded frame; false when the socket is closing and nothing was sent. */
  send(data: string): boolean;
}

export interface DispatcherDeps {
  store: Store;
  log: EventLog;
  clock: Clock;
  /** Deliveries to an agent that end with it disconnecting before the event fails. */
  maxAttempts: number;
  webhooks: WebhookSink;
  onError(err: unknown, what: string): void;
}

type JobState = 'accepting' | 'waiting' | 'inflight' | 'settled';

/** An accepted agent event from its acceptance until its app acknowledges the outcome. */
interface Job {
  id: string;
  org: string;
  appId: string;
  agent: string;
  thread: string;
  name: string | null;
  ref: string | null;
  /** JSON text, embedded as it is in the frame to the agent. */
  payload: string;
  createdAt: number;
  timeoutMs: number;
  attempt: number;
  state: JobState;
  status: Event['status'];
  latencyMs: number | null;
  /** The app connection that sent it: its outcome goes there first. */
  sender: string | null;
  /** The agent connection working on it. */
  worker: string | null;
  timer: NodeJS.Timeout | null;
  /** The encoded `reply` or `failed` frame, once there is an outcome. */
  outcome: string | null;
  /** The app connection the outcome was last sent to. */
  sentTo: string | null;
}

interface AgentConnection {
  session: Session;
  inflight: Set<Job>;
}

export type Rejection = { code: EventErrorCode; message: string };


/** JSON of `head` with one more member whose value is JSON text already: payloads are never parsed again. */
function withRaw(head: object, name: string, json: string): string {
  return `${JSON.stringify(head).slice(0, -1)},"${name}":${json}}`;
}

/**
 * The agent relay's routing, after the edges have parsed and authenticated: durable
 * acceptance, per-thread order, delivery to an agent connection, timeouts, redelivery on
 * disconnect, and outcomes held for the app until it acknowledges them.
 *
 * Order: each (app, agent, thread) has a FIFO queue and only its head is ever with the
 * agent; the head leaves the queue when it has an outcome. The slot in the queue is taken
 * when the frame arrives, before anything asynchronous, so that acceptance order is
 * arrival order.
 */
export class Dispatcher {
  readonly #deps: DispatcherDeps;
  /** Every unsettled job, by event id. */
  readonly #jobs = new Map<string, Job>();
  readonly #threads = new Map<string, Job[]>();
  /** Thread heads waiting for a connection of their agent, in the order they became ready. */
  readonly #ready = new Map<string, Set<Job>>();
  readonly #agents = new Map<string, Map<string, AgentConnection>>();
  readonly #apps = new Map<string, Map<string, Session>>();
  /** Outcomes not yet acknowledged, per app. */
  readonly #outbox = new Map<string, Set<Job>>();
  #stopping = false;

  constructor(deps: DispatcherDeps) {
    this.#deps = deps;
  }

  /** Picks up the work owed from before a restart: pending events, and outcomes never acked. */
  async start(): Promise<void> {
    const timeouts = new Map<string, number>();
    for (const record of await this.#deps.store.listUnsettledEvents()) {
      const agentKey = key(record.org, record.agent ?? '');
      let timeoutMs = timeouts.get(agentKey);
      if (timeoutMs === undefined) {
        timeoutMs = (await this.#deps.store.getAgent(record.org, record.agent ?? ''))?.timeoutMs ?? DEFAULT_AGENT_TIMEOUT_MS;
        timeouts.set(agentKey, timeoutMs);
      }
      const job = this.#fromRecord(record, timeoutMs);
      this.#jobs.set(job.id, job);
      if (job.outcome !== null) this.#outboxOf(job).add(job);
      else this.#threadOf(job).push(job);
    }
    for (const queue of this.#threads.values()) {
      const head = queue[0];
      if (head) this.#schedule(head);
    }
  }

  /** Shutdown: timers off, and agents cut off by it are not held against their events. */
  stop(): void {
    this.#stopping = true;
    for (const job of this.#jobs.values()) if (job.timer) clearTimeout(job.timer);
  }

  get pending(): number {
    return this.#jobs.size;
  }

  // ---- connections

  openApp(session: Session): void {
    const conns = this.#apps.get(key(session.org, session.ownerId)) ?? new Map<string, Session>();
    this.#apps.set(key(session.org, session.ownerId), conns);
    conns.set(session.id, session);
    for (const job of this.#outbox.get(key(session.org, session.ownerId)) ?? []) {
      if (job.sentTo === null || !conns.has(job.sentTo)) this.#sendOutcome(job);
    }
  }

  closeApp(session: Session): void {
    const appKey = key(session.org, session.ownerId);
    const conns = this.#apps.get(appKey);
    conns?.delete(session.id);
    if (conns?.size === 0) this.#apps.delete(appKey);
    // Outcomes that went to this connection and were never acked go to another one.
    for (const job of this.#outbox.get(appKey) ?? []) {
      if (job.sentTo === session.id) {
        job.sentTo = null;
        this.#sendOutcome(job);
      }
    }
  }

  openAgent(session: Session): void {
    const agentKey = key(session.org, session.ownerId);
    const conns = this.#agents.get(agentKey) ?? new Map<string, AgentConnection>();
    this.#agents.set(agentKey, conns);
    conns.set(session.id, { session, inflight: new Set() });
    const ready = this.#ready.get(agentKey);
    if (!ready) return;
    this.#ready.delete(agentKey);
    for (const job of ready) this.#dispatch(job, this.#leastLoaded(conns));
  }

  closeAgent(session: Session): void {
    const agentKey = key(session.org, session.ownerId);
    const conns = this.#agents.get(agentKey);
    const conn = conns?.get(session.id);
    if (!conns || !conn) return;
    conns.delete(session.id);
    if (conns.size === 0) this.#agents.delete(agentKey);
    for (const job of conn.inflight) {
      if (job.timer) clearTimeout(job.timer);
      job.timer = null;
      job.worker = null;
      if (job.attempt >= this.#deps.maxAttempts && !this.#stopping) {
        const message = `the agent disconnected while working on it, ${job.attempt} times; giving up`;
        void this.#settle(job, { error: { code: 'too_many_attempts', message } });
        continue;
      }
      job.state = 'waiting';
      this.#hold(job, {}, 'interrupted', { attempt: job.attempt, connectionId: session.id });
      if (!this.#stopping) this.#schedule(job);
    }
  }

  // ---- apps and agents deleted

  /**
   * The app is being deleted: its events leave the relay. Those without an outcome fail (an
   * agent's reply would have nowhere to go); none waits for an ack any more.
   */
  async forgetApp(org: string, appId: string): Promise<void> {
    const writes: Promise<boolean>[] = [];
    const error = { code: 'app_deleted', message: `app "${appId}" was deleted` };
    for (const job of [...this.#jobs.values()]) {
      if (job.org !== org || job.appId !== appId) continue;
      this.#drop(job);
      const now = this.#deps.clock.now();
      if (job.outcome === null) {
        job.status = 'failed';
        writes.push(this.#record(job, { status: 'failed', error: JSON.stringify(error), outcomeAt: now, ackedAt: now }, 'failed', { attempt: job.attempt, code: error.code }));
      } else {
        writes.push(this.#record(job, { ackedAt: now }, 'dropped', { reason: error.message }));
      }
    }
    await Promise.all(writes);
  }

  /**
   * The agent is being deleted: the events still waiting for it fail, and their apps are
   * told as for any failure. With `purge` (their history is going), none waits for an ack.
   */
  async forgetAgent(org: string, agent: string, purge: boolean): Promise<void> {
    const message = `agent "${agent}" was deleted`;
    for (const job of [...this.#jobs.values()]) {
      if (job.org === org && job.agent === agent && job.outcome === null) await this.#settle(job, { error: { code: 'agent_not_found', message } });
    }
    this.#ready.delete(key(org, agent));
    if (!purge) return;
    for (const job of [...this.#jobs.values()]) if (job.org === org && job.agent === agent) this.#drop(job);
  }

  /** Takes a job out of every queue and timer, without a word to anyone. */
  #drop(job: Job): void {
    if (job.timer) clearTimeout(job.timer);
    job.timer = null;
    if (job.worker !== null) this.#agents.get(key(job.org, job.agent))?.get(job.worker)?.inflight.delete(job);
    job.worker = null;
    this.#ready.get(key(job.org, job.agent))?.delete(job);
    const threadKey = key(job.org, job.appId, job.agent, job.thread);
    const queue = this.#threads.get(threadKey)?.filter((j) => j !== job);
    if (queue && queue.length > 0) this.#threads.set(threadKey, queue);
    else this.#threads.delete(threadKey);
    this.#outbox.get(key(job.org, job.appId))?.delete(job);
    this.#jobs.delete(job.id);
    job.state = 'settled';
  }

  // ---- frames from apps

  /**
   * Takes the event's place in its thread at once, then checks and stores it. Resolves with
   * the event id once it is durable (`accepted`), or with the reason it was refused.
   */
  async accept(
    app: Session,
    frame: { ref?: string | undefined; agent: string; thread: string; name?: string | undefined; payload: unknown },
    check: () => Promise<{ timeoutMs: number } | Rejection>,
  ): Promise<{ eventId: string; rejection: Rejection | null }> {
    const now = this.#deps.clock.now();
    const job: Job = {
      id: newEventId(now),
      org: app.org,
      appId: app.ownerId,
      agent: frame.agent,
      thread: frame.thread,
      name: frame.name ?? null,
      ref: frame.ref ?? null,
      payload: JSON.stringify(frame.payload),
      createdAt: now,
      timeoutMs: DEFAULT_AGENT_TIMEOUT_MS,
      attempt: 0,
      state: 'accepting',
      status: 'pending',
      latencyMs: null,
      sender: app.id,
      worker: null,
      timer: null,
      outcome: null,
      sentTo: null,
    };
    const queue = this.#threadOf(job);
    queue.push(job);
    try {
      const checked = await check();
      if ('code' in checked) {
        this.#leaveThread(job);
        job.status = 'rejected';
        await this.#insert(job, { error: JSON.stringify(checked) }, 'rejected', { code: checked.code });
        this.#hook(job, 'event_rejected', { error: checked });
        return { eventId: job.id, rejection: checked };
      }
      job.timeoutMs = checked.timeoutMs;
      await this.#insert(job, {}, 'accepted', null);
    } catch (err) {
      this.#leaveThread(job);
      this.#deps.onError(err, 'could not accept an event');
      throw err;
    }
    this.#jobs.set(job.id, job);
    job.state = 'waiting';
    if (queue[0] === job) this.#schedule(job);
    return { eventId: job.id, rejection: null };
  }

  /** The app acknowledges an outcome: it is settled for good. */
  ack(app: Session, eventId: string): Rejection | null {
    const job = this.#jobs.get(eventId);
    if (!job || job.org !== app.org || job.appId !== app.ownerId) return { code: 'invalid_request', message: `event ${eventId} is not an unacknowledged event of this app` };
    if (job.outcome === null) return { code: 'invalid_request', message: `event ${eventId} has no reply or failure to acknowledge yet` };
    this.#jobs.delete(job.id);
    this.#outboxOf(job).delete(job);
    this.#hold(job, { ackedAt: this.#deps.clock.now() }, 'acked', null);
    return null;
  }

  // ---- frames from agents

  /** The agent's reply or error for an event it was given. */
  answer(agent: Session, eventId: string, answer: { reply: string } | { error: EventError }): Rejection | null {
    const job = this.#jobs.get(eventId);
    if (!job || job.org !== agent.org || job.agent !== agent.ownerId || job.outcome !== null) {
      return { code: 'invalid_request', message: `event ${eventId} is not waiting for a reply from agent "${agent.ownerId}"` };
    }
    // A reply for an event given to another (perhaps dropped) connection of the same agent still counts.
    if (job.state !== 'inflight' && !(job.state === 'waiting' && job.attempt > 0)) {
      return { code: 'invalid_request', message: `event ${eventId} has not been sent to agent "${agent.ownerId}" yet` };
    }
    void this.#settle(job, answer);
    return null;
  }

  // ---- routing

  #schedule(job: Job): void {
    const agentKey = key(job.org, job.agent);
    const conns = this.#agents.get(agentKey);
    if (conns && conns.size > 0) {
      this.#dispatch(job, this.#leastLoaded(conns));
      return;
    }
    const ready = this.#ready.get(agentKey) ?? new Set<Job>();
    this.#ready.set(agentKey, ready);
    ready.add(job);
  }

  #leastLoaded(conns: Map<string, AgentConnection>): AgentConnection {
    let best: AgentConnection | undefined;
    for (const conn of conns.values()) if (!best || conn.inflight.size < best.inflight.size) best = conn;
    return best as AgentConnection;
  }

  #dispatch(job: Job, conn: AgentConnection): void {
    job.state = 'inflight';
    job.attempt++;
    job.worker = conn.session.id;
    conn.inflight.add(job);
    conn.session.send(
      withRaw({ type: 'event', eventId: job.id, appId: job.appId, thread: job.thread, name: job.name, attempt: job.attempt }, 'payload', job.payload),
    );
    job.timer = setTimeout(() => {
      job.timer = null;
      const message = `the agent did not reply within ${formatDuration(job.timeoutMs)}`;
      void this.#settle(job, { error: { code: 'timeout', message } });
    }, job.timeoutMs);
    job.timer.unref();
    // Not held: after a crash the agent must be told this was a further attempt.
    void this.#record(job, { attempt: job.attempt }, 'dispatched', { attempt: job.attempt, connectionId: conn.session.id });
  }

  /** The event has its outcome: stored before the app hears of it, then the thread moves on. */
  async #settle(job: Job, answer: { reply: string } | { error: EventError }): Promise<void> {
    if (job.timer) clearTimeout(job.timer);
    job.timer = null;
    if (job.worker !== null) this.#agents.get(key(job.org, job.agent))?.get(job.worker)?.inflight.delete(job);
    this.#ready.get(key(job.org, job.agent))?.delete(job);
    job.worker = null;
    job.state = 'settled';
    const now = this.#deps.clock.now();
    job.latencyMs = now - job.createdAt;
    const head = { eventId: job.id, ref: job.ref, agent: job.agent, thread: job.thread };
    if ('reply' in answer) {
      job.outcome = withRaw({ type: 'reply', ...head, latencyMs: job.latencyMs }, 'payload', answer.reply);
    } else {
      job.status = 'failed';
      job.outcome = JSON.stringify({ type: 'failed', ...head, error: answer.error, latencyMs: job.latencyMs });
    }
    const patch: EventPatch =
      'reply' in answer
        ? { reply: answer.reply, outcomeAt: now, latencyMs: job.latencyMs }
        : { status: 'failed', error: JSON.stringify(answer.error), outcomeAt: now, latencyMs: job.latencyMs };
    const detail = 'reply' in answer ? { attempt: job.attempt } : { attempt: job.attempt, code: answer.error.code };
    if (!(await this.#record(job, patch, 'reply' in answer ? 'replied' : 'failed', detail))) return;
    if (!('reply' in answer)) this.#hook(job, 'event_failed', { error: answer.error, attempt: job.attempt, latency_ms: job.latencyMs });
    this.#leaveThread(job);
    this.#outboxOf(job).add(job);
    this.#sendOutcome(job);
  }

  /** To the connection that sent the event, else to another of the app's; else it waits for one. */
  #sendOutcome(job: Job): void {
    const conns = this.#apps.get(key(job.org, job.appId));
    if (!conns || conns.size === 0 || job.outcome === null) return;
    const sender = job.sender !== null ? conns.get(job.sender) : undefined;
    const outcome = job.outcome;
    // A socket the app is closing takes nothing: the next one does, or the next connection.
    const conn = [...(sender ? [sender] : []), ...conns.values()].find((c) => c.send(outcome));
    if (!conn) return;
    job.sentTo = conn.id;
    const delivered = job.status === 'pending';
    if (delivered) job.status = 'delivered';
    this.#hold(job, delivered ? { status: 'delivered' } : {}, 'sent', { connectionId: conn.id });
    if (delivered) this.#hook(job, 'event_delivered', { attempt: job.attempt, latency_ms: job.latencyMs });
  }

  /** The event's webhook: who sent what to whom, and the outcome's fields. */
  #hook(job: Job, name: 'event_delivered' | 'event_failed' | 'event_rejected', fields: Record<string, unknown>): void {
    this.#deps.webhooks.emit(job.org, job.appId, { name, event_id: job.id, app_id: job.appId, agent: job.agent, thread: job.thread, event: job.name, ...fields });
  }

  #leaveThread(job: Job): void {
    const threadKey = key(job.org, job.appId, job.agent, job.thread);
    const queue = this.#threads.get(threadKey);
    if (!queue) return;
    const at = queue.indexOf(job);
    if (at === -1) return;
    queue.splice(at, 1);
    if (queue.length === 0) {
      this.#threads.delete(threadKey);
      return;
    }
    const next = queue[0] as Job;
    if (at === 0 && next.state === 'waiting') this.#schedule(next);
  }

  #threadOf(job: Job): Job[] {
    const threadKey = key(job.org, job.appId, job.agent, job.thread);
    let queue = this.#threads.get(threadKey);
    if (!queue) {
      queue = [];
      this.#threads.set(threadKey, queue);
    }
    return queue;
  }

  #outboxOf(job: Job): Set<Job> {
    const appKey = key(job.org, job.appId);
    let outbox = this.#outbox.get(appKey);
    if (!outbox) {
      outbox = new Set();
      this.#outbox.set(appKey, outbox);
    }
    return outbox;
  }

  // ---- history

  #insert(job: Job, extra: Partial<EventRecord>, type: string, detail: TimelineRecord['detail']): Promise<void> {
    const event: EventRecord = {
      id: job.id,
      org: job.org,
      appId: job.appId,
      kind: 'agent',
      agent: job.agent,
      thread: job.thread,
      name: job.name,
      status: job.status,
      channels: null,
      payload: job.payload,
      socketId: null,
      latencyMs: null,
      createdAt: job.createdAt,
      ref: job.ref,
      attempt: 0,
      reply: null,
      error: null,
      outcomeAt: null,
      ackedAt: null,
      ...extra,
    };
    return this.#deps.log.write([{ type: 'insert', event, timeline: [this.#change(job, type, detail)] }]);
  }

  /**
   * A change of an event in history, written with the next group commit, and on the live
   * feed. Callers that must not go on before it is durable await it (false: it could not be
   * stored, and that was reported).
   */
  #record(job: Job, patch: EventPatch, type: string, detail: TimelineRecord['detail']): Promise<boolean> {
    const written = this.#deps.log.write([{ type: 'update', id: job.id, patch, timeline: [this.#change(job, type, detail)] }]);
    return written.then(
      () => true,
      (err: unknown) => {
        this.#deps.onError(err, `could not record "${type}" of ${job.id}`);
        return false;
      },
    );
  }

  /** A change whose loss in a crash costs only a repeat (see EventLog): on the live feed now, in history within moments. */
  #hold(job: Job, patch: EventPatch, type: string, detail: TimelineRecord['detail']): void {
    this.#deps.log.hold(job.id, patch, this.#change(job, type, detail));
  }

  /** The change numbered and on the live feed, with the event's state as it leaves it; written or held by the caller at once. */
  #change(job: Job, type: string, detail: TimelineRecord['detail']): TimelineRecord {
    const entry = { at: this.#deps.clock.now(), type, detail, status: job.status, latencyMs: job.latencyMs };
    return this.#deps.log.change(job.org, entry, () => ({
      id: job.id,
      kind: 'agent',
      appId: job.appId,
      agent: job.agent,
      thread: job.thread,
      name: job.name,
      createdAt: new Date(job.createdAt).toISOString(),
      channels: null,
    }));
  }

  #fromRecord(record: EventRecord, timeoutMs: number): Job {
    const agent = record.agent ?? '';
    const thread = record.thread ?? '';
    const head = { eventId: record.id, ref: record.ref, agent, thread };
    let outcome: string | null = null;
    if (record.outcomeAt !== null) {
      outcome =
        record.reply !== null
          ? withRaw({ type: 'reply', ...head, latencyMs: record.latencyMs }, 'payload', record.reply)
          : JSON.stringify({ type: 'failed', ...head, error: JSON.parse(record.error ?? 'null') as unknown, latencyMs: record.latencyMs });
    }
    return {
      id: record.id,
      org: record.org,
      appId: record.appId,
      agent,
      thread,
      name: record.name,
      ref: record.ref,
      payload: record.payload ?? 'null',
      createdAt: record.createdAt,
      timeoutMs,
      attempt: record.attempt,
      state: outcome === null ? 'waiting' : 'settled',
      status: record.status,
      latencyMs: record.latencyMs,
      // The connections of before the restart are gone.
      sender: null,
      worker: null,
      timer: null,
      outcome,
      sentTo: null,
    };
  }
}
