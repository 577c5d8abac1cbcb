import type { Agent, AgentRegistered, AgentRotated, AgentStateChange, Deleted } from '../../src/shared/api.js';
import { RelayError } from '../../src/shared/errors.js';
import { parseAgentToken } from '../../src/shared/ids.js';
import type { AgentPatch, AgentRecord, AgentTokenRecord, SchemaRef, Store } from '../store/store.js';
import { CLOSE_APP_INACTIVE, CLOSE_TOKEN_EXPIRED } from './apps.js';
import { auditRecord, type Actor } from './audit.js';
import type { Clock } from './clock.js';
import type { ConnectionCounts, ConnectionRegistry } from './connections.js';
import { GraceTimers, LEADERLESS_MS } from './grace.js';
import type { Counters } from './metrics.js';
import { fastHash, newAgentToken, randomBase62 } from './secrets.js';

export const DEFAULT_AGENT_TIMEOUT_MS = 120_000;

export interface AgentPrincipal {
  org: string;
  agentId: string;
  tokenId: string;
  status: AgentRecord['status'];
}

export interface AgentsDeps {
  store: Store;
  clock: Clock;
  connections: ConnectionRegistry;
  counters: Counters;
  /** Told after an agent's status changes, so that caches of it drop their copies on every node (awaited, as apps' appChanged). */
  agentChanged(org: string, id: string): Promise<void>;
  /** Before an agent is deleted: the events still waiting for it fail (their apps are told), so that none waits on it afterwards. */
  agentDeleting(org: string, id: string, purge: boolean): Promise<void>;
  /** A rotation's grace period runs until `at`: the cluster's leader arms its end (`graceStarted` there). */
  graceStarted(org: string, id: string, at: number): Promise<void>;
  /** After an agent is deleted, for each app whose allowlist named it. */
  allowlistChanged(org: string, appId: string): Promise<void>;
  /** A failure with nobody to answer (the end of a grace period). */
  onError(err: unknown, what: string): void;
  /** Whether an app of the organization has this schema (a binding to a missing one is refused). */
  schemaExists(org: string, appId: string, name: string): Promise<boolean>;
}

/** Agents (the services that receive events and reply): lifecycle and the check of their tokens. */
export class AgentService {
  readonly #deps: AgentsDeps;
  readonly #grace: GraceTimers;

  constructor(deps: AgentsDeps) {
    this.#deps = deps;
    this.#grace = new GraceTimers(deps.clock);
  }

  /**
   * The cluster's leader ends the grace periods: every one still running is armed here (at
   * start, or when a leader died), and those that ended while no node led end now.
   */
  async lead(): Promise<void> {
    this.#grace.lead();
    for (const token of await this.#deps.store.listAgentTokensInGrace(this.#deps.clock.now() - LEADERLESS_MS)) {
      if (token.validUntil !== null) this.#scheduleGraceEnd(token.org, token.agentId, token.validUntil);
    }
  }

  follow(): void {
    this.#grace.follow();
  }

  /** A rotation on any node: the leader arms its end (told by graceStarted). */
  graceStarted(org: string, id: string, at: number): void {
    this.#scheduleGraceEnd(org, id, at);
  }

