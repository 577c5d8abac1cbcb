import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { createHmac, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { adminTokenPath } from '../src/shared/address.js';
import type { MasterKeySource } from './config.js';
import type { SecretBox } from './core/secrets.js';
import type { Logger } from './log.js';
import { StartupError } from './startup-error.js';
import type { Store } from './store/store.js';

const DB = 'relay.db';
const MASTER_KEY = 'master.key';
const ADMIN_TOKEN = 'admin-token';
/** Any of these says relayd has used the dir before (a WAL without its database too: SQLite would replay it into a new one). */
const SIGNS_OF_USE = [DB, `${DB}-wal`, MASTER_KEY, ADMIN_TOKEN];
/** What an initialized data dir cannot do without; admin-token is written anew when missing (the README's way to get a new one). */
const REQUIRED = [DB, MASTER_KEY];
/** Files whose loose modes relayd fixes itself: its own database, which nobody else has a reason to read. */
const DB_FILES = [DB, `${DB}-wal`, `${DB}-shm`];
/** Files that are refused when loose, as ssh refuses a private key: a copy taken meanwhile is out of relayd's hands. */
const SECRET_FILES = [MASTER_KEY, ADMIN_TOKEN];

const GROUP_OR_OTHERS = 0o077;
const octal = (mode: number): string => (mode & 0o777).toString(8).padStart(4, '0');
const startOver = (dir: string): string => `or, to start over with an empty relay, move the data dir away (mv ${dir} ${dir}.old) and start relayd again`;

/**
 * Creates the data dir (0700) when missing. An existing one is the operator's and keeps its
 * mode, but one that others may write to is refused (they could swap master.key or plant a
 * link where relayd writes admin-token), and one that others may list is warned about.
 */
export function prepareDataDir(dir: string, log: Logger): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    const error = err as NodeJS.ErrnoException;
    throw new StartupError(`cannot create the data dir ${dir} (${error.code ?? error.message}): create it yourself (mkdir -m 700 ${dir}) or give relayd another --data-dir`);
  }
  const stat = statSync(dir);
  if (!stat.isDirectory()) throw new StartupError(`the data dir ${dir} is not a directory: give relayd another --data-dir`);
  if (stat.mode & 0o022) {
    throw new StartupError(
      `the data dir ${dir} is writable by group or others (mode ${octal(stat.mode)}): they could replace master.key or relay.db, or plant a link where relayd writes admin-token. Run: chmod 700 ${dir}`,
    );
  }
  if (stat.mode & GROUP_OR_OTHERS) {
    log.warn({ dataDir: dir, mode: octal(stat.mode) }, `the data dir ${dir} can be listed by group or others (mode ${octal(stat.mode)}); its files are 0600, but chmod 700 ${dir} keeps other users out of it altogether`);
  }
}

/**
 * Checks an existing data dir before anything in it is opened. A dir relayd has used before
 * that has lost its database or master key is refused, instead of being silently given a new
 * one (an empty relay, or channel secrets nobody can read). master.key and admin-token open
 * to group or others are refused; the database's own files are set to 0600, with a warning.
 */
export function checkDataFiles(dir: string, log: Logger, keeps: { database: boolean; masterKey: boolean } = { database: true, masterKey: true }): void {
  const present = SIGNS_OF_USE.filter((name) => existsSync(join(dir, name)));
  // A store elsewhere (PostgreSQL, sqlite:PATH) or a master key given otherwise is not missing from here.
  const required = REQUIRED.filter((name) => (name === DB ? keeps.database : keeps.masterKey));
  const missing = required.filter((name) => !present.includes(name));
  if (present.length > 0 && missing.length > 0) throw new StartupError(missingMessage(dir, present, missing));

  const open = SECRET_FILES.map((name) => join(dir, name)).filter((path) => existsSync(path) && statSync(path).mode & GROUP_OR_OTHERS);
  if (open.length > 0) {
    const which = open.map((path) => `${path} (mode ${octal(statSync(path).mode)})`).join(' and ');
    throw new StartupError(
      `${which} ${open.length === 1 ? 'is' : 'are'} readable or writable by group or others: master.key decrypts every app's channel secret and admin-token gives full control of relayd, ` +
        `so relayd refuses them unprotected, as ssh refuses such a private key. Run: chmod 600 ${open.join(' ')}`,
    );
  }

  for (const path of DB_FILES.map((name) => join(dir, name))) {
    if (!existsSync(path)) continue;
    const mode = statSync(path).mode;
    if (!(mode & GROUP_OR_OTHERS)) continue;
    chmodSync(path, 0o600);
    log.warn({ path, was: octal(mode) }, `${path} was readable by group or others (mode ${octal(mode)}); relayd set it to 0600`);
  }
}

function missingMessage(dir: string, present: string[], missing: string[]): string {
  const what = missing.map((name) => `${name === DB ? 'the database' : 'the master key'} ${join(dir, name)}`).join(' and ');
  const harm = missing.includes(DB)
    ? 'relayd would start empty, without its apps, tokens and history, and the admin token kept in admin-token would be refused'
    : `the channel secrets in ${join(dir, DB)} cannot be read without it`;
  return (
    `${what} ${missing.length === 1 ? 'is' : 'are'} missing, but relayd has used ${dir} before (it holds ${present.join(', ')}): ${harm}. ` +
    `Restore ${missing.join(' and ')} from a backup (relay.db and master.key belong together), ${startOver(dir)}`
  );
}

