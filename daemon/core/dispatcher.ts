import type { Event } from '../../src/shared/api.js';
import { formatDuration } from '../../src/shared/duration.js';
import type { EventError } from '../../src/shared/protocol/relay.js';
import type { EventPatch, EventRecord, Store, TimelineRecord } from '../store/store.js';
import { DEFAULT_AGENT_TIMEOUT_MS } from './agents.js';
import type { Clock } from './clock.js';
import type { ControlMessage } from './control.js';
import { newEventId, type EventLog } from './events.js';
import { compositeKey as key } from './keys.js';
import type { Leases } from './leases.js';
import type { WebhookSink } from './webhooks.js';
import type { Usage } from './usage.js';

/** A relay-protocol socket as the dispatcher sees it. */
export interface Session {
  readonly id: string;
  readonly org: string;
  /** The app or agent id. */
  readonly ownerId: string;
  /** Sends one encoded frame; false when the socket is closing and nothing was sent. */
  send(data: string): boolean;
}

export type AgentWork = Extract<ControlMessage, { type: 'agentWork' }>;
export type AgentOutcome = Extract<ControlMessage, { type: 'agentOutcome' }>;
type Forget = Extract<ControlMessage, { type: 'agentRelayForget' }>;

/** The other nodes, over the control bus. Each call publishes at once: two calls arrive in their order. */
export interface Peers {
  /** To every other node: the owner of the event's agent takes it. */
  work(message: AgentWork): Promise<void>;
  /** To `node` (null: every other node): it holds the app's connection the outcome goes to. */
  outcome(node: string | null, message: AgentOutcome): Promise<void>;
  /** To every other node: this node no longer owns the agent's queue. */
  released(org: string, agent: string): Promise<void>;
  /** To every other node: drop what you hold of these events. */
  forget(message: Forget): Promise<void>;
}

export interface DispatcherDeps {
  store: Store;
  log: EventLog;
  clock: Clock;
  /** This node's id, the holder of its leases. */
  nodeId: string;
  leases: Leases;
  peers: Peers;
  /** Deliveries to an agent that end with it disconnecting before the event fails. */
  maxAttempts: number;
  webhooks: WebhookSink;
  /** Analytics and metrics: each event's outcome and latency, counted on the node that settles it. */
  usage: Usage;
  onError(err: unknown, what: string): void;
}

type JobState = 'waiting' | 'inflight' | 'settled';

/** An agent event as the owner's job and the app side's outcome both know it. */
interface EventState {
  id: string;
  org: string;
  appId: string;
  agent: string;
  thread: string;
  name: string | null;
  createdAt: number;
  attempt: number;
  status: Event['status'];
  latencyMs: number | null;
  /** The app connection that sent it: its outcome goes there first. */
  sender: string | null;
}

/** An accepted agent event on the node that owns its agent's queue, from acceptance until it has an outcome. */
interface Job extends EventState {
  ref: string | null;
  /** JSON text, embedded as it is in the frame to the agent. */
  payload: string;
  timeoutMs: number;
  state: JobState;
  /** The node of the app connection that sent it. */
  senderNode: string | null;
  /** The agent connection working on it. */
  worker: string | null;
  timer: NodeJS.Timeout | null;
}

/** An event's outcome on the node of the app's connection, until the app acknowledges it. */
interface Outcome extends EventState {
  /** The encoded `reply` or `failed` frame. */
  frame: string;
  /** The app connection it was last sent to. */
  sentTo: string | null;
}

interface AgentConnection {
  session: Session;
  inflight: Set<Job>;
}

/** Why an event was refused: a code and message, and a schema violation's errors. */
export type Rejection = EventError;

/** JSON of `head` with one more member whose value is JSON text already: payloads are never parsed again. */
function withRaw(head: object, name: string, json: string): string {
  return `${JSON.stringify(head).slice(0, -1)},"${name}":${json}}`;
}

/** Ids are letters, digits and hyphens: a colon keeps the parts apart (and PostgreSQL text takes no NUL). */
const leaseName = (org: string, agent: string): string => `agent:${org}:${agent}`;

