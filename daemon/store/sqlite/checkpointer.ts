import type Database from 'better-sqlite3';
import { Worker } from 'node:worker_threads';
import type { CheckpointRequest, CheckpointResult } from './checkpoint-worker.js';

/** How often the WAL is copied into the database. */
const INTERVAL_MS = 200;
/**
 * The thread's checkpoints never hold the writer back, but the WAL starts over only at a
 * moment when every frame in it has been copied, and writes that never pause leave no such
 * moment: the frames written during a checkpoint are always left. Past this many frames
 * (64 MiB of 4 KiB pages), the main thread copies those itself as soon as the thread is
 * done: only the few milliseconds' worth written meanwhile, so a stall of a few
 * milliseconds, and then the WAL starts over at its beginning. Any pause in the writes lets
 * the thread get there first. The file is not cut back when the WAL starts over (that
 * truncation stalls the writer for tens of milliseconds); it stays at about this size
 * until relayd stops.
 */
const CATCH_UP_FRAMES = 16_384;
/** What a main-thread autocheckpoint does if the thread cannot run: every ~40 MB of WAL. */
const FALLBACK_AUTOCHECKPOINT = 10_000;

/**
 * Checkpoints in a thread of their own. SQLite's automatic checkpoint runs inside the
 * commit that crosses the threshold, fsyncs there, and so stalls every client of the event
 * loop for tens of milliseconds; this one copies the WAL from another connection while the
 * main one goes on writing.
 */
export class Checkpointer {
  readonly #db: Database.Database;
  #worker: Worker | null;
  #timer: NodeJS.Timeout;
  #inFlight = false;
  /** The WAL's length at the last checkpoint: one that has not moved since needs no catching up. */
  #lastFrames = 0;

  constructor(db: Database.Database, path: string) {
    this.#db = db;
    db.pragma('wal_autocheckpoint = 0');
    this.#timer = setInterval(() => this.#tick(), INTERVAL_MS);
    this.#timer.unref();
    this.#worker = null;
    try {
      const worker = new Worker(new URL('./checkpoint-worker.js', import.meta.url), { workerData: { path } });
      worker.on('message', (result: CheckpointResult) => {
        this.#inFlight = false;
        const grew = result.walFrames !== this.#lastFrames;
        this.#lastFrames = result.walFrames;
        if (grew && result.walFrames > CATCH_UP_FRAMES && this.#db.open) this.#db.pragma('wal_checkpoint(PASSIVE)');
      });
      // Also where a run from the TypeScript sources (the unit tests) ends up: no compiled worker to start.
      worker.on('error', () => this.#fallBack());
      // A thread that ends before close() would otherwise leave the WAL to grow without bound.
      worker.on('exit', () => {
        if (this.#worker === worker) this.#fallBack();
      });
      worker.unref();
      this.#worker = worker;
    } catch {
      this.#fallBack();
    }
  }

  #tick(): void {
    if (!this.#worker || this.#inFlight) return;
    this.#inFlight = true;
    this.#worker.postMessage({ mode: 'checkpoint' } satisfies CheckpointRequest);
  }

  /** Without the thread, SQLite checkpoints in the commit again: slower, never wrong. */
  #fallBack(): void {
    this.#worker = null;
    clearInterval(this.#timer);
    if (this.#db.open) this.#db.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT}`);
  }

  /** Stops the thread once its checkpoint in progress is done; the caller checkpoints what is left. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    const worker = this.#worker;
    this.#worker = null;
    if (!worker) return;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    // Unref'd while it runs; held now, or a process with nothing else to do would end before the thread does.
    worker.ref();
    worker.postMessage({ mode: 'close' } satisfies CheckpointRequest);
    await exited;
  }
}
