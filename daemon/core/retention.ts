import type { Store } from '../store/store.js';
import type { Clock } from './clock.js';

const BATCH = 1000;

export interface RetentionDeps {
  store: Store;
  clock: Clock;
  retentionMs: number;
  /** How often to prune; the first run is soon after start. */
  everyMs: number;
  onPruned(count: number): void;
  onError(err: unknown): void;
}

/**
 * Prunes settled events older than the retention in the background, in small
 * transactions so that publishes and relay traffic never wait behind a big delete.
 * Events still owed to an agent or an app are never pruned, however old.
 */
export class HistoryPruner {
  readonly #deps: RetentionDeps;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;

  constructor(deps: RetentionDeps) {
    this.#deps = deps;
  }

  /** Pruning runs once for the cluster: on the leader, from when it starts leading. */
  lead(): void {
    this.#arm(Math.min(10_000, this.#deps.everyMs));
  }

  async follow(): Promise<void> {
    await this.stop();
  }

  #arm(delay: number): void {
    this.#timer = setTimeout(() => {
      this.#running = this.prune()
        .then((count) => {
          if (count > 0) this.#deps.onPruned(count);
        })
        .catch((err: unknown) => this.#deps.onError(err))
        .finally(() => {
          this.#running = null;
          if (this.#timer !== null) this.#arm(this.#deps.everyMs);
        });
    }, delay);
    this.#timer.unref();
  }

  async prune(): Promise<number> {
    const now = this.#deps.clock.now();
    const before = now - this.#deps.retentionMs;
    let total = 0;
    // Settled webhook deliveries (and their attempt logs) age out with the history; events
    // written under a channel rule's retention carry their own expiry instead.
    const store = this.#deps.store;
    for (const prune of [(n: number) => store.pruneEvents(before, n), (n: number) => store.pruneExpiredEvents(now, n), (n: number) => store.pruneWebhookDeliveries(before, n)]) {
      for (;;) {
        const count = await prune(BATCH);
        total += count;
        if (count < BATCH) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    return total;
  }

  async stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
  }
}
