import { randomBytes } from 'node:crypto';
import { monotonicFactory } from 'ulid';
import type { Event, EventChange, EventDetail, EventList, EventStatus, TimelineEntry } from '../../src/shared/api.js';
import { RelayError } from '../../src/shared/errors.js';
import { ID_PREFIX } from '../../src/shared/ids.js';
import type { ChangeRecord, EventPatch, EventQuery, EventRecord, EventWrite, Store, TimelineRecord } from '../store/store.js';

/**
 * ulid asks its random source once per character; drawing those from a pooled CSPRNG
 * buffer instead of a system call each keeps id generation off the publish profile.
 */
let pool = randomBytes(4096);
let offset = 0;
function pooledRandom(): number {
  if (offset >= pool.length) {
    pool = randomBytes(4096);
    offset = 0;
  }
  return (pool[offset++] as number) / 256;
}

const ulid = monotonicFactory(pooledRandom);

/** `evt_` and a ULID of the event's `createdAt`, as the store's EventRecord says (see `eventIdAt` there). */
export function newEventId(createdAt: number): string {
  return `${ID_PREFIX.event}${ulid(createdAt)}`;
}

export function toEvent(record: EventRecord): Event {
  return {
    id: record.id,
    kind: record.kind,
    appId: record.appId,
    agent: record.agent,
    thread: record.thread,
    name: record.name,
    status: record.status,
    latencyMs: record.latencyMs,
    createdAt: new Date(record.createdAt).toISOString(),
    channels: record.channels,
  };
}

const parseJson = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

interface Pending {
  writes: EventWrite[];
  resolve(): void;
  reject(err: unknown): void;
}

/** The changes of one event held back, merged: later fields win, timeline entries in order. */
interface Held {
  org: string;
  appId: string;
  patch: EventPatch;
  timeline: TimelineRecord[];
}

export type ChangeListener = (change: EventChange) => void;

/** Told of each group commit once it is done: the rows written and how long the store took (metrics). */
export type BatchObserver = (writes: number, seconds: number, ok: boolean) => void;

/**
 * The other nodes, for `events tail` against any node: a node with followers of an
 * organization asks every node to send it that organization's changes (`want`, answered once
 * each node does, so that nothing made after the tail starts is missed), renewing the wish
 * while it has followers; the others `send` it their changes as they make them.
 */
export interface ChangePeers {
  want(org: string): Promise<void>;
  send(node: string, change: EventChange): void;
}

/** How often a node with followers renews its wish, and how long a wish holds unrenewed (a follower's node that died). */
export const WANT_RENEW_MS = 10_000;
export const WANT_TTL_MS = 3 * WANT_RENEW_MS;

/** Which changes a follower wants: those of its organization, narrowed as `events list` narrows. */
export interface ChangeFilter {
  org: string;
  app?: string | undefined;
  agent?: string | undefined;
  thread?: string | undefined;
  /** The status the change leaves the event with. */
  status?: EventStatus | undefined;
}

/** A follower of the change feed, from the moment it was made: started with where to send. */
export interface Following {
  /** The seq the follower starts after: what it asked for, or the latest change if it asked for nothing (or for later). */
  after: number;
  /** Sends the changes after `after` from history, then live ones; `fail` if history cannot be read. Returns what stops it. */
  start(send: (change: EventChange) => void, fail: (err: unknown) => void): () => void;
}

/** Changes read from history a page at a time while catching a follower up. */
const REPLAY_PAGE = 500;

const matches = (f: ChangeFilter, c: EventChange): boolean =>
  c.org === f.org &&
  (f.app === undefined || f.app === c.event.appId) &&
  (f.agent === undefined || f.agent === c.event.agent) &&
  (f.thread === undefined || f.thread === c.event.thread) &&
  (f.status === undefined || f.status === c.event.status);

function fromRecord(c: ChangeRecord): EventChange {
  return {
    seq: c.seq,
    at: new Date(c.at).toISOString(),
    type: c.type,
    org: c.event.org,
    event: {
      id: c.event.id,
      kind: c.event.kind,
      appId: c.event.appId,
      agent: c.event.agent,
      thread: c.event.thread,
      name: c.event.name,
      status: c.status,
      latencyMs: c.latencyMs,
      createdAt: new Date(c.event.createdAt).toISOString(),
      channels: c.event.channels,
    },
  };
}

