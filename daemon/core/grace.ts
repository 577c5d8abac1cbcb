import { runAt, type Clock } from './clock.js';
import { LEASE_RENEW_MS, LEASE_TTL_MS } from './leases.js';

/** How long the cluster can be without a leader (its lease lapsing, then the next renewal): grace ends older than this were handled. */
export const LEADERLESS_MS = 2 * (LEASE_TTL_MS + LEASE_RENEW_MS);

/**
 * The ends of rotation grace periods: one timer per (owner, instant), on the cluster's leader
 * only (armed from the store when it starts leading), so that old tokens' sockets are closed
 * once when the grace ends, with nobody calling.
 */
export class GraceTimers {
  readonly #clock: Clock;
  readonly #timers = new Map<string, { cancel(): void }>();
  #leading = false;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** This node leads: the grace ends scheduled from now on are armed here. */
  lead(): void {
    this.#leading = true;
  }

  /** Scheduled on the leader; a grace end told to any other node is the leader's to keep. */
  schedule(owner: string, at: number, end: () => Promise<void>): void {
    if (!this.#leading) return;
    const key = `${owner}@${at}`;
    if (this.#timers.has(key)) return;
    this.#timers.set(
      key,
      runAt(this.#clock, at, () => {
        this.#timers.delete(key);
        void end();
      }),
    );
  }

  /** No longer the leader (or shutting down): the timers are the next leader's. */
  follow(): void {
    this.#leading = false;
    for (const timer of this.#timers.values()) timer.cancel();
    this.#timers.clear();
  }
}
