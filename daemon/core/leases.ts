import type { Store } from '../store/store.js';
import type { Clock } from './clock.js';

/** How long a lease lasts unless renewed, and how often its holder renews it (as node heartbeats). */
export const LEASE_TTL_MS = 15_000;
export const LEASE_RENEW_MS = 5_000;

export interface LeasesDeps {
  store: Store;
  clock: Clock;
  /** This node's id: the holder's name in the store. */
  holder: string;
  onError(err: unknown, what: string): void;
}

interface Held {
  /** Told once when the lease turns out to have been taken by another node (this one was silent too long). */
  lost: () => void;
}

/**
 * The leases this node holds (SQS visibility timeouts, graphile-worker's locked_at): work that
 * one node at a time does, renewed every LEASE_RENEW_MS in one statement, and taken over by
 * another node once it has not been renewed for LEASE_TTL_MS. On SQLite the one node always
 * gets them; the code path is the same.
 */
export class Leases {
  readonly #deps: LeasesDeps;
  readonly #held = new Map<string, Held>();
  readonly #tickers = new Set<() => Promise<void>>();
  #timer: NodeJS.Timeout | null = null;
  #ticking: Promise<void> = Promise.resolve();

  constructor(deps: LeasesDeps) {
    this.#deps = deps;
  }

  get holder(): string {
    return this.#deps.holder;
  }

  holds(name: string): boolean {
    return this.#held.has(name);
  }

  /** Takes the lease if it is free (or ours); true when this node holds it. `lost` is called if another node takes it later. */
  async acquire(name: string, lost: () => void): Promise<boolean> {
    const { store, clock, holder } = this.#deps;
    const now = clock.now();
    if (!(await store.acquireLease(name, holder, now, now + LEASE_TTL_MS))) return false;
    this.#held.set(name, { lost });
    return true;
  }

  /** Gives the lease up, so that another node can take it at once. */
  async release(name: string): Promise<void> {
    if (!this.#held.delete(name)) return;
    await this.#deps.store.releaseLease(name, this.#deps.holder);
  }

  /** Runs `tick` after each renewal: where the holders of work try to take what they are waiting for. */
  onTick(tick: () => Promise<void>): void {
    this.#tickers.add(tick);
  }

  start(): void {
    this.#timer = setInterval(() => {
      this.#ticking = this.#tick();
    }, LEASE_RENEW_MS);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    try {
      if (this.#held.size > 0) {
        const kept = new Set(await this.#deps.store.renewLeases(this.#deps.holder, this.#deps.clock.now() + LEASE_TTL_MS));
        for (const [name, held] of [...this.#held]) {
          if (kept.has(name)) continue;
          this.#held.delete(name);
          held.lost();
        }
      }
    } catch (err) {
      this.#deps.onError(err, 'could not renew this node\'s leases');
    }
    for (const tick of this.#tickers) await tick().catch((err: unknown) => this.#deps.onError(err, 'could not take over a lease'));
  }

  /** Clean shutdown: every lease is given up, so that the other nodes take the work over without waiting for it to run out. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#ticking;
    for (const name of [...this.#held.keys()]) await this.release(name).catch((err: unknown) => this.#deps.onError(err, `could not give up the lease ${name}`));
  }
}

/** Work that runs on one node of the cluster at a time: started when this node becomes the leader, stopped when it stops being it. */
export interface LeaderJob {
  lead(): Promise<void> | void;
  follow(): Promise<void> | void;
}

const LEADER = 'leader';

/**
 * The background jobs (history and webhook-log pruning, the ends of rotation grace periods)
 * run once for the cluster: on the node that holds the leader lease. Every node tries to take
 * it at start and at each renewal, so that a dead leader's jobs move within LEASE_TTL_MS.
 */
export class Leader {
  readonly #leases: Leases;
  readonly #jobs: LeaderJob[];
  readonly #onError: (err: unknown, what: string) => void;
  #leading = false;

  constructor(leases: Leases, jobs: LeaderJob[], onError: (err: unknown, what: string) => void) {
    this.#leases = leases;
    this.#jobs = jobs;
    this.#onError = onError;
    leases.onTick(() => this.#campaign());
  }

  get leading(): boolean {
    return this.#leading;
  }

  async start(): Promise<void> {
    await this.#campaign();
  }

  async #campaign(): Promise<void> {
    if (this.#leading) return;
    if (!(await this.#leases.acquire(LEADER, () => void this.#follow()))) return;
    this.#leading = true;
    for (const job of this.#jobs) await job.lead();
  }

  async #follow(): Promise<void> {
    if (!this.#leading) return;
    this.#leading = false;
    for (const job of this.#jobs) {
      try {
        await job.follow();
      } catch (err) {
        this.#onError(err, 'could not stop a background job');
      }
    }
  }

  /** Shutdown: the jobs stop; the lease is given up with the others (Leases.stop). */
  async stop(): Promise<void> {
    await this.#follow();
  }
}
