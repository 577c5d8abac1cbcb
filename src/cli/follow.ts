import { RelayError } from '../shared/errors.js';
import type { Context } from './context.js';
import { note } from './output.js';

/** The wait before each try at reaching relayd again: 1s, doubling up to 10s. */
export const BACKOFF = { firstMs: 1000, maxMs: 10_000 } as const;

/**
 * One run of a following command: resolves when `signal` aborts, rejects when relayd goes
 * away (or with any other error), and calls `opened` each time relayd has answered.
 */
export type Session = (signal: AbortSignal, opened: () => void) => Promise<void>;

/**
 * The one loop of the commands that follow relayd (`events tail`, `status --watch`) until
 * Ctrl-C, which ends them with exit 0. When relayd goes away (shuts down, the connection
 * breaks, or it answers that it is draining) it says so on stderr and runs the session again
 * with backoff, saying so each time; with `reconnect` off it fails instead, exit 6. A relayd
 * that cannot be reached at the start is exit 6 at once, as for any command.
 */
export async function follow(ctx: Context, options: { reconnect: boolean }, session: Session): Promise<void> {
  const abort = new AbortController();
  const stop = (): void => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let reached = false;
  let away = false;
  let delayMs: number = BACKOFF.firstMs;
  const opened = (): void => {
    if (away) note(ctx, 'relayd is back; reconnected.');
    reached = true;
    away = false;
    delayMs = BACKOFF.firstMs;
  };
  try {
    for (;;) {
      try {
        await session(abort.signal, opened);
        return;
      } catch (err) {
        if (abort.signal.aborted) return;
        if (!reached || !wentAway(err)) throw err;
        if (!options.reconnect) {
          const url = (await ctx.client()).url;
          throw new RelayError('daemon_unreachable', `relayd at ${url} went away; not reconnecting (--no-reconnect)`, {
            hint: 'start relayd again and run this again, or leave out --no-reconnect to wait for it',
          });
        }
        note(ctx, `${away ? 'relayd is still unreachable' : 'relayd went away'}; reconnecting in ${delayMs / 1000}s...`);
        away = true;
        await sleep(delayMs, abort.signal);
        if (abort.signal.aborted) return;
        delayMs = Math.min(delayMs * 2, BACKOFF.maxMs);
      }
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** relayd gone (refused, broken, ended the stream) or draining (503): worth waiting for. */
function wentAway(err: unknown): boolean {
  return err instanceof RelayError && (err.code === 'daemon_unreachable' || err.code === 'unavailable');
}

/** Waits `ms`, or less if `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
