import { randomBytes } from 'node:crypto';
import { monotonicFactory } from 'ulid';
import type { Event, EventChange, EventDetail, EventList, TimelineEntry } from '../../src/shared/api.js';
import { RelayError } from '../../src/shared/errors.js';
import { ID_PREFIX } from '../../src/shared/ids.js';
import type { EventQuery, EventRecord, EventWrite, Store } from '../store/store.js';

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

/** `evt_` and a ULID: unique, and sortable by creation time. */
export function newEventId(): string {
  return `${ID_PREFIX.event}${ulid()}`;
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

export type ChangeListener = (change: EventChange) => void;

/**
 * History: the group-committed write path, the change feed that `relay events tail` reads,
 * and the queries.
 *
 * Group commit: writes made during one turn of the event loop go to the store in one
 * transaction, and each `write` resolves only once its transaction has committed. Under
 * load that is one commit for many requests; alone, a write waits no more than a tick.
 */
export class EventLog {
  readonly #store: Store;
  #queue: Pending[] = [];
  #scheduled = false;
  #flushing: Promise<void> = Promise.resolve();
  readonly #listeners = new Set<ChangeListener>();

  constructor(store: Store) {
    this.#store = store;
  }

  write(writes: EventWrite[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ writes, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => {
          this.#flushing = this.#flush();
        });
      }
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#queue;
    this.#queue = [];
    this.#scheduled = false;
    try {
      await this.#store.writeEvents(batch.flatMap((p) => p.writes));
      for (const p of batch) p.resolve();
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }

  /** Waits for the writes under way (shutdown). */
  async drain(): Promise<void> {
    while (this.#scheduled || this.#queue.length > 0) await new Promise((r) => setImmediate(r));
    await this.#flushing;
  }

  /** Live changes, for tail. Returns the function that stops listening. */
  listen(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get listening(): boolean {
    return this.#listeners.size > 0;
  }

  emit(change: EventChange): void {
    for (const listener of this.#listeners) listener(change);
  }

  async history(org: string, appId: string, query: { before: string | null; limit: number }): Promise<EventList> {
    return this.list(org, { appId, before: query.before ?? undefined, limit: query.limit });
  }

  /** Newest first, a page of `limit` with the cursor of the next. */
  async list(org: string, query: EventQuery): Promise<EventList> {
    const records = await this.#store.queryEvents(org, { ...query, limit: query.limit + 1 });
    const page = records.slice(0, query.limit);
    const next = records.length > query.limit ? (page[page.length - 1]?.id ?? null) : null;
    return { events: page.map(toEvent), next };
  }

  async show(id: string): Promise<EventDetail> {
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
      timeline,
    };
  }
}
