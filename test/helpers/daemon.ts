import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach } from 'vitest';
import { ROOT, launchRelayd, spawnRelayd, type RelaydProcess } from '../../bench/lib/relayd-process.js';

export { ROOT };
export type Daemon = RelaydProcess;

export interface StartOptions {
  /** Reuse a data dir (to restart a daemon on the same state). */
  dataDir?: string;
  args?: string[];
  env?: Record<string, string>;
}

const running = new Set<Daemon>();
const tempDirs = new Set<string>();

afterEach(async () => {
  await Promise.all([...running].map((d) => d.kill()));
  running.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
});

/** A temp dir removed after the test. */
export function tempDir(prefix = 'relay-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/** Starts the real relayd on a free port with a temp data dir; every daemon is killed after each test. */
export async function startDaemon(options: StartOptions = {}): Promise<Daemon> {
  const daemon = await spawnRelayd(options.dataDir ?? tempDir('relayd-'), options.args ?? [], { ...cleanEnv(), ...options.env });
  running.add(daemon);
  return daemon;
}

const shared = new Set<Daemon>();
const sharedDirs = new Set<string>();

afterAll(async () => {
  await Promise.all([...shared].map((d) => d.kill()));
  shared.clear();
  for (const dir of sharedDirs) rmSync(dir, { recursive: true, force: true });
  sharedDirs.clear();
});

/**
 * A relayd that every test of a file shares (killed after the file's last test), for tests
 * that each bring their own app and need no fresh daemon: one start instead of one per test.
 */
export async function startSharedDaemon(options: Omit<StartOptions, 'dataDir'> = {}): Promise<Daemon> {
  const dir = mkdtempSync(join(tmpdir(), 'relayd-shared-'));
  sharedDirs.add(dir);
  const daemon = await spawnRelayd(dir, options.args ?? [], { ...cleanEnv(), ...options.env });
  shared.add(daemon);
  return daemon;
}

export interface Refusal {
  /** null when relayd started instead (it is killed then), so that a test fails on its assertion rather than by timing out. */
  exitCode: number | null;
  stderr: string;
  /** The JSON log lines of stderr. */
  entries: { level: number; msg: string; [field: string]: unknown }[];
}

/** Runs the real relayd where it should refuse to start, and waits for it to exit. */
export async function startDaemonExpectingExit(options: StartOptions = {}): Promise<Refusal> {
  const launched = launchRelayd(options.dataDir ?? tempDir('relayd-'), options.args ?? [], { ...cleanEnv(), ...options.env });
  const start = await launched.started;
  if ('url' in start) {
    launched.child.kill('SIGKILL');
    await launched.exited;
  }
  const entries: Refusal['entries'] = [];
  for (const line of launched.lines) {
    try {
      entries.push(JSON.parse(line) as Refusal['entries'][number]);
    } catch {
      // not a JSON line; in stderr
    }
  }
  return { exitCode: 'url' in start ? null : start.exitCode, stderr: launched.lines.join('\n'), entries };
}

/** The environment without anything of the developer's own relay set-up or terminal (COLUMNS would change how tables fit). */
export function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith('RELAY_') && key !== 'NO_COLOR' && !key.startsWith('CLICOLOR') && key !== 'COLUMNS' && key !== 'LINES') env[key] = value;
  }
  return env;
}

/** An http:// URL of a local port nobody listens on: a port the system just gave out and took back. */
export async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
