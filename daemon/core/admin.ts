import { RelayError } from '../../src/shared/errors.js';
import { ADMIN_TOKEN } from '../../src/shared/ids.js';
import type { Store } from '../store/store.js';
import type { Actor } from './audit.js';
import type { Clock } from './clock.js';
import type { Counters } from './metrics.js';
import { fastHash, newAdminToken, randomBase62 } from './secrets.js';

/** Admin tokens authenticate the `relay` CLI against the admin API. */
export class AdminAuth {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #counters: Counters;

  constructor(store: Store, clock: Clock, counters: Counters) {
    this.#store = store;
    this.#clock = clock;
    this.#counters = counters;
  }

  /** Makes a new admin token and returns it; only its hash is kept. */
  async issue(): Promise<string> {
    const token = newAdminToken();
    await this.#store.insertAdminToken({ id: `adm_${randomBase62(12)}`, hash: fastHash(token), createdAt: this.#clock.now() });
    return token;
  }

  /** The actor of a valid admin token; unauthorized otherwise (a malformed one without a lookup). */
  async verify(token: string): Promise<Actor> {
    if (!ADMIN_TOKEN.test(token)) {
      this.#counters.credentialsRefusedUnchecked++;
      throw new RelayError('unauthorized', 'invalid admin token');
    }
    const record = await this.#store.findAdminTokenByHash(fastHash(token));
    if (!record) throw new RelayError('unauthorized', 'invalid admin token');
    return `admin:${record.id}`;
  }
}