/**
 * The agent relay's routing, after the edges have parsed and authenticated: durable
 * acceptance, per-thread order, delivery to an agent connection, timeouts, redelivery on
 * disconnect, and outcomes held for the app until it acknowledges them.
 *
 * Across nodes: each agent's queue is owned by one node at a time, the holder of the agent's
 * lease, taken by a node where the agent is connected (SQS's visibility timeout, a JetStream
 * consumer's ack wait). An event is accepted (stored) on the app's node and handed to the
 * owner; the owner delivers it to its connections of the agent, times it out, and sends the
 * outcome back to the app's node, which holds it until the app acknowledges it. A node that
 * dies stops renewing its leases; another node where the agent connects takes its queue over
 * from the store and redelivers what was in flight (attempt + 1). On one node, the same code
 * runs with this node owning every connected agent.
 *
 * Order: each (app, agent, thread) has a FIFO queue, by acceptance, on the owner, and only its
 * head is ever with the agent; the head leaves the queue when it has an outcome. Events of one
 * thread are checked and stored in arrival order on the node that accepts them.
 */
export class Dispatcher {
  readonly #deps: DispatcherDeps;
  // ---- the owner's side: the queues of the agents whose lease this node holds
  /** Every job of an owned agent without an outcome, by event id. */
  readonly #jobs = new Map<string, Job>();
  readonly #threads = new Map<string, Job[]>();
  /** Thread heads waiting for a connection of their agent, in the order they became ready. */
  readonly #ready = new Map<string, Set<Job>>();
  readonly #agents = new Map<string, Map<string, AgentConnection>>();
  /** Agents whose lease this node holds; those still reading their work from the store dispatch nothing yet. */
  readonly #owned = new Map<string, { org: string; agent: string }>();
  readonly #loading = new Set<string>();
  /** Agents this node is taking or giving up the lease of: one at a time per agent. */
  readonly #moving = new Map<string, Promise<void>>();
  /**
   * For each read of the store under way, the events settled or acknowledged here meanwhile:
   * the read may have found them as they were before, and must not bring them back.
   */
  readonly #reads = new Set<Set<string>>();
  // ---- the app's side: its connections on this node and the outcomes they are owed
  readonly #apps = new Map<string, Map<string, Session>>();
  readonly #outbox = new Map<string, Map<string, Outcome>>();
  /** Per thread, the acceptance under way on this node: the next one is checked after it. */
  readonly #turns = new Map<string, Promise<unknown>>();
  #stopping = false;