  async register(actor: Actor, org: string, input: { id: string; name: string; timeoutMs?: number | undefined }): Promise<AgentRegistered> {
    const { store, clock } = this.#deps;
    if (!(await store.getOrg(org))) throw new RelayError('not_found', `organization "${org}" not found`);
    const now = clock.now();
    const secret = newAgentToken(input.id);
    const record: AgentRecord = {
      org,
      id: input.id,
      name: input.name,
      status: 'active',
      timeoutMs: input.timeoutMs ?? DEFAULT_AGENT_TIMEOUT_MS,
      createdAt: now,
      lastConnectedAt: null,
      schema: null,
    };
    await store.insertAgent(record, this.#tokenRecord(org, input.id, secret, now), auditRecord(clock, actor, 'agent.register', { org, type: 'agent', id: input.id }, { name: input.name }));
    return { agent: await this.#toAgent(record), secret };
  }

  async list(org: string): Promise<Agent[]> {
    if (!(await this.#deps.store.getOrg(org))) throw new RelayError('not_found', `organization "${org}" not found`);
    const records = await this.#deps.store.listAgents(org);
    const counts = await this.#deps.connections.counts({ org });
    return Promise.all(records.map((record) => this.#toAgent(record, counts)));
  }

  async show(org: string, id: string): Promise<Agent> {
    return this.#toAgent(await this.require(org, id));
  }

  async deactivate(actor: Actor, org: string, id: string): Promise<AgentStateChange> {
    const current = await this.require(org, id);
    if (current.status === 'inactive') return { agent: await this.#toAgent(current), changed: false };
    const updated = await this.#deps.store.setAgentStatus(org, id, 'inactive', auditRecord(this.#deps.clock, actor, 'agent.deactivate', { org, type: 'agent', id }));
    await this.#deps.agentChanged(org, id);
    if (!updated) throw notFound(org, id);
    await this.#deps.connections.closeOwner({ role: 'agent', org, ownerId: id, keepCredentials: null, code: CLOSE_APP_INACTIVE, reason: 'agent deactivated' });
    return { agent: await this.#toAgent(updated), changed: true };
  }

  /**
   * Deletes an inactive agent: its tokens go and it leaves every allowlist; the events sent
   * to it stay in history unless `purge`. Refused while it is the only agent an app allows,
   * as that app's emptied allowlist would let every agent of the organization in.
   */
  async delete(actor: Actor, org: string, id: string, options: { purge: boolean }): Promise<Deleted> {
    const { store, clock } = this.#deps;
    const agent = await this.require(org, id);
    const orgFlag = org === 'default' ? '' : ` --org ${org}`;
    if (agent.status === 'active') {
      throw new RelayError('conflict', `agent "${id}" is active: deactivate it before deleting it`, { hint: `relay agents deactivate ${id}${orgFlag}` });
    }
    const allowing = await store.appsAllowingAgent(org, id);
    const onlyAgentOf = allowing.filter((a) => a.allowed === 1).map((a) => a.appId);
    if (onlyAgentOf.length > 0) {
      const apps = onlyAgentOf.map((a) => `"${a}"`).join(', ');
      throw new RelayError('conflict', `agent "${id}" is the only agent on the allowlist of app ${apps}: without it, that allowlist would be empty and let every agent of the organization in`, {
        details: { apps: onlyAgentOf },
        hint: `allow another agent first (relay apps allow ${onlyAgentOf[0]} AGENT${orgFlag}), or deactivate the app`,
      });
    }
    await this.#deps.agentDeleting(org, id, options.purge);
    const result = await store.deleteAgent(org, id, { purge: options.purge }, auditRecord(clock, actor, 'agent.delete', { org, type: 'agent', id }, { purge: options.purge }));
    if (!result) throw notFound(org, id);
    await this.#deps.agentChanged(org, id);
    for (const app of allowing) await this.#deps.allowlistChanged(org, app.appId);
    return { id, org, deletedAt: new Date(clock.now()).toISOString(), historyKept: !options.purge, purgedEvents: result.purgedEvents, changed: true };
  }

  async activate(actor: Actor, org: string, id: string): Promise<AgentStateChange> {
    const current = await this.require(org, id);
    if (current.status === 'active') return { agent: await this.#toAgent(current), changed: false };
    const updated = await this.#deps.store.setAgentStatus(org, id, 'active', auditRecord(this.#deps.clock, actor, 'agent.activate', { org, type: 'agent', id }));
    await this.#deps.agentChanged(org, id);
    if (!updated) throw notFound(org, id);
    return { agent: await this.#toAgent(updated), changed: true };
  }

  /**
   * Changes the name, the reply timeout or the schema binding (`APP/NAME`; null unbinds).
   * Every node drops its copy of the agent: the next event is checked against the new schema.
   */
  async update(actor: Actor, org: string, id: string, input: { name?: string | undefined; timeoutMs?: number | undefined; schema?: string | null | undefined }): Promise<Agent> {
    const current = await this.require(org, id);
    let schema: SchemaRef | null | undefined;
    if (input.schema === null) schema = null;
    else if (input.schema !== undefined) {
      const [appId, name] = input.schema.split('/') as [string, string];
      if (!(await this.#deps.schemaExists(org, appId, name))) {
        const orgFlag = org === 'default' ? '' : ` --org ${org}`;
        throw new RelayError('not_found', `app "${appId}" has no schema "${name}" in organization "${org}"`, { hint: `add it first: relay schemas add --app ${appId} --name ${name} --file FILE${orgFlag}` });
      }
      schema = { appId, name };
    }
    const patch: AgentPatch = {};
    const details: Record<string, unknown> = {};
    if (input.name !== undefined) patch.name = details.name = input.name;
    if (input.timeoutMs !== undefined) patch.timeoutMs = details.timeoutMs = input.timeoutMs;
    if (schema !== undefined) {
      patch.schema = schema;
      details.schema = input.schema;
    }
    const updated = await this.#deps.store.updateAgent(org, id, patch, auditRecord(this.#deps.clock, actor, 'agent.update', { org, type: 'agent', id }, details));
    if (!updated) throw notFound(current.org, id);
    await this.#deps.agentChanged(org, id);
    return this.#toAgent(updated);
  }

  async rotate(actor: Actor, org: string, id: string, graceMs: number): Promise<AgentRotated> {
    const { store, clock } = this.#deps;
    await this.require(org, id);
    const now = clock.now();
    const secret = newAgentToken(id);
    const graceUntil = now + graceMs;
    await store.rotateAgentToken(this.#tokenRecord(org, id, secret, now), graceUntil, now, auditRecord(clock, actor, 'agent.rotate', { org, type: 'agent', id }, { graceMs }));
    await this.#deps.graceStarted(org, id, graceUntil);
    return { agent: await this.#toAgent(await this.require(org, id)), secret, previousValidUntil: new Date(graceUntil).toISOString() };
  }

  /**
   * An agent token: format first (no lookup for a malformed one), then its SHA-256. A fast
   * hash is a single indexed read, so no cache is needed in front of it.
   */
  async verify(token: string): Promise<AgentPrincipal> {
    const parsed = parseAgentToken(token);
    if (!parsed) {
      this.#deps.counters.credentialsRefusedUnchecked++;
      throw new RelayError('unauthorized', 'invalid agent token');
    }
    const record = await this.#deps.store.findAgentTokenByHash(fastHash(token));
    if (!record || record.agentId !== parsed.agentId || (record.validUntil !== null && record.validUntil <= this.#deps.clock.now())) {
      throw new RelayError('unauthorized', 'invalid agent token');
    }
    const agent = await this.#deps.store.getAgent(record.org, record.agentId);
    if (!agent) throw new RelayError('unauthorized', 'invalid agent token');
    return { org: agent.org, agentId: agent.id, tokenId: record.id, status: agent.status };
  }

  async recordConnected(org: string, id: string): Promise<void> {
    await this.#deps.store.setAgentLastConnected(org, id, this.#deps.clock.now());
  }

  async require(org: string, id: string): Promise<AgentRecord> {
    const agent = await this.#deps.store.getAgent(org, id);
    if (agent) return agent;
    if (!(await this.#deps.store.getOrg(org))) throw new RelayError('not_found', `organization "${org}" not found`);
    throw notFound(org, id);
  }

  #scheduleGraceEnd(org: string, agentId: string, at: number): void {
    this.#grace.schedule(`agent:${org}/${agentId}`, at, async () => {
      try {
        const valid = (await this.#deps.store.findValidAgentTokens(org, agentId, this.#deps.clock.now())).map((t) => t.id);
        await this.#deps.connections.closeOwner({ role: 'agent', org, ownerId: agentId, keepCredentials: valid, code: CLOSE_TOKEN_EXPIRED, reason: 'token expired' });
      } catch (err) {
        this.#deps.onError(err, `could not end the grace period of agent ${agentId}`);
      }
    });
  }

  #tokenRecord(org: string, agentId: string, secret: string, now: number): AgentTokenRecord {
    return { id: `agk_${randomBase62(16)}`, org, agentId, hash: fastHash(secret), createdAt: now, validUntil: null };
  }

  /** `counts`: the cluster's, asked once for a whole list; asked for this agent alone otherwise. */
  async #toAgent(record: AgentRecord, counts?: ConnectionCounts): Promise<Agent> {
    const now = this.#deps.clock.now();
    const graceEnds = (await this.#deps.store.findValidAgentTokens(record.org, record.id, now)).filter((t) => t.validUntil !== null).map((t) => t.validUntil as number);
    const connections = (counts ?? (await this.#deps.connections.counts({ org: record.org, ownerId: record.id }))).of('agent', record.org, record.id);
    return {
      id: record.id,
      name: record.name,
      org: record.org,
      status: record.status,
      connected: connections > 0,
      connections,
      lastConnectedAt: record.lastConnectedAt === null ? null : new Date(record.lastConnectedAt).toISOString(),
      timeoutMs: record.timeoutMs,
      createdAt: new Date(record.createdAt).toISOString(),
      previousTokenValidUntil: graceEnds.length > 0 ? new Date(Math.max(...graceEnds)).toISOString() : null,
      schema: record.schema === null ? null : `${record.schema.appId}/${record.schema.name}`,
    };
  }
}

function notFound(org: string, id: string): RelayError {
  return new RelayError('not_found', `agent "${id}" not found in organization "${org}"`, {
    hint: org === 'default' ? 'list the agents with `relay agents list`' : `list the agents with \`relay agents list --org ${org}\``,
  });
}
