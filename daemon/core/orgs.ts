import type { Org } from '../../src/shared/api.js';
import { RelayError } from '../../src/shared/errors.js';
import type { OrgRecord, Store } from '../store/store.js';
import { auditRecord, type Actor } from './audit.js';
import type { Clock } from './clock.js';

export const DEFAULT_ORG = 'default';

const toOrg = (record: OrgRecord): Org => ({ id: record.id, name: record.name, createdAt: new Date(record.createdAt).toISOString() });

export class OrgService {
  readonly #store: Store;
  readonly #clock: Clock;

  constructor(store: Store, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  /** A fresh daemon has one organization, `default`. */
  async ensureDefault(): Promise<void> {
    if (await this.#store.getOrg(DEFAULT_ORG)) return;
    try {
      await this.#store.insertOrg({ id: DEFAULT_ORG, name: 'Default', createdAt: this.#clock.now() }, null);
    } catch (err) {
      // Another node sharing the store made it meanwhile (nodes starting together).
      if (!(err instanceof RelayError && err.code === 'conflict')) throw err;
    }
  }

  async list(): Promise<Org[]> {
    return (await this.#store.listOrgs()).map(toOrg);
  }

  /** not_found unless the organization exists. */
  async require(id: string): Promise<void> {
    if (!(await this.#store.getOrg(id))) throw new RelayError('not_found', `organization "${id}" not found`);
  }

  async create(actor: Actor, input: { id: string; name: string }): Promise<Org> {
    const record: OrgRecord = { id: input.id, name: input.name, createdAt: this.#clock.now() };
    await this.#store.insertOrg(record, auditRecord(this.#clock, actor, 'org.create', { org: input.id, type: 'org', id: input.id }, { name: input.name }));
    return toOrg(record);
  }
}
