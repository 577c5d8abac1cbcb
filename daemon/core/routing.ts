import type { AgentRecord, Store } from '../store/store.js';
import type { Clock } from './clock.js';
import { CACHE_TTL_MS } from './control.js';
import { compositeKey as key } from './keys.js';

/**
 * What accepting an agent event needs to know, kept in memory: the agent (does it exist,
 * is it active, its reply timeout) and the app's allowlist. Both are read for every event
 * and change only by an operator's command, which drops the copy here on every node
 * (`agentChanged`, `allowlistChanged`); a copy is read again after CACHE_TTL_MS in case a
 * node missed that. Agents that do not exist are not remembered, so that events for
 * made-up names cannot grow the cache.
 */
export class RoutingDirectory {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #agents = new Map<string, { agent: AgentRecord; until: number }>();
  readonly #allowlists = new Map<string, { allowed: string[]; until: number }>();
  /** Bumped by every change: a load that straddles one is not kept, being possibly older than it. */
  #generation = 0;

  constructor(store: Store, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  async agent(org: string, id: string): Promise<AgentRecord | null> {
    const cached = this.#agents.get(key(org, id));
    if (cached && cached.until > this.#clock.now()) return cached.agent;
    const generation = this.#generation;
    const record = await this.#store.getAgent(org, id);
    if (generation === this.#generation) {
      if (record) this.#agents.set(key(org, id), { agent: record, until: this.#clock.now() + CACHE_TTL_MS });
      else this.#agents.delete(key(org, id));
    }
    return record;
  }

  /** The app's allowed agents; empty allows every agent of the organization. */
  async allowlist(org: string, appId: string): Promise<string[]> {
    const cached = this.#allowlists.get(key(org, appId));
    if (cached && cached.until > this.#clock.now()) return cached.allowed;
    const generation = this.#generation;
    const allowed = await this.#store.listAllowedAgents(org, appId);
    if (generation === this.#generation) this.#allowlists.set(key(org, appId), { allowed, until: this.#clock.now() + CACHE_TTL_MS });
    return allowed;
  }

  agentChanged(org: string, id: string): void {
    this.#generation++;
    this.#agents.delete(key(org, id));
  }

  /** Forgets everything (this node may have missed invalidations while the broker was away). */
  dropAll(): void {
    this.#generation++;
    this.#agents.clear();
    this.#allowlists.clear();
  }

  allowlistChanged(org: string, appId: string): void {
    this.#generation++;
    this.#allowlists.delete(key(org, appId));
  }
}
