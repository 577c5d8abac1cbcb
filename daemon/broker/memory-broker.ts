import type { Broker, BrokerEventHandler } from './broker.js';

/** One node's broker: publications go straight to this node's handler. It is never unavailable. */
export class MemoryBroker implements Broker {
  readonly driver = 'memory';
  readonly #subscribed = new Set<string>();
  #handler: BrokerEventHandler | null = null;
  #closed = false;

  get available(): boolean {
    return !this.#closed;
  }

  registerEventHandler(handler: BrokerEventHandler): void {
    this.#handler = handler;
  }

  async subscribe(channel: string): Promise<void> {
    if (!this.#closed) this.#subscribed.add(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.#subscribed.delete(channel);
  }

  async publish(channel: string, message: () => string): Promise<void> {
    if (this.#subscribed.has(channel)) this.#handler?.handlePublication(channel, message());
  }

  onStatus(): () => void {
    return () => {};
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#subscribed.clear();
    this.#handler = null;
  }
}
