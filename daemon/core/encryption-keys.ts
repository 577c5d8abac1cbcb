import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import nacl from 'tweetnacl';
import { monotonicFactory } from 'ulid';
import type { EncryptionKey, EncryptionKeyCreated, EncryptionKeyRetired } from '../../src/shared/api.js';
import { RelayError } from '../../src/shared/errors.js';
import { ID_PREFIX } from '../../src/shared/ids.js';
import type { EncryptionKeyRecord, Store } from '../store/store.js';
import { auditRecord, type Actor } from './audit.js';
import type { Clock } from './clock.js';
import { CACHE_TTL_MS } from './control.js';
import { compositeKey } from './keys.js';
import type { SecretBox } from './secrets.js';

/**
 * An app's encryption keys (issue 18): 32-byte keys that relayd keeps sealed under the node
 * master key. The active key encrypts publishes to `private-encrypted-` channels made through
 * the public API (as Pusher's server SDKs do) and seals the app's history at rest; a rotated
 * key (decrypt-only) still opens what it sealed; a retired key is destroyed, and with it
 * everything it sealed (erasure by key destruction).
 *
 * The key bytes never leave this module except once, in the answer to `create` or `rotate`:
 * they are never logged, never put in an error, never in the audit log.
 */

/** A key's bytes, opened for use on this node. */
export interface OpenKey {
  id: string;
  bytes: Buffer;
}

/** What a key id stands for when a row sealed with it is read. */
export type KeyLookup = { state: 'open'; key: OpenKey } | { state: 'retired'; retiredAt: number | null };

export interface EncryptionKeysDeps {
  store: Store;
  clock: Clock;
  secrets: SecretBox;
  /** Told after an app's keys change so that every node drops what it holds of them; awaited. */
  keysChanged(org: string, appId: string): Promise<void>;
}

const KEY_BYTES = 32;
const ulid = monotonicFactory();

function toKey(record: EncryptionKeyRecord): EncryptionKey {
  const iso = (at: number | null): string | null => (at === null ? null : new Date(at).toISOString());
  return {
    id: record.id,
    appId: record.appId,
    state: record.state,
    createdAt: new Date(record.createdAt).toISOString(),
    rotatedAt: iso(record.rotatedAt),
    retiredAt: iso(record.retiredAt),
  };
}

interface Cached<T> {
  value: T;
  at: number;
}

export class EncryptionKeyService {
  readonly #deps: EncryptionKeysDeps;
  /** Per app, its active key (null: none), read at most CACHE_TTL_MS ago. */
  readonly #active = new Map<string, Cached<OpenKey | null>>();
  /** Per key id, what it opens (or that it is retired), with its app to drop it by. */
  readonly #byId = new Map<string, Cached<KeyLookup> & { app: string }>();

  constructor(deps: EncryptionKeysDeps) {
    this.#deps = deps;
  }

  // ---- management (the admin API and the public API's keys routes)

  /** A new active key: 32 random bytes, or the base64 bytes given (`--import`). Conflict when the app has an active key (rotate instead). */
  async create(actor: Actor, org: string, appId: string, imported?: string): Promise<EncryptionKeyCreated> {
    await this.#requireApp(org, appId);
    const bytes = imported === undefined ? randomBytes(KEY_BYTES) : Buffer.from(imported, 'base64');
    if (bytes.length !== KEY_BYTES) throw new RelayError('invalid_request', `an encryption key is ${KEY_BYTES} bytes; the key given is ${bytes.length}`);
    const record = this.#newRecord(org, appId, bytes);
    const action = imported === undefined ? 'key.create' : 'key.import';
    await this.#deps.store.insertEncryptionKey(record, { rotate: false }, auditRecord(this.#deps.clock, actor, action, { org, type: 'app', id: appId }, { keyId: record.id }));
    await this.#changed(org, appId);
    return { key: toKey(record), secret: bytes.toString('base64') };
  }

