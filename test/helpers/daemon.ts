import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { ROOT, spawnRelayd, type RelaydProcess } from '../../bench/lib/relayd-process.js';

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

/** The environment without anything of the developer's own relay set-up. */
export function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith('RELAY_') && key !== 'NO_COLOR' && !key.startsWith('CLICOLOR')) env[key] = value;
  }
  return env;
}