/**
 * How long a change that nothing waits for may be held back. Within it, the changes of one
 * event are merged into one row write, and are written with the next change of that event
 * that is waited for, or with every other held change in one transaction.
 */
export const HOLD_MS = 50;

/**
 * Changes are numbered from blocks reserved in the store, so that nodes sharing it never give
 * one seq twice; the next block is reserved when half of this one is used.
 */
const SEQ_BLOCK = 10_000;

/**
 * History: the group-committed write path, the change feed that `relay events tail` reads,
 * and the queries.
 *
 * Group commit: writes made during one turn of the event loop go to the store in one
 * transaction, and each `write` resolves only once its transaction has committed. Under
 * load that is one commit for many requests; alone, a write waits no more than a tick.
 *
 * Held changes (`hold`) are the ones whose loss in a crash costs nothing but a repeat or a
 * line of timeline: an event's outcome having been sent to the app, the app's ack (the
 * outcome is sent again, as it would be had the ack been lost on the wire), an agent having
 * dropped the event. Every read of history writes them first, so a reader sees every
 * change made before it asked.
 */
export class EventLog {
  readonly #store: Store;
  readonly #onError: (err: unknown) => void;
  #queue: Pending[] = [];
  #scheduled = false;
  /** The latest batch, scheduled or being written; batches commit in order, so every earlier one is done when it is. */
  #flushing: Promise<void> = Promise.resolve();
  #held = new Map<string, Held>();
  #holdTimer: NodeJS.Timeout | null = null;
  readonly #listeners = new Set<ChangeListener>();
  #peers: ChangePeers | null = null;
  /** Per organization, the other nodes following its changes, each until when. */
  readonly #exports = new Map<string, Map<string, number>>();
  /** Followers here per organization: while there are any, the wish is renewed. */
  readonly #following = new Map<string, number>();
  #renewal: NodeJS.Timeout | null = null;
  #batchObserver: BatchObserver | null = null;
  /** The seq of the latest change numbered, and the last of this node's block. */
  #seq = 0;
  #seqEnd = 0;
  /** The first seq of the block reserved ahead, once the current one is half used. */
  #nextBlock: number | null = null;

  constructor(store: Store, onError: (err: unknown) => void) {
    this.#store = store;
    this.#onError = onError;
  }

  /** Numbering goes on above every seq used or reserved in the store (by this node before, or by another). */
  async start(): Promise<void> {
    const first = await this.#store.reserveChangeSeqs(SEQ_BLOCK);
    this.#seq = first - 1;
    this.#seqEnd = first + SEQ_BLOCK - 1;
  }