  constructor(deps: DispatcherDeps) {
    this.#deps = deps;
    // Each renewal: agents connected here whose queue nobody could be given yet (its owner died), and a re-read of the owned queues.
    deps.leases.onTick(() => this.#tick());
  }

  /** Shutdown: timers off, and agents cut off by it are not held against their events. */
  stop(): void {
    this.#stopping = true;
    for (const job of this.#jobs.values()) if (job.timer) clearTimeout(job.timer);
  }

  /** Shutdown, once history is written: the owned queues are given up, and the other nodes told, so that one with the agent takes them at once. */
  async release(): Promise<void> {
    for (const [agentKey, { org, agent }] of [...this.#owned]) {
      await this.#deps.leases.release(leaseName(org, agent)).catch((err: unknown) => this.#deps.onError(err, `could not give up the queue of agent ${agent}`));
      this.#owned.delete(agentKey);
      await this.#deps.peers.released(org, agent).catch((err: unknown) => this.#deps.onError(err, 'could not tell the other nodes'));
    }
  }

  // ---- connections

  /** The app's connection: the outcomes it is owed go to it, those held here and those in the store. */
  async openApp(session: Session): Promise<void> {
    const appKey = key(session.org, session.ownerId);
    const conns = this.#apps.get(appKey) ?? new Map<string, Session>();
    this.#apps.set(appKey, conns);
    conns.set(session.id, session);
    for (const outcome of this.#outbox.get(appKey)?.values() ?? []) {
      if (outcome.sentTo === null || !conns.has(outcome.sentTo)) this.#sendOutcome(outcome);
    }
    // Outcomes stored by another node, or before a restart.
    const { records, changed } = await this.#read({ org: session.org, appId: session.ownerId });
    for (const record of records) {
      if (record.outcomeAt === null || this.#outbox.get(appKey)?.has(record.id) || changed.has(record.id)) continue;
      this.#takeOutcome(outcomeFromRecord(record));
    }
  }

  closeApp(session: Session): void {
    const appKey = key(session.org, session.ownerId);
    const conns = this.#apps.get(appKey);
    conns?.delete(session.id);
    if (conns?.size === 0) {
      // The store keeps them: whichever node the app connects to next reads them from there.
      this.#apps.delete(appKey);
      this.#outbox.delete(appKey);
      return;
    }
    // Outcomes that went to this connection and were never acked go to another one here.
    for (const outcome of this.#outbox.get(appKey)?.values() ?? []) {
      if (outcome.sentTo === session.id) {
        outcome.sentTo = null;
        this.#sendOutcome(outcome);
      }
    }
  }

  /** The agent's connection: its queue is dispatched here if this node owns it, or can take it. */
  async openAgent(session: Session): Promise<void> {
    const agentKey = key(session.org, session.ownerId);
    const conns = this.#agents.get(agentKey) ?? new Map<string, AgentConnection>();
    this.#agents.set(agentKey, conns);
    conns.set(session.id, { session, inflight: new Set() });
    if (this.#owned.has(agentKey)) this.#dispatchReady(agentKey);
    else await this.#own(session.org, session.ownerId);
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
    if (conns.size === 0 && this.#owned.has(agentKey) && !this.#stopping) void this.#disown(session.org, session.ownerId);
  }

  // ---- owning an agent's queue

  /** One lease move of an agent at a time on this node. */
  #move(org: string, agent: string, step: () => Promise<void>): Promise<void> {
    const agentKey = key(org, agent);
    const previous = this.#moving.get(agentKey) ?? Promise.resolve();
    const next = previous.then(step).catch((err: unknown) => this.#deps.onError(err, `could not move the queue of agent ${agent}`));
    this.#moving.set(agentKey, next);
    void next.then(() => {
      if (this.#moving.get(agentKey) === next) this.#moving.delete(agentKey);
    });
    return next;
  }

  /** Takes the agent's lease if it is free, then its work from the store; dispatches it to the connections here. */
  #own(org: string, agent: string): Promise<void> {
    return this.#move(org, agent, async () => {
      const agentKey = key(org, agent);
      if (this.#owned.has(agentKey) || !this.#agents.has(agentKey) || this.#stopping) return;
      if (!(await this.#deps.leases.acquire(leaseName(org, agent), () => this.#lost(org, agent)))) return;
      this.#owned.set(agentKey, { org, agent });
      this.#loading.add(agentKey);
      try {
        await this.#load(org, agent);
      } finally {
        this.#loading.delete(agentKey);
      }
      // Every thread head found or handed over meanwhile is in the ready set.
      this.#dispatchReady(agentKey);
    });
  }

  /** The owned agent's events without an outcome, from the store, beside those already here. */
  async #load(org: string, agent: string): Promise<void> {
    const { records, changed } = await this.#read({ org, agent });
    if (!records.some((r) => r.outcomeAt === null && !this.#jobs.has(r.id))) return;
    const timeoutMs = (await this.#deps.store.getAgent(org, agent))?.timeoutMs ?? DEFAULT_AGENT_TIMEOUT_MS;
    for (const record of records) {
      if (record.outcomeAt !== null || changed.has(record.id)) continue;
      // Its key was retired while it waited: there is nothing left to deliver, so it fails (and the app is told).
      if (record.erased && !this.#jobs.has(record.id)) {
        const message = `the event's payload was erased with its key ${record.erased.keyId} before the agent got it`;
        void this.#settle(jobFromRecord(record, timeoutMs), { error: { code: 'payload_erased', message } });
        continue;
      }
      this.#enqueue(jobFromRecord(record, timeoutMs));
    }
  }

  /** The agent's last connection here closed: its queue goes back to the store for the next node where it connects. */
  #disown(org: string, agent: string): Promise<void> {
    return this.#move(org, agent, async () => {
      const agentKey = key(org, agent);
      if (!this.#owned.has(agentKey)) return;
      // What the next owner reads (each attempt made) is written first; not drain(), which under steady traffic may not end.
      await this.#deps.log.caughtUp();
      if (this.#agents.has(agentKey) || this.#stopping) return;
      this.#forgetJobs((job) => job.org === org && job.agent === agent);
      this.#owned.delete(agentKey);
      await this.#deps.leases.release(leaseName(org, agent));
      await this.#deps.peers.released(org, agent);
    });
  }

  /** Another node took the lease (this one was silent past it): its jobs here are no longer ours to deliver. */
  #lost(org: string, agent: string): void {
    const agentKey = key(org, agent);
    this.#owned.delete(agentKey);
    this.#forgetJobs((job) => job.org === org && job.agent === agent);
  }

  /** Another node gave up an agent's queue: this node takes it if the agent is connected here. */
  async agentReleased(org: string, agent: string): Promise<void> {
    if (this.#agents.has(key(org, agent))) await this.#own(org, agent);
  }

  /** The unsettled events in the store (every change made here before it, held ones included), and what was settled or acked here while it was read. */
  async #read(scope: { org: string; agent?: string; appId?: string }): Promise<{ records: EventRecord[]; changed: Set<string> }> {
    const changed = new Set<string>();
    this.#reads.add(changed);
    try {
      await this.#deps.log.caughtUp();
      return { records: await this.#deps.store.listUnsettledEvents(scope), changed };
    } finally {
      this.#reads.delete(changed);
    }
  }

  #changedWhileReading(id: string): void {
    for (const changed of this.#reads) changed.add(id);
  }

  async #tick(): Promise<void> {
    for (const [agentKey, conns] of this.#agents) {
      const { org, ownerId } = (conns.values().next().value as AgentConnection).session;
      if (!this.#owned.has(agentKey)) await this.#own(org, ownerId);
      // A hand-over missed (a broker outage) is found in the store.
      else if (!this.#loading.has(agentKey)) await this.#move(org, ownerId, () => this.#load(org, ownerId));
    }
  }

  // ---- apps and agents deleted

  /**
   * The app is being deleted: its events leave the relay. Those without an outcome fail (an
   * agent's reply would have nowhere to go); none waits for an ack any more. Every node drops
   * what it holds of them; this one settles them in the store.
   */
  async forgetApp(org: string, appId: string): Promise<void> {
    const forget: Forget = { type: 'agentRelayForget', org, appId, agent: null, purge: true };
    this.forget(forget);
    await this.#deps.peers.forget(forget);
    await this.#deps.log.caughtUp();
    const error = { code: 'app_deleted', message: `app "${appId}" was deleted` };
    const now = this.#deps.clock.now();
    const writes: Promise<boolean>[] = [];
    for (const record of await this.#deps.store.listUnsettledEvents({ org, appId })) {
      const job = jobFromRecord(record, 0);
      if (record.outcomeAt === null) {
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
    const jobs: Forget = { type: 'agentRelayForget', org, appId: null, agent, purge: false };
    this.forget(jobs);
    await this.#deps.peers.forget(jobs);
    await this.#deps.log.caughtUp();
    const message = `agent "${agent}" was deleted`;
    for (const record of await this.#deps.store.listUnsettledEvents({ org, agent })) {
      if (record.outcomeAt === null) await this.#settle(jobFromRecord(record, 0), { error: { code: 'agent_not_found', message } });
    }
    if (!purge) return;
    const outcomes: Forget = { ...jobs, purge: true };
    this.forget(outcomes);
    await this.#deps.peers.forget(outcomes);
  }

  /** Drops, without a word to anyone, what this node holds of the events of an app or agent being deleted. */
  forget(message: Forget): void {
    const matches = (e: { org: string; appId: string; agent: string }): boolean =>
      e.org === message.org && (message.appId === null || e.appId === message.appId) && (message.agent === null || e.agent === message.agent);
    this.#forgetJobs(matches);
    if (message.agent !== null) this.#ready.delete(key(message.org, message.agent));
    if (!message.purge) return;
    for (const outbox of this.#outbox.values()) for (const [id, outcome] of outbox) if (matches(outcome)) outbox.delete(id);
  }

  /** Takes jobs out of every queue and timer, without a word to anyone. */
  #forgetJobs(which: (job: Job) => boolean): void {
    for (const job of [...this.#jobs.values()]) if (which(job)) this.#drop(job);
  }

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
    this.#jobs.delete(job.id);
    job.state = 'settled';
  }

  // ---- frames from apps

  /**
   * Checks and stores the event, after the one before it on its thread (from this node), so
   * that acceptance order is arrival order; then hands it to its agent's owner. Resolves with
   * the event id once it is durable (`accepted`), or with the reason it was refused.
   */
  async accept(
    app: Session,
    frame: { ref?: string | undefined; agent: string; thread: string; name?: string | undefined; payload: unknown },
    check: () => Promise<{ timeoutMs: number; payload?: unknown } | Rejection>,
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
      state: 'waiting',
      status: 'pending',
      latencyMs: null,
      sender: app.id,
      senderNode: this.#deps.nodeId,
      worker: null,
      timer: null,
    };
    // The write is issued in turn; its commit is awaited outside it, so that a thread's events still commit together.
    const issued = this.#inTurn(key(job.org, job.appId, job.agent, job.thread), async () => {
      const checked = await check();
      if ('code' in checked) {
        job.status = 'rejected';
        return { rejection: checked, written: this.#insert(job, { error: JSON.stringify(checked) }, 'rejected', { code: checked.code }) };
      }
      job.timeoutMs = checked.timeoutMs;
      // A before-dispatch function's payload replaces the app's: what is stored is what the agent gets.
      if (Object.hasOwn(checked, 'payload')) job.payload = JSON.stringify(checked.payload);
      return { rejection: null, written: this.#insert(job, {}, 'accepted', null) };
    });
    let rejection: Rejection | null;
    try {
      const turn = await issued;
      rejection = turn.rejection;
      await turn.written;
    } catch (err) {
      this.#deps.onError(err, 'could not accept an event');
      throw err;
    }
    if (rejection) {
      this.#hook(job, 'event_rejected', { error: rejection });
      return { eventId: job.id, rejection };
    }
    this.#route(job);
    return { eventId: job.id, rejection: null };
  }

  /** Runs `step` after the previous step of the same key on this node has finished. */
  #inTurn<T>(turnKey: string, step: () => Promise<T>): Promise<T> {
    const previous = this.#turns.get(turnKey);
    // Alone on its thread (the usual case), it starts at once.
    const mine = previous ? previous.then(step) : step();
    const done = mine.then(
      () => undefined,
      () => undefined,
    );
    this.#turns.set(turnKey, done);
    void done.then(() => {
      if (this.#turns.get(turnKey) === done) this.#turns.delete(turnKey);
    });
    return mine;
  }

  /** An accepted event to its agent's queue: here if this node owns it, else to the owner (if none, it waits in the store for one). */
  #route(job: Job): void {
    if (this.#owned.has(key(job.org, job.agent))) {
      this.#enqueue(job);
      return;
    }
    const work: AgentWork = {
      type: 'agentWork',
      id: job.id,
      org: job.org,
      appId: job.appId,
      agent: job.agent,
      thread: job.thread,
      name: job.name,
      ref: job.ref,
      payload: job.payload,
      createdAt: job.createdAt,
      timeoutMs: job.timeoutMs,
      sender: job.sender,
      senderNode: this.#deps.nodeId,
    };
    this.#deps.peers.work(work).catch((err: unknown) => this.#deps.onError(err, `could not hand ${job.id} to the node of agent ${job.agent}; it waits in history for it`));
  }

  /** An event accepted on another node, for an agent whose queue this node owns. */
  receiveWork(work: AgentWork): void {
    if (!this.#owned.has(key(work.org, work.agent))) return;
    const { type: _type, ...fields } = work;
    this.#enqueue({ ...fields, attempt: 0, state: 'waiting', status: 'pending', latencyMs: null, worker: null, timer: null });
  }

  /** Into its thread's queue, in id (acceptance) order, behind the head if that is with the agent (or getting its outcome). */
  #enqueue(job: Job): void {
    if (this.#jobs.has(job.id)) return;
    this.#jobs.set(job.id, job);
    const queue = this.#threadOf(job);
    let at = queue.length;
    while (at > 0 && (queue[at - 1] as Job).id > job.id && !(at === 1 && (queue[0] as Job).state !== 'waiting')) at--;
    queue.splice(at, 0, job);
    if (at === 0) {
      const displaced = queue[1];
      if (displaced && displaced.state === 'waiting') this.#ready.get(key(job.org, job.agent))?.delete(displaced);
      this.#schedule(job);
    }
  }

  /** The app acknowledges an outcome: it is settled for good. */
  async ack(app: Session, eventId: string): Promise<Rejection | null> {
    const appKey = key(app.org, app.ownerId);
    const held = this.#outbox.get(appKey)?.get(eventId);
    if (held) {
      this.#outbox.get(appKey)?.delete(eventId);
      this.#changedWhileReading(eventId);
      this.#deps.log.hold(held, { ackedAt: this.#deps.clock.now() }, this.#change(held, 'acked', null));
      return null;
    }
    // An outcome this node never held (sent by another node): the store knows it.
    await this.#deps.log.caughtUp();
    const record = await this.#deps.store.getEvent(eventId);
    if (!record || record.kind !== 'agent' || record.org !== app.org || record.appId !== app.ownerId || record.ackedAt !== null || record.status === 'rejected') {
      return { code: 'invalid_request', message: `event ${eventId} is not an unacknowledged event of this app` };
    }
    if (record.outcomeAt === null) return { code: 'invalid_request', message: `event ${eventId} has no reply or failure to acknowledge yet` };
    this.#changedWhileReading(eventId);
    const outcome = outcomeFromRecord(record);
    this.#deps.log.hold(outcome, { ackedAt: this.#deps.clock.now() }, this.#change(outcome, 'acked', null));
    return null;
  }

  // ---- frames from agents

  /** The agent's reply or error for an event it was given. */
  answer(agent: Session, eventId: string, answer: { reply: string } | { error: EventError }): Rejection | null {
    const job = this.#jobs.get(eventId);
    if (!job || job.org !== agent.org || job.agent !== agent.ownerId || job.state === 'settled') {
      return { code: 'invalid_request', message: `event ${eventId} is not waiting for a reply from agent "${agent.ownerId}"` };
    }
    // A reply for an event given to another (perhaps dropped) connection of the same agent still counts.
    if (job.state !== 'inflight' && !(job.state === 'waiting' && job.attempt > 0)) {
      return { code: 'invalid_request', message: `event ${eventId} has not been sent to agent "${agent.ownerId}" yet` };
    }
    void this.#settle(job, answer);
    return null;
  }

  // ---- routing on the owner

  #schedule(job: Job): void {
    const agentKey = key(job.org, job.agent);
    const conns = this.#agents.get(agentKey);
    if (conns && conns.size > 0 && !this.#loading.has(agentKey) && this.#owned.has(agentKey)) {
      this.#dispatch(job, this.#leastLoaded(conns));
      return;
    }
    const ready = this.#ready.get(agentKey) ?? new Set<Job>();
    this.#ready.set(agentKey, ready);
    ready.add(job);
  }

  #dispatchReady(agentKey: string): void {
    const ready = this.#ready.get(agentKey);
    const conns = this.#agents.get(agentKey);
    if (!ready || !conns || this.#loading.has(agentKey)) return;
    this.#ready.delete(agentKey);
    for (const job of ready) this.#dispatch(job, this.#leastLoaded(conns));
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
    let frame: string;
    if ('reply' in answer) {
      frame = withRaw({ type: 'reply', ...head, latencyMs: job.latencyMs }, 'payload', answer.reply);
    } else {
      job.status = 'failed';
      frame = JSON.stringify({ type: 'failed', ...head, error: answer.error, latencyMs: job.latencyMs });
    }
    const patch: EventPatch =
      'reply' in answer
        ? { reply: answer.reply, outcomeAt: now, latencyMs: job.latencyMs }
        : { status: 'failed', error: JSON.stringify(answer.error), outcomeAt: now, latencyMs: job.latencyMs };
    const detail = 'reply' in answer ? { attempt: job.attempt } : { attempt: job.attempt, code: answer.error.code };
    if (!(await this.#record(job, patch, 'reply' in answer ? 'replied' : 'failed', detail))) return;
    this.#deps.usage.agentEvent(job.org, job.appId, 'reply' in answer ? 'replied' : 'failed', job.latencyMs, 'reply' in answer ? Buffer.byteLength(answer.reply) : 0);
    if (!('reply' in answer)) this.#hook(job, 'event_failed', { error: answer.error, attempt: job.attempt, latency_ms: job.latencyMs });
    this.#leaveThread(job);
    this.#jobs.delete(job.id);
    this.#changedWhileReading(job.id);
    const outcome: AgentOutcome = {
      type: 'agentOutcome',
      id: job.id,
      org: job.org,
      appId: job.appId,
      agent: job.agent,
      thread: job.thread,
      name: job.name,
      createdAt: job.createdAt,
      attempt: job.attempt,
      status: job.status,
      latencyMs: job.latencyMs,
      sender: job.sender,
      frame,
    };
    // To the sender's node; taken over from a node that died, the sender is unknown: every node with the app's connection.
    if (job.senderNode === this.#deps.nodeId || job.senderNode === null) this.receiveOutcome(outcome);
    if (job.senderNode !== this.#deps.nodeId) {
      this.#deps.peers.outcome(job.senderNode, outcome).catch((err: unknown) => this.#deps.onError(err, `could not send the outcome of ${job.id} to the app's node; the app gets it when it reconnects`));
    }
  }

  // ---- outcomes, on the app's side

  /**
   * An outcome for an app connected here: held until acknowledged. Without a connection of
   * the app here, the store holds it for the node the app connects to (its outcome was
   * committed before this message was sent, so that node's read finds it).
   */
  receiveOutcome(message: AgentOutcome): void {
    const appKey = key(message.org, message.appId);
    if (!this.#apps.has(appKey) || this.#outbox.get(appKey)?.has(message.id)) return;
    const { type: _type, ...fields } = message;
    this.#takeOutcome({ ...fields, sentTo: null });
  }

  #takeOutcome(outcome: Outcome): void {
    const appKey = key(outcome.org, outcome.appId);
    let outbox = this.#outbox.get(appKey);
    if (!outbox) {
      outbox = new Map();
      this.#outbox.set(appKey, outbox);
    }
    outbox.set(outcome.id, outcome);
    this.#sendOutcome(outcome);
  }

  /** To the connection that sent the event, else to another of the app's here; else it waits for one. */
  #sendOutcome(outcome: Outcome): void {
    const conns = this.#apps.get(key(outcome.org, outcome.appId));
    if (!conns || conns.size === 0) return;
    const sender = outcome.sender !== null ? conns.get(outcome.sender) : undefined;
    // A socket the app is closing takes nothing: the next one does, or the next connection.
    const conn = [...(sender ? [sender] : []), ...conns.values()].find((c) => c.send(outcome.frame));
    if (!conn) return;
    outcome.sentTo = conn.id;
    const delivered = outcome.status === 'pending';
    if (delivered) outcome.status = 'delivered';
    this.#deps.log.hold(outcome, delivered ? { status: 'delivered' } : {}, this.#change(outcome, 'sent', { connectionId: conn.id }));
    if (delivered) this.#hook(outcome, 'event_delivered', { attempt: outcome.attempt, latency_ms: outcome.latencyMs });
  }

  /** The event's webhook: who sent what to whom, and the outcome's fields. */
  #hook(job: EventState, name: 'event_delivered' | 'event_failed' | 'event_rejected', fields: Record<string, unknown>): void {
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
      keyId: null,
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
    const written = this.#deps.log.write([{ type: 'update', id: job.id, org: job.org, appId: job.appId, patch, timeline: [this.#change(job, type, detail)] }]);
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
    this.#deps.log.hold(job, patch, this.#change(job, type, detail));
  }

  /** The change numbered and on the live feed, with the event's state as it leaves it; written or held by the caller at once. */
  #change(job: EventState, type: string, detail: TimelineRecord['detail']): TimelineRecord {
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
}

/** An event without an outcome, from history: for the node that takes its agent's queue over (the connections of before are gone). */
function jobFromRecord(record: EventRecord, timeoutMs: number): Job {
  return {
    id: record.id,
    org: record.org,
    appId: record.appId,
    agent: record.agent ?? '',
    thread: record.thread ?? '',
    name: record.name,
    ref: record.ref,
    payload: record.payload ?? 'null',
    createdAt: record.createdAt,
    timeoutMs,
    attempt: record.attempt,
    state: 'waiting',
    status: record.status,
    latencyMs: record.latencyMs,
    sender: null,
    senderNode: null,
    worker: null,
    timer: null,
  };
}

/** A reply that its encryption key's retirement erased before the app acknowledged it (null: not erased). */
function erasedReply(record: EventRecord): EventError | null {
  return record.erased ? { code: 'payload_erased', message: `the reply was erased with its key ${record.erased.keyId}` } : null;
}

/** An outcome the app has not acknowledged, from history. */
function outcomeFromRecord(record: EventRecord): Outcome {
  const agent = record.agent ?? '';
  const thread = record.thread ?? '';
  const head = { eventId: record.id, ref: record.ref, agent, thread };
  const frame =
    record.reply !== null
      ? withRaw({ type: 'reply', ...head, latencyMs: record.latencyMs }, 'payload', record.reply)
      : JSON.stringify({ type: 'failed', ...head, error: record.error !== null ? (JSON.parse(record.error) as unknown) : erasedReply(record), latencyMs: record.latencyMs });
  return {
    id: record.id,
    org: record.org,
    appId: record.appId,
    agent,
    thread,
    name: record.name,
    createdAt: record.createdAt,
    attempt: record.attempt,
    status: record.status,
    latencyMs: record.latencyMs,
    sender: null,
    frame,
    sentTo: null,
  };
}
