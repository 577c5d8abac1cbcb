import { closeSync, fstatSync, ftruncateSync, linkSync, openSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Logger } from './log.js';
import { StartupError } from './startup-error.js';

/** Held while a relayd runs on the data dir, as Postgres's postmaster.pid. */
export const LOCK_FILE = 'relayd.pid';

export interface DataDirLock {
  /** Adds where this relayd listens to the lock file, for the message a second relayd gets. */
  setUrl(url: string): void;
  /** Removes the lock file, if it is still this relayd's. */
  release(): void;
}

/** What a lock file says: its first line is the pid (as postmaster.pid's), then the start time and the URL once known. */
interface Holder {
  pid: number;
  startedAt: string;
  url: string;
}

function lockText(startedAt: string, url: string): string {
  return `${process.pid}\n${startedAt}\n${url}\n`;
}

function parseLock(text: string): Holder | null {
  const [pid = '', startedAt = '', url = ''] = text.split('\n');
  return /^[1-9]\d*$/.test(pid) ? { pid: Number(pid), startedAt, url } : null;
}

function readLock(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** The process runs a relayd: bin/relayd(.js) as installed, or the compiled entry point run directly. */
function isRelaydCommand(argv: string[]): boolean {
  return argv.some((arg) => ['relayd', 'relayd.js'].includes(basename(arg)) || arg.endsWith('daemon/main.js'));
}

/**
 * Whether process `pid` holds the lock file at `path`. A pid that is gone or is this process
 * (a container's relayd gets the same pid at every start) or its parent does not. A live pid
 * may have been reused by another program since the holder died: on Linux, the holder keeps
 * the file open, which /proc/PID/fd shows for a process of the same user; for another
 * user's, /proc/PID/cmdline says whether it is a relayd at all. Without /proc, a live pid
 * is taken to hold it.
 */
function holds(pid: number, path: string): boolean {
  if (pid === process.pid || pid === process.ppid) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists, under another user.
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  let lock;
  try {
    lock = statSync(path);
  } catch {
    return false;
  }
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        const open = statSync(`/proc/${pid}/fd/${fd}`);
        return open.ino === lock.ino && open.dev === lock.dev;
      } catch {
        return false;
      }
    });
  } catch {
    // Not ours to look into, or no /proc.
  }
  try {
    return isRelaydCommand(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'));
  } catch {
    return true;
  }
}

function heldMessage(dir: string, path: string, holder: Holder): string {
  const where = holder.url ? `listening on ${holder.url}` : `starting since ${holder.startedAt}`;
  return (
    `the data dir ${dir} is in use by another relayd (pid ${holder.pid}, ${where}); two daemons on one data dir ` +
    `would each keep their own caches and rate limits. Stop that relayd first, or give this one another --data-dir. ` +
    `If no relayd runs on this data dir (one in another container or on another host holds the pid), remove ${path}`
  );
}

/**
 * Takes the data dir for this process: `relayd.pid`, holding this pid, is linked into place
 * (link fails when the name exists, and the file never exists half written). A lock file
 * whose holder is gone (killed, or the machine stopped) is taken over, with a warning.
 */
export function lockDataDir(dir: string, log: Logger): DataDirLock {
  const path = join(dir, LOCK_FILE);
  const startedAt = new Date().toISOString();
  const temp = `${path}.${process.pid}`;
  let fd: number;
  try {
    rmSync(temp, { force: true });
    fd = openSync(temp, 'wx', 0o600);
  } catch (err) {
    const error = err as NodeJS.ErrnoException;
    throw new StartupError(`cannot create ${temp} in the data dir (${error.code ?? error.message}): relayd must be able to write in ${dir}; fix its owner or mode, or give relayd another --data-dir`);
  }
  try {
    writeSync(fd, lockText(startedAt, ''));
    // A stale file is removed and the link tried again; three tries, should other relayds take it over meanwhile.
    for (let round = 0; ; round++) {
      try {
        linkSync(temp, path);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || round === 2) throw err;
      }
      const text = readLock(path);
      if (text === null) continue;
      const holder = parseLock(text);
      if (holder && holds(holder.pid, path)) throw new StartupError(heldMessage(dir, path, holder));
      // Removed only if it is still the file just judged, not one a relayd starting meanwhile put there.
      if (readLock(path) !== text) continue;
      rmSync(path, { force: true });
      log.warn(
        { path, stalePid: holder?.pid ?? null },
        holder
          ? `took over ${path}: relayd pid ${holder.pid}, which held the data dir, is gone without stopping cleanly (killed, or the machine stopped)`
          : `took over ${path}, which held no pid`,
      );
    }
  } catch (err) {
    closeSync(fd);
    throw err;
  } finally {
    rmSync(temp, { force: true });
  }

  let released = false;
  return {
    setUrl(url) {
      const text = lockText(startedAt, url);
      // Written over the old text, then cut: a reader never finds the file empty.
      writeSync(fd, text, 0);
      ftruncateSync(fd, Buffer.byteLength(text));
    },
    release() {
      if (released) return;
      released = true;
      try {
        const mine = fstatSync(fd);
        const now = statSync(path);
        if (mine.ino === now.ino && mine.dev === now.dev) unlinkSync(path);
      } catch {
        // Gone already.
      }
      closeSync(fd);
    },
  };
}
