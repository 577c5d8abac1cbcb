import { runAt, type Clock } from './clock.js';

/**
 * The ends of rotation grace periods: one timer per (owner, instant), re-armed at start from
 * the store, so that old tokens' sockets are closed when the grace ends, with nobody calling.
 */
export class GraceTimers {
  readonly #clock: Clock;
  readonly #timers = new Map<string, { cancel(): void }>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  schedule(owner: string, at: number, end: () => Promise<void>): void {
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

  stop(): void {
    for (const timer of this.#timers.values()) timer.cancel();
    this.#timers.clear();
  }
}
