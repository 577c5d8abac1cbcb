import { RelayError } from '../../src/shared/errors.js';
import { MAX_DATA_BYTES, type BatchBody, type PublishBody } from '../../src/shared/schemas.js';
import type { EventRecord } from '../store/store.js';
import type { Clock } from './clock.js';
import { newEventId, type EventLog } from './events.js';

/** Who publishes: an app of an organization (from its API token, or later its signed REST key). */
export interface Publisher {
  org: string;
  appId: string;
}

export interface ChannelSummary {
  name: string;
  subscriptionCount: number;
  userCount: number | null;
}

/**
 * Channel publishing and channel state. Publishing stores the event durably (group commit)
 * and answers once it is committed; fan-out to subscribers joins when they do.
 */
export class ChannelService {
  readonly #log: EventLog;
  readonly #clock: Clock;

  constructor(log: EventLog, clock: Clock) {
    this.#log = log;
    this.#clock = clock;
  }

  async publish(publisher: Publisher, body: PublishBody): Promise<{ id: string }> {
    const record = this.#record(publisher, body.name, body.channels ?? [body.channel as string], body.data, body.socket_id);
    await this.#log.write([{ type: 'insert', event: record, timeline: null }]);
    return { id: record.id };
  }

  /** All of a batch or none of it: the events commit in one transaction, in batch order. */
  async publishBatch(publisher: Publisher, body: BatchBody): Promise<{ ids: string[] }> {
    const records = body.batch.map((event, i) => this.#record(publisher, event.name, [event.channel], event.data, event.socket_id, `batch[${i}].data`));
    await this.#log.write(records.map((event) => ({ type: 'insert', event, timeline: null })));
    return { ids: records.map((r) => r.id) };
  }

  /** Occupied channels; none until channel subscribers land. */
  async list(_publisher: Publisher, _prefix: string | undefined): Promise<ChannelSummary[]> {
    return [];
  }

  async show(_publisher: Publisher, name: string): Promise<{ name: string; occupied: boolean; subscriptionCount: number; userCount: number | null }> {
    return { name, occupied: false, subscriptionCount: 0, userCount: name.startsWith('presence-') ? 0 : null };
  }

  async users(_publisher: Publisher, name: string): Promise<{ id: string }[]> {
    if (!name.startsWith('presence-')) throw new RelayError('invalid_request', `"${name}" is not a presence channel; only presence- channels have users`);
    return [];
  }

  #record(publisher: Publisher, name: string, channels: string[], data: string, socketId: string | undefined, field = 'data'): EventRecord {
    const bytes = Buffer.byteLength(data);
    if (bytes > MAX_DATA_BYTES) {
      throw new RelayError('payload_too_large', `${field} is ${bytes} bytes; the limit is ${MAX_DATA_BYTES} bytes (10 KB)`);
    }
    return {
      id: newEventId(),
      org: publisher.org,
      appId: publisher.appId,
      kind: 'channel',
      agent: null,
      thread: null,
      name,
      status: 'delivered',
      channels,
      payload: data,
      socketId: socketId ?? null,
      latencyMs: null,
      createdAt: this.#clock.now(),
      ref: null,
      attempt: 0,
      reply: null,
      error: null,
      outcomeAt: null,
      ackedAt: null,
    };
  }
}
