import type { AgentRecord, Store } from '../store/store.js';
import { compositeKey as key } from './keys.js';

/**
 * What accepting an agent event needs to know, kept in memory: the agent (does it exist,
 * is it active, its reply timeout) and the app's allowlist. Both are read for every event
 * and change only by an operator's command, which drops the copy here (`agentChanged`,
 * `allowlistChanged`). Agents that do not exist are not remembered, so that events for
 * made-up names cannot grow the cache.
 */
export class RoutingDirectory {
  readonly #store: Store;
  readonly #agents = new Map<string, AgentRecord>();
  readonly #allowlists = new Map<string, string[]>();
  /** Bumped by every change: a load that straddles one is not kept, being possibly older than it. */
  #generation = 0;

  constructor(store: Store) {
    this.#store = store;
  }

  async agent(org: string, id: string): Promise<AgentRecord | null> {
    const cached = this.#agents.get(key(org, id));
    if (cached) return cached;
    const generation = this.#generation;
    const record = await this.#store.getAgent(org, id);
    if (record && generation === this.#generation) this.#agents.set(key(org, id), record);
    return record;
  }

  /** The app's allowed agents; empty allows every agent of the organization. */
  async allowlist(org: string, appId: string): Promise<string[]> {
    const cached = this.#allowlists.get(key(org, appId));
    if (cached) return cached;
    const generation = this.#generation;
    const allowed = await this.#store.listAllowedAgents(org, appId);
    if (generation === this.#generation) this.#allowlists.set(key(org, appId), allowed);
    return allowed;
  }

  agentChanged(org: string, id: string): void {
    this.#generation++;
    this.#agents.delete(key(org, id));
  }

  allowlistChanged(org: string, appId: string): void {
    this.#generation++;
    this.#allowlists.delete(key(org, appId));
  }
}