  async list(org: string, appId: string): Promise<EncryptionKey[]> {
    await this.#requireApp(org, appId);
    return (await this.#deps.store.listEncryptionKeys(org, appId)).map(toKey);
  }

  /** A new active key; the active one becomes decrypt-only. Conflict when the app has no active key (create one). */
  async rotate(actor: Actor, org: string, appId: string): Promise<EncryptionKeyCreated> {
    await this.#requireApp(org, appId);
    const keys = await this.#deps.store.listEncryptionKeys(org, appId);
    const current = keys.find((k) => k.state === 'active');
    if (!current) {
      throw new RelayError('conflict', `app "${appId}" has no active encryption key to rotate`, { hint: `create one with \`relay keys create --app ${appId}\`` });
    }
    const bytes = randomBytes(KEY_BYTES);
    const record = this.#newRecord(org, appId, bytes);
    await this.#deps.store.insertEncryptionKey(
      record,
      { rotate: true },
      auditRecord(this.#deps.clock, actor, 'key.rotate', { org, type: 'app', id: appId }, { keyId: record.id, previousKeyId: current.id }),
    );
    await this.#changed(org, appId);
    return { key: toKey(record), secret: bytes.toString('base64') };
  }

  /**
   * Destroys a decrypt-only key for good: what it sealed reads as erased from now on. The
   * active key cannot be retired (conflict: rotate first), so that an app with a key never
   * falls back to storing plain text or refusing encrypted publishes by surprise. `owner`
   * limits it to one app's keys (the public API); an unknown or foreign id is not_found.
   */
  async retire(actor: Actor, id: string, owner?: { org: string; appId: string }): Promise<EncryptionKeyRetired> {
    const current = await this.#deps.store.getEncryptionKey(id);
    if (!current || (owner && (current.org !== owner.org || current.appId !== owner.appId))) {
      throw new RelayError('not_found', `encryption key ${id} not found`, { hint: 'list them with `relay keys list --app ID`' });
    }
    if (current.state === 'retired') return { key: toKey(current), changed: false };
    const at = this.#deps.clock.now();
    const retired = await this.#deps.store.retireEncryptionKey(id, at, auditRecord(this.#deps.clock, actor, 'key.retire', { org: current.org, type: 'app', id: current.appId }, { keyId: id }));
    await this.#changed(current.org, current.appId);
    return { key: toKey(retired ?? current), changed: true };
  }

  // ---- use (publishing and history)

  /** The app's active key, or null (cached for CACHE_TTL_MS, dropped by keysChanged). */
  async active(org: string, appId: string): Promise<OpenKey | null> {
    const app = compositeKey(org, appId);
    const cached = this.#active.get(app);
    const now = this.#deps.clock.now();
    if (cached && now - cached.at < CACHE_TTL_MS) return cached.value;
    const record = (await this.#deps.store.listEncryptionKeys(org, appId)).find((k) => k.state === 'active');
    const value = record ? this.#open(record) : null;
    this.#active.set(app, { value, at: now });
    return value;
  }

  /** What the key `id` opens, or that it is retired (also a key gone with its purged app): for reading rows sealed with it. */
  async lookup(id: string): Promise<KeyLookup> {
    const cached = this.#byId.get(id);
    const now = this.#deps.clock.now();
    if (cached && now - cached.at < CACHE_TTL_MS) return cached.value;
    const record = await this.#deps.store.getEncryptionKey(id);
    const value: KeyLookup =
      !record ? { state: 'retired', retiredAt: null } : record.material === null ? { state: 'retired', retiredAt: record.retiredAt } : { state: 'open', key: this.#open(record) };
    this.#byId.set(id, { value, at: now, app: record ? compositeKey(record.org, record.appId) : '' });
    return value;
  }

  /**
   * Data for a `private-encrypted-` channel, encrypted as Pusher's server SDKs encrypt it (see
   * `sealChannelData`) with the app's active key: what the public API publishes there. Refused,
   * with nothing sent, when the app has no active key.
   */
  async sealFor(org: string, appId: string, channel: string, data: string): Promise<string> {
    return sealChannelData(await this.#requireActive(org, appId, channel), channel, data);
  }

  /** Drops what this node holds of an app's keys (a keysChanged message, from this node or another). */
  drop(org: string, appId: string): void {
    const app = compositeKey(org, appId);
    this.#active.delete(app);
    for (const [id, cached] of this.#byId) if (cached.app === app || cached.app === '') this.#byId.delete(id);
  }

  /** This node may have missed keysChanged messages (the broker was away). */
  dropAll(): void {
    this.#active.clear();
    this.#byId.clear();
  }

  async #requireActive(org: string, appId: string, channel: string): Promise<OpenKey> {
    const key = await this.active(org, appId);
    if (key) return key;
    throw new RelayError('conflict', `app "${appId}" has no encryption key, so relayd cannot encrypt this event for ${channel}; nothing was sent`, {
      hint: `create one with \`relay keys create --app ${appId}\` and give the same key to your auth backend (encryptionMasterKeyBase64)`,
    });
  }

  #newRecord(org: string, appId: string, bytes: Buffer): EncryptionKeyRecord {
    const createdAt = this.#deps.clock.now();
    return {
      id: `${ID_PREFIX.encryptionKey}${ulid(createdAt)}`,
      org,
      appId,
      state: 'active',
      material: this.#deps.secrets.seal(bytes.toString('base64')),
      createdAt,
      rotatedAt: null,
      retiredAt: null,
    };
  }

  #open(record: EncryptionKeyRecord): OpenKey {
    return { id: record.id, bytes: Buffer.from(this.#deps.secrets.open(record.material as string), 'base64') };
  }

  async #changed(org: string, appId: string): Promise<void> {
    await this.#deps.keysChanged(org, appId);
  }

  async #requireApp(org: string, appId: string): Promise<void> {
    if (!(await this.#deps.store.getApp(org, appId))) throw new RelayError('not_found', `app "${appId}" not found in organization "${org}"`);
  }
}

/**
 * Pusher's end-to-end encryption, byte for byte as its server SDKs do it (pusher-http-node
 * `lib/events.js` and `channelSharedSecret`): the channel's key is SHA-256(channel name bytes
 * then the 32 master key bytes); the data is sealed with NaCl secretbox under a random 24-byte
 * nonce, and sent as the JSON string `{"nonce": base64, "ciphertext": base64}`. The plaintext
 * is the event's data string as the public API has it (a JSON value given as `data` was turned
 * into its JSON text), so that subscribers get what they would get on a plain channel.
 */
export function sealChannelData(key: OpenKey, channel: string, data: string): string {
  const shared = createHash('sha256').update(Buffer.concat([Buffer.from(channel), key.bytes])).digest();
  const nonce = nacl.randomBytes(24);
  const ciphertext = nacl.secretbox(new Uint8Array(Buffer.from(data, 'utf8')), nonce, new Uint8Array(shared));
  return JSON.stringify({ nonce: Buffer.from(nonce).toString('base64'), ciphertext: Buffer.from(ciphertext).toString('base64') });
}

/** History at rest: `enc1:` KEY_ID `:` base64(12-byte IV | 16-byte GCM tag | ciphertext), so that every value names its key. */
const SEALED = /^enc1:(key_[0-9A-Z]{26}):([A-Za-z0-9+/]*={0,2})$/;

export function sealValue(key: OpenKey, plain: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.bytes, iv);
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return `enc1:${key.id}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
}

/** The key id a sealed value names, or null for a value that is not sealed. */
export function sealedWith(value: string): string | null {
  return SEALED.exec(value)?.[1] ?? null;
}

export function openValue(key: OpenKey, sealed: string): string {
  const raw = Buffer.from((SEALED.exec(sealed) as RegExpExecArray)[2] as string, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', key.bytes, raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
}
