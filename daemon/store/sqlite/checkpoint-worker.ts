import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';

/** What the checkpointer thread is asked to do. */
export type CheckpointRequest = { mode: 'checkpoint' | 'close' };

/** SQLite's answer to a checkpoint: frames in the WAL, and how many of them are now in the database. */
export interface CheckpointResult {
  busy: boolean;
  walFrames: number;
  checkpointed: number;
}

/**
 * The checkpointer thread: its own connection to the database, copying the WAL into it
 * when asked. A checkpoint is where synchronous=NORMAL fsyncs (twice), which takes tens of
 * milliseconds; here that wait is off the event loop that serves clients.
 */
const port = parentPort;
if (!port) throw new Error('checkpoint-worker runs as a worker thread');
const db = new Database((workerData as { path: string }).path);

port.on('message', (request: CheckpointRequest) => {
  if (request.mode === 'close') {
    db.close();
    port.close();
    return;
  }
  // PASSIVE: copies what it can and never waits for, or holds back, the writer.
  const [row] = db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[];
  const result: CheckpointResult = { busy: row?.busy === 1, walFrames: row?.log ?? 0, checkpointed: row?.checkpointed ?? 0 };
  port.postMessage(result);
});
