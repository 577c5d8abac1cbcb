import { randomBytes } from 'node:crypto';
import { monotonicFactory } from 'ulid';
import type { Event, EventList } from '../../src/shared/api.js';
import { ID_PREFIX } from '../../src/shared/ids.js';
import type { EventRecord, Store } from '../store/store.js';

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

interface Pending {
  records: EventRecord[];
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Group commit: events appended during one turn of the event loop are written in one
 * transaction, and each append resolves only once its transaction has committed. Under
 * load that is one commit for many requests; alone, a request waits no more than a tick.
 */
export class EventLog {
  readonly #store: Store;
  #queue: Pending[] = [];
  #scheduled = false;
  #flushing: Promise<void> = Promise.resolve();

  constructor(store: Store) {
    this.#store = store;
  }

  append(records: EventRecord[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ records, resolve, reject });
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
      await this.#store.appendEvents(batch.flatMap((p) => p.records));
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

  async history(org: string, appId: string, query: { before: string | null; limit: number }): Promise<EventList> {
    const records = await this.#store.listEvents(org, appId, { before: query.before, limit: query.limit + 1 });
    const page = records.slice(0, query.limit);
    const next = records.length > query.limit ? (page[page.length - 1]?.id ?? null) : null;
    return { events: page.map(toEvent), next };
  }
}
