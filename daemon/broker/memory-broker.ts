import type { Broker, BrokerEventHandler } from './broker.js';

export class MemoryBroker implements Broker {
  readonly #subscribed = new Set<string>();
  #handler: BrokerEventHandler | null = null;

  registerEventHandler(handler: BrokerEventHandler): void {
    this.#handler = handler;
  }

  async subscribe(channel: string): Promise<void> {
    this.#subscribed.add(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    this.#subscribed.delete(channel);
  }

  async publish(channel: string, message: () => string): Promise<void> {
    if (this.#subscribed.has(channel)) this.#handler?.handlePublication(channel, message());
  }

  async close(): Promise<void> {
    this.#subscribed.clear();
    this.#handler = null;
  }
}
