import type { Redis } from 'ioredis';
import { RelayError } from '../../src/shared/errors.js';
import type { Logger } from '../log.js';
import type { Broker, BrokerEventHandler } from './broker.js';
import { connectRedis, quitRedis, redisUnavailable, watchRedis, type RedisTarget } from './redis-connection.js';

/** SUBSCRIBE takes this many channels at once when a reconnected node resubscribes. */
const RESUBSCRIBE_BATCH = 1000;

/**
 * The broker of several nodes on Redis pub/sub: one connection publishes, one subscribes (a
 * subscribed RESP2 connection can do nothing else). Channels are the port's names under the
 * installation's prefix. One publishing connection keeps each node's publications in order.
 *
 * The channels this node holds are kept here, not only in ioredis, so that after a lost
 * connection they are subscribed again and only then is the broker reported available.
 */
export class RedisBroker implements Broker {
  readonly driver = 'redis';
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  readonly #target: RedisTarget;
  readonly #log: Logger;
  /** Channels held, with their SUBSCRIBE: a second subscribe waits on the first, a failed one lets go. */
  readonly #channels = new Map<string, Promise<void>>();
  readonly #listeners = new Set<(available: boolean) => void>();
  #handler: BrokerEventHandler | null = null;
  #publisherUp: boolean;
  #subscriberUp: boolean;
  #available: boolean;
  #lastError: Error | null = null;
  #closed = false;

  static async connect(target: RedisTarget, log: Logger): Promise<RedisBroker> {
    const [publisher, subscriber] = await Promise.allSettled([connectRedis(target, 'publisher', 'broker'), connectRedis(target, 'subscriber', 'broker')]);
    if (publisher.status === 'rejected' || subscriber.status === 'rejected') {
      if (publisher.status === 'fulfilled') publisher.value.disconnect();
      if (subscriber.status === 'fulfilled') subscriber.value.disconnect();
      throw publisher.status === 'rejected' ? publisher.reason : (subscriber as PromiseRejectedResult).reason;
    }
    return new RedisBroker(publisher.value, subscriber.value, target, log);
  }

  private constructor(publisher: Redis, subscriber: Redis, target: RedisTarget, log: Logger) {
    this.#publisher = publisher;
    this.#subscriber = subscriber;
    this.#target = target;
    this.#log = log;
    this.#publisherUp = publisher.status === 'ready';
    this.#subscriberUp = subscriber.status === 'ready';
    this.#available = this.#publisherUp && this.#subscriberUp;
    const prefix = target.prefix;
    subscriber.on('message', (redisChannel: string, data: string) => {
      if (!redisChannel.startsWith(prefix)) return;
      const channel = redisChannel.slice(prefix.length);
      // An unsubscribed channel stops at once, whatever is still on its way from Redis.
      if (!this.#channels.has(channel)) return;
      try {
        this.#handler?.handlePublication(channel, data);
      } catch (err) {
        this.#log.error({ err, channel }, 'the broker handler failed on a publication');
      }
    });
    watchRedis(publisher, (ready, err) => {
      this.#publisherUp = ready;
      this.#update(err);
    });
    watchRedis(subscriber, (ready, err) => {
      if (ready) void this.#resubscribe();
      else {
        this.#subscriberUp = false;
        this.#update(err);
      }
    });
  }

  get available(): boolean {
    return this.#available;
  }

  registerEventHandler(handler: BrokerEventHandler): void {
    this.#handler = handler;
  }

  subscribe(channel: string): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const held = this.#channels.get(channel);
    if (held) return held;
    const subscribing: Promise<void> = this.#subscriber.subscribe(this.#target.prefix + channel).then(
      () => undefined,
      (err: unknown) => {
        if (this.#channels.get(channel) === subscribing) this.#channels.delete(channel);
        throw redisUnavailable('broker', this.#target, err, this.#lastError);
      },
    );
    this.#channels.set(channel, subscribing);
    return subscribing;
  }

  async unsubscribe(channel: string): Promise<void> {
    if (!this.#channels.delete(channel)) return;
    if (this.#subscriber.status !== 'ready') return; // a lost connection holds nothing, and the channel is not resubscribed
    try {
      await this.#subscriber.unsubscribe(this.#target.prefix + channel);
    } catch (err) {
      // Its publications are dropped here already; Redis lets go of it with the connection.
      this.#log.debug({ err, channel }, 'could not unsubscribe a broker channel');
    }
  }

  async publish(channel: string, message: () => string): Promise<void> {
    if (this.#closed) throw this.#closedError();
    const data = message();
    try {
      await this.#publisher.publish(this.#target.prefix + channel, data);
    } catch (err) {
      throw redisUnavailable('broker', this.#target, err, this.#lastError);
    }
  }

  onStatus(listener: (available: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#available = false;
    this.#channels.clear();
    this.#handler = null;
    this.#listeners.clear();
    await Promise.all([quitRedis(this.#publisher), quitRedis(this.#subscriber)]);
  }

  /** After a reconnection: every channel held is subscribed again before the broker is called available. */
  async #resubscribe(): Promise<void> {
    const channels = [...this.#channels.keys()].map((channel) => this.#target.prefix + channel);
    try {
      for (let i = 0; i < channels.length; i += RESUBSCRIBE_BATCH) await this.#subscriber.subscribe(...channels.slice(i, i + RESUBSCRIBE_BATCH));
    } catch (err) {
      if (this.#closed) return;
      this.#lastError = err as Error;
      // Connected but not answering: start over on a new connection rather than stay half-subscribed.
      if (this.#subscriber.status === 'ready') this.#subscriber.disconnect(true);
      return;
    }
    this.#subscriberUp = true;
    this.#update(null);
  }

  #update(err: Error | null): void {
    if (err) this.#lastError = err;
    if (this.#closed) return;
    const available = this.#publisherUp && this.#subscriberUp;
    if (available === this.#available) return;
    this.#available = available;
    if (available) {
      this.#lastError = null;
      this.#log.info({ broker: this.#target.display }, 'broker connection restored');
    }
    else this.#log.warn({ broker: this.#target.display, reason: this.#lastError?.message }, 'broker connection lost: publications fail (503) until it is back');
    for (const listener of this.#listeners) {
      try {
        listener(available);
      } catch (err) {
        this.#log.error({ err }, 'a broker status listener failed');
      }
    }
  }

  #closedError(): RelayError {
    return new RelayError('unavailable', `the broker (Redis at ${this.#target.display}) is closed`);
  }
}
