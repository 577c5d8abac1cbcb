import { RelayError } from '../../src/shared/errors.js';
import type { EventRecord, EventWrite, Store } from '../store/store.js';
import { openValue, sealValue, sealedWith, type EncryptionKeyService, type OpenKey } from './encryption-keys.js';

/**
 * History at rest (issue 18), as a wrapper of the Store port (STYLE.md: cross-cutting
 * behaviour is a wrapper implementing the same port). relayd builds it once around the
 * store and hands every part of the daemon this one, so no reader can miss it: EventLog's
 * list, show and history, the dispatcher's reads of unsettled events (a takeover, an app
 * that connects), the acks it checks. The methods that return events are checked against
 * the Store interface at compile time (`EventReads` below): a new one that this wrapper does
 * not open fails the build.
 *
 * Writes: a new event of an app with an active key has its payload and reply sealed with it
 * (AES-256-GCM, a random 12-byte IV, `keyId` beside the row); a reply written later to such a
 * row is sealed with the app's active key then (each value names its key). Rows of an app
 * without a key, and rows written before the app had one, are stored as they come.
 *
 * Reads: each value is opened with the key it names, active or decrypt-only. A value whose
 * key was retired reads as null, and the record says so (`erased`).
 */

type Reader<K extends keyof Store> = Store[K] extends (...args: never[]) => Promise<infer R> ? R : never;
/** The Store methods whose answer holds events. */
type EventReads = { [K in keyof Store]: [Extract<Reader<K>, EventRecord | EventRecord[]>] extends [never] ? never : K }[keyof Store];
/** Every one of them is opened here: adding an event read to the Store without listing it fails to compile. */
const OPENED = { getEvent: true, queryEvents: true, listUnsettledEvents: true } as const satisfies Record<EventReads, true>;
const opened: ReadonlySet<string> = new Set(Object.keys(OPENED));

export function withEncryptedHistory(store: Store, keys: EncryptionKeyService): Store {
  const history = new EncryptedHistory(store, keys);
  return new Proxy(store, {
    get(target, name) {
      if (name === 'writeEvents') return (writes: EventWrite[]) => history.write(writes);
      if (typeof name === 'string' && opened.has(name)) {
        return async (...args: unknown[]): Promise<unknown> => {
          const answer: unknown = await (Reflect.get(target, name, target) as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          if (answer === null) return null;
          return Array.isArray(answer) ? Promise.all((answer as EventRecord[]).map((r) => history.open(r))) : history.open(answer as EventRecord);
        };
      }
      const value: unknown = Reflect.get(target, name, target);
      // Methods run on the store itself, so that its private fields work.
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

class EncryptedHistory {
  readonly #store: Store;
  readonly #keys: EncryptionKeyService;

  constructor(store: Store, keys: EncryptionKeyService) {
    this.#store = store;
    this.#keys = keys;
  }

  async write(writes: EventWrite[]): Promise<void> {
    const rows = new Map<string, Pick<EventRecord, 'org' | 'appId' | 'keyId'>>();
    const sealed: EventWrite[] = [];
    for (const write of writes) {
      if (write.type === 'insert') {
        const event = write.event;
        const key = await this.#keys.active(event.org, event.appId);
        const row = key === null ? { ...event, keyId: null } : { ...event, keyId: key.id, payload: seal(key, event.payload), reply: seal(key, event.reply) };
        rows.set(event.id, row);
        sealed.push({ ...write, event: row });
        continue;
      }
      const reply = write.patch.reply;
      if (reply === undefined || reply === null) {
        sealed.push(write);
        continue;
      }
      // An app without a key (nearly every app, a cached answer) has no sealed rows: no store read on the reply's path.
      if ((await this.#keys.active(write.org, write.appId)) === null && !rows.has(write.id)) {
        sealed.push(write);
        continue;
      }
      // An update in a batch is of an event inserted before it: in this batch, or in the store.
      const row = rows.get(write.id) ?? (await this.#store.getEvent(write.id));
      if (!row || row.keyId === null) {
        sealed.push(write);
        continue;
      }
      const key = await this.#keys.active(row.org, row.appId);
      // Without an active key (the app was deleted meanwhile) the reply is not kept in plain text beside a sealed payload.
      sealed.push({ ...write, patch: { ...write.patch, reply: key === null ? null : sealValue(key, reply) } });
    }
    await this.#store.writeEvents(sealed);
  }

  async open(record: EventRecord): Promise<EventRecord> {
    if (record.keyId === null) return { ...record, erased: null };
    let erased: EventRecord['erased'] = null;
    const open = async (value: string | null): Promise<string | null> => {
      if (value === null) return null;
      const keyId = sealedWith(value);
      if (keyId === null) return value;
      const found = await this.#keys.lookup(keyId);
      if (found.state === 'retired') {
        erased ??= { keyId, retiredAt: found.retiredAt };
        return null;
      }
      try {
        return openValue(found.key, value);
      } catch (err) {
        throw new RelayError('internal', `event ${record.id} could not be decrypted with key ${keyId} (the stored value was changed, or the master key is not the one it was sealed under)`, { cause: err });
      }
    };
    const payload = await open(record.payload);
    const reply = await open(record.reply);
    return { ...record, payload, reply, erased };
  }
}

const seal = (key: OpenKey, value: string | null): string | null => (value === null ? null : sealValue(key, value));