  /** The next seq: from this node's block, moving to the block reserved ahead when it is used up. */
  #nextSeq(): number {
    if (this.#seq >= this.#seqEnd) {
      const next = this.#nextBlock;
      // Only a burst of SEQ_BLOCK / 2 changes within one round trip to the store gets here.
      if (next === null) throw new RelayError('unavailable', 'history is waiting for the store to number its changes; try again');
      this.#nextBlock = null;
      this.#seq = next - 1;
      this.#seqEnd = next + SEQ_BLOCK - 1;
    }
    const seq = ++this.#seq;
    if (this.#seqEnd - seq === SEQ_BLOCK / 2 && this.#nextBlock === null) {
      this.#store.reserveChangeSeqs(SEQ_BLOCK).then(
        (first) => (this.#nextBlock = first),
        (err: unknown) => this.#onError(err),
      );
    }
    return seq;
  }

  /**
   * Numbers a change of an event and puts it on the live feed; returns its timeline row,
   * which the caller writes (`write`) or holds (`hold`) at once, in the same turn: so every
   * change numbered is in history (or has failed) once a reader has caught up, and the feed
   * goes out in seq order. `event` is the event after the change (asked only if someone listens).
   */
  change(org: string, entry: Omit<TimelineRecord, 'seq'>, event: () => Omit<Event, 'status' | 'latencyMs'>): TimelineRecord {
    const record: TimelineRecord = { seq: this.#nextSeq(), ...entry };
    const followers = this.#exports.size > 0 ? this.#exports.get(org) : undefined;
    if (this.#listeners.size > 0 || followers) {
      const change: EventChange = { seq: record.seq, at: new Date(entry.at).toISOString(), type: entry.type, org, event: { ...event(), status: entry.status, latencyMs: entry.latencyMs } };
      for (const listener of this.#listeners) listener(change);
      if (followers) this.#export(org, followers, change);
    }
    return record;
  }

  /** Where the other nodes' changes come from, and this node's go. */
  share(peers: ChangePeers): void {
    this.#peers = peers;
  }

  /** Another node follows the organization's changes, for WANT_TTL_MS unless it renews its wish (wall-clock time: a wish is between processes). */
  exportTo(org: string, node: string): void {
    const followers = this.#exports.get(org) ?? new Map<string, number>();
    this.#exports.set(org, followers);
    followers.set(node, Date.now() + WANT_TTL_MS);
  }

  #export(org: string, followers: Map<string, number>, change: EventChange): void {
    const now = Date.now();
    for (const [node, until] of followers) {
      if (until < now) followers.delete(node);
      else this.#peers?.send(node, change);
    }
    if (followers.size === 0) this.#exports.delete(org);
  }

  /** A change made on another node, for the followers here. */
  receive(change: EventChange): void {
    for (const listener of this.#listeners) listener(change);
  }

  #followed(org: string, by: number): void {
    const count = (this.#following.get(org) ?? 0) + by;
    if (count > 0) this.#following.set(org, count);
    else this.#following.delete(org);
    if (this.#following.size > 0 && !this.#renewal && this.#peers) {
      this.#renewal = setInterval(() => {
        for (const followed of this.#following.keys()) this.#peers?.want(followed).catch(this.#onError);
      }, WANT_RENEW_MS);
      this.#renewal.unref();
    } else if (this.#following.size === 0 && this.#renewal) {
      clearInterval(this.#renewal);
      this.#renewal = null;
    }
  }

  /** Durable writes: resolves once they are committed. An update takes the held changes of its event with it. */
  write(writes: EventWrite[]): Promise<void> {
    const merged = this.#held.size === 0 ? writes : writes.map((w) => this.#withHeld(w));
    return new Promise((resolve, reject) => {
      this.#queue.push({ writes: merged, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        // After the batch before it: with an asynchronous store two batches could otherwise
        // overlap and commit out of order (an update before its insert). The batch is taken
        // when it starts, so what comes meanwhile joins it.
        const previous = this.#flushing;
        this.#flushing = new Promise((flushed) => setImmediate(() => flushed(previous.then(() => this.#flush()))));
      }
    });
  }

  /** For readers: every change made so far, held ones included, is committed (or has failed). */
  async caughtUp(): Promise<void> {
    if (this.#held.size > 0) void this.#writeHeld();
    await this.#flushing;
  }

  /** A change nothing waits for: written within HOLD_MS, merged with the event's other changes of that time. */
  hold(event: { id: string; org: string; appId: string }, patch: EventPatch, timeline: TimelineRecord): void {
    const { id } = event;
    const held = this.#held.get(id);
    if (held) {
      Object.assign(held.patch, patch);
      held.timeline.push(timeline);
    } else {
      this.#held.set(id, { org: event.org, appId: event.appId, patch: { ...patch }, timeline: [timeline] });
    }
    if (!this.#holdTimer) {
      this.#holdTimer = setTimeout(() => void this.#writeHeld(), HOLD_MS);
      this.#holdTimer.unref();
    }
  }

  #withHeld(write: EventWrite): EventWrite {
    if (write.type !== 'update') return write;
    const held = this.#held.get(write.id);
    if (!held) return write;
    this.#held.delete(write.id);
    return { ...write, patch: { ...held.patch, ...write.patch }, timeline: [...held.timeline, ...write.timeline] };
  }

  /** Writes every held change now; a failure is reported, as nobody waits on these. */
  async #writeHeld(): Promise<void> {
    if (this.#holdTimer) clearTimeout(this.#holdTimer);
    this.#holdTimer = null;
    if (this.#held.size === 0) return;
    const held = this.#held;
    this.#held = new Map();
    const writes: EventWrite[] = [...held].map(([id, h]) => ({ type: 'update', id, org: h.org, appId: h.appId, patch: h.patch, timeline: h.timeline }));
    await this.write(writes).catch(this.#onError);
  }

  /** One observer (the node's metrics); the clock is read only when there is one. */
  observeBatches(observer: BatchObserver): void {
    this.#batchObserver = observer;
  }

  async #flush(): Promise<void> {
    const batch = this.#queue;
    this.#queue = [];
    this.#scheduled = false;
    const writes = batch.flatMap((p) => p.writes);
    const observer = this.#batchObserver;
    const started = observer ? performance.now() : 0;
    let ok = true;
    try {
      await this.#store.writeEvents(writes);
    } catch (err) {
      ok = false;
      for (const p of batch) p.reject(err);
    }
    observer?.(writes.length, (performance.now() - started) / 1000, ok);
    if (ok) for (const p of batch) p.resolve();
  }

  /** Waits for the writes under way, held ones included (shutdown). */
  async drain(): Promise<void> {
    await this.#writeHeld();
    while (this.#scheduled || this.#queue.length > 0) await new Promise((r) => setImmediate(r));
    await this.#flushing;
  }

  /**
   * Follows the changes that match `filter`, for `relay events tail`: those after `after`
   * from history (none if `after` is null), then the live ones, each once and in seq order.
   * Live changes are listened for from this call on; those that come while history is read
   * wait in a buffer, and all of them are numbered above what history is read up to.
   */
  follow(filter: ChangeFilter, after: number | null): Following {
    const head = this.#seq;
    const from = after === null || after > head ? head : after;
    let buffer: EventChange[] | null = [];
    let send: ((change: EventChange) => void) | null = null;
    let stopped = false;
    const listener = (change: EventChange): void => {
      if (!matches(filter, change)) return;
      if (buffer) buffer.push(change);
      else send?.(change);
    };
    this.#listeners.add(listener);
    this.#followed(filter.org, 1);
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      this.#listeners.delete(listener);
      this.#followed(filter.org, -1);
    };
    const replay = async (to: (change: EventChange) => void): Promise<void> => {
      // Every node sends its changes here from now on; what they make meanwhile waits in the buffer.
      await this.#peers?.want(filter.org);
      if (from < head) {
        await this.caughtUp();
        const query = { after: from, upTo: head, appId: filter.app, agent: filter.agent, thread: filter.thread, status: filter.status, limit: REPLAY_PAGE };
        for (;;) {
          const page = await this.#store.listChanges(filter.org, query);
          if (stopped) return;
          for (const record of page) to(fromRecord(record));
          if (page.length < REPLAY_PAGE) break;
          query.after = (page[page.length - 1] as ChangeRecord).seq;
        }
      }
      for (const change of buffer ?? []) to(change);
      buffer = null;
    };
    return {
      after: from,
      start: (to, fail) => {
        send = to;
        replay(to).catch((err: unknown) => {
          stop();
          fail(err);
        });
        return stop;
      },
    };
  }

  async history(org: string, appId: string, query: { before: string | null; limit: number }): Promise<EventList> {
    return this.list(org, { appId, before: query.before ?? undefined, limit: query.limit });
  }

  /** Newest first, a page of `limit` with the cursor of the next. */
  async list(org: string, query: EventQuery): Promise<EventList> {
    await this.caughtUp();
    const records = await this.#store.queryEvents(org, { ...query, limit: query.limit + 1 });
    const page = records.slice(0, query.limit);
    const next = records.length > query.limit ? (page[page.length - 1]?.id ?? null) : null;
    return { events: page.map(toEvent), next };
  }

  async show(id: string): Promise<EventDetail> {
    await this.caughtUp();
    const record = await this.#store.getEvent(id);
    if (!record) throw new RelayError('not_found', `event ${id} not found`);
    const timeline: TimelineEntry[] = (await this.#store.listTimeline(id)).map((t) => ({ ...t.detail, at: new Date(t.at).toISOString(), type: t.type }));
    return {
      ...toEvent(record),
      org: record.org,
      ref: record.ref,
      attempt: record.attempt,
      // A channel event's data is kept as the publisher sent it (Pusher's data is a string).
      payload: record.kind === 'channel' ? record.payload : parseJson(record.payload),
      reply: parseJson(record.reply),
      error: parseJson(record.error) as EventDetail['error'],
      erased: record.erased ? { keyId: record.erased.keyId, retiredAt: record.erased.retiredAt === null ? null : new Date(record.erased.retiredAt).toISOString() } : null,
      timeline,
    };
  }
}
