import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { adminTokenPath } from '../src/shared/paths.js';

/** Creates the data dir (0700) when missing. */
export function prepareDataDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** The AES-256-GCM key for channel secrets, made on first start, mode 0600. */
export function loadMasterKey(dir: string): Buffer {
  const path = join(dir, 'master.key');
  if (!existsSync(path)) {
    writeFileSync(path, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  }
  const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new Error(`${path} does not hold a 32-byte base64 key`);
  return key;
}

/** True when `DIR/admin-token` exists; relayd writes a new one when it is missing. */
export function hasAdminTokenFile(dir: string): boolean {
  return existsSync(adminTokenPath(dir));
}

export function writeAdminTokenFile(dir: string, token: string): string {
  const path = adminTokenPath(dir);
  writeFileSync(path, token + '\n', { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}