/**
 * The master key as configured: from --master-key-file (refused when group or others can
 * read it, as master.key is), from RELAY_MASTER_KEY, or the data dir's master.key.
 */
export function loadConfiguredMasterKey(source: MasterKeySource, dir: string): Buffer {
  if (source === null) return loadMasterKey(dir);
  if (source.from === 'env') return parseKey(source.base64, 'RELAY_MASTER_KEY does not hold a master key (32 bytes in base64, as `openssl rand -base64 32` prints)');
  let text: string;
  try {
    const mode = statSync(source.path).mode;
    if (mode & GROUP_OR_OTHERS) {
      throw new StartupError(`${source.path} (--master-key-file) is readable or writable by group or others (mode ${octal(mode)}): it decrypts every app's channel secret. Run: chmod 600 ${source.path}`);
    }
    text = readFileSync(source.path, 'utf8');
  } catch (err) {
    if (err instanceof StartupError) throw err;
    throw new StartupError(`cannot read the master key file ${source.path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): check --master-key-file / RELAY_MASTER_KEY_FILE`);
  }
  return parseKey(text, `${source.path} (--master-key-file) does not hold a master key (32 bytes in base64, as \`openssl rand -base64 32\` prints)`);
}

function parseKey(text: string, problem: string): Buffer {
  const trimmed = text.trim();
  const key = Buffer.from(trimmed, 'base64');
  if (key.length !== 32 || !/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed)) throw new StartupError(problem);
  return key;
}

const keyName = (source: MasterKeySource, dir: string): string => (source === null ? join(dir, MASTER_KEY) : source.from === 'file' ? source.path : 'RELAY_MASTER_KEY');

/** What the store keeps of the master key: enough to tell another key, nothing to recover this one. */
export function masterKeyFingerprint(key: Buffer): string {
  return createHmac('sha256', key).update('relay master key fingerprint v1').digest('base64url').slice(0, 22);
}

/**
 * Every node sharing a store must seal channel secrets with one key: the first to start
 * records the key's fingerprint in the store, and a node with another key is refused.
 */
export async function checkMasterKeyFingerprint(store: Pick<Store, 'claimSetting'>, key: Buffer, source: MasterKeySource, dir: string, shared: boolean): Promise<void> {
  const mine = masterKeyFingerprint(key);
  const stored = await store.claimSetting('masterKeyFingerprint', mine);
  if (stored === mine) return;
  const where = keyName(source, dir);
  if (!shared) {
    throw new StartupError(`${where} is not the key this store was first used with (its fingerprint is kept in the store). Put back the master key that belongs with this store, ${startOver(dir)}`);
  }
  throw new StartupError(
    `this node's master key (${where}) is not the one the store's channel secrets are sealed with: every node sharing a store needs the same key. ` +
      `Give this node the other nodes' key with --master-key-file or RELAY_MASTER_KEY`,
  );
}

/** The AES-256-GCM key for channel secrets: read, or made (mode 0600, on disk before any secret is sealed with it) in a new data dir. */
export function loadMasterKey(dir: string): Buffer {
  const path = join(dir, MASTER_KEY);
  if (!existsSync(path)) {
    const fd = openSync(path, 'wx', 0o600);
    try {
      writeSync(fd, randomBytes(32).toString('base64') + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
  if (key.length !== 32) {
    throw new StartupError(`${path} does not hold a master key (32 bytes in base64): it is damaged. Restore it from the backup taken with relay.db, ${startOver(dir)}`);
  }
  return key;
}

/**
 * Refuses a master.key that is not the one the database's channel secrets were sealed with
 * (one from another install or another backup), which would otherwise show as 500s on every
 * channel request. Opening one sealed secret is enough: they all share the key.
 */
export async function checkMasterKey(dir: string, store: Pick<Store, 'anyChannelSecret'>, secrets: SecretBox, source: MasterKeySource): Promise<void> {
  const sealed = await store.anyChannelSecret();
  if (sealed === null || secrets.canOpen(sealed)) return;
  throw new StartupError(
    `${keyName(source, dir)} is not the key the channel secrets in ${join(dir, DB)} were sealed with (a master.key from another install or another backup?). ` +
      `Put back the master.key that belongs with this relay.db, ${startOver(dir)}`,
  );
}

/** True when `DIR/admin-token` exists; relayd writes a new one when it is missing. */
export function hasAdminTokenFile(dir: string): boolean {
  return existsSync(adminTokenPath(dir));
}

export function writeAdminTokenFile(dir: string, token: string): string {
  const path = adminTokenPath(dir);
  // wx: a file or link someone put there meanwhile is an error, not somewhere to write the token.
  writeFileSync(path, token + '\n', { mode: 0o600, flag: 'wx' });
  return path;
}
