import type { Connection } from '../../src/shared/api.js';
import { RelayError } from '../../src/shared/errors.js';
import type { AnswerOf, ControlBus, QuestionOf } from './control.js';
import { compositeKey } from './keys.js';
import type { Usage } from './usage.js';

export const CLOSE_BY_OPERATOR = 4009;

export type ConnectionRole = 'app' | 'agent' | 'channel';

/** A socket open on this node, as core sees it: who it is and how to close it. */
export interface LocalConnection {
  id: string;
  role: ConnectionRole;
  org: string;
  /** The app or agent id. */
  ownerId: string;
  /** The id of the credential it authenticated with (a channel socket: the app key), so a rotation or a key change can close the old ones. */
  credentialId: string;
  openedAt: number;
  remoteAddress: string | null;
  /** A channel connection's Pusher socket id. */
  socketId: string | null;
  close(code: number, reason: string): void;
}

export type ConnectionInfo = Connection;

export interface ConnectionFilter {
  role?: ConnectionRole | undefined;
  org?: string | undefined;
  ownerId?: string | undefined;
}

/** Which sockets of an owner to close, on every node: all but those made with `keepCredentials`. */
export interface CloseOwner {
  role: ConnectionRole;
  org: string;
  ownerId: string;
  keepCredentials: string[] | null;
  code: number;
  reason: string;
}

/** Open sockets counted over every node. */
export interface ConnectionCounts {
  total: number;
  of(role: ConnectionRole, org: string, ownerId: string): number;
}

const matches = (c: LocalConnection, filter: ConnectionFilter): boolean =>
  (filter.role === undefined || c.role === filter.role) && (filter.org === undefined || c.org === filter.org) && (filter.ownerId === undefined || c.ownerId === filter.ownerId);

/** Oldest first; the id breaks ties, so that the same sockets list the same way from any node. */
const byOpening = (a: ConnectionInfo, b: ConnectionInfo): number =>
  a.openedAt < b.openedAt ? -1 : a.openedAt > b.openedAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;

/**
 * The sockets of this node, and the cluster's through the control bus: listing, counting
 * and closing ask every node, each answering for its own sockets (soketi's horizontal
 * adapter). `size` is this node's alone.
 */
export class ConnectionRegistry {
  readonly #control: ControlBus;
  readonly #connections = new Map<string, LocalConnection>();
  readonly #usage: Usage;

  /** `usage` hears of the apps' connections (a channel subscriber's, an app's on the relay protocol); agents belong to no app. */
  constructor(control: ControlBus, usage: Usage) {
    this.#control = control;
    this.#usage = usage;
    control.on('closeConnections', (message) => this.#closeOwnerHere(message));
    control.on('listConnections', (question) => this.#listHere(question));
    control.on('countConnections', (question) => this.#countHere(question));
    control.on('closeConnection', (question) => this.#closeHere(question));
  }

  add(connection: LocalConnection): void {
    if (this.#connections.has(connection.id)) return;
    this.#connections.set(connection.id, connection);
    if (connection.role !== 'agent') this.#usage.connection(connection.org, connection.ownerId, connection.role === 'app' ? 'relay' : 'pusher', 1);
  }

  remove(id: string): void {
    const connection = this.#connections.get(id);
    if (!connection) return;
    this.#connections.delete(id);
    if (connection.role !== 'agent') this.#usage.connection(connection.org, connection.ownerId, connection.role === 'app' ? 'relay' : 'pusher', -1);
  }

  /** This node's open sockets. */
  get size(): number {
    return this.#connections.size;
  }

  /** Every node's sockets that match, oldest first. */
  async list(filter: ConnectionFilter = {}): Promise<ConnectionInfo[]> {
    const answers = await this.#control.ask({ type: 'listConnections', ...filter });
    return answers.flat().sort(byOpening);
  }

  /** Every node's sockets counted per owner (of one organization, or of all). */
  async counts(filter: { org?: string; ownerId?: string } = {}): Promise<ConnectionCounts> {
    const owners = new Map<string, number>();
    let total = 0;
    for (const answer of await this.#control.ask({ type: 'countConnections', ...filter })) {
      total += answer.total;
      for (const o of answer.owners) owners.set(compositeKey(o.role, o.org, o.ownerId), (owners.get(compositeKey(o.role, o.org, o.ownerId)) ?? 0) + o.count);
    }
    return { total, of: (role, org, ownerId) => owners.get(compositeKey(role, org, ownerId)) ?? 0 };
  }

  /** Closes, on every node, the sockets of one app or agent (except those on `keepCredentials`). */
  async closeOwner(target: CloseOwner): Promise<void> {
    await this.#control.send({ type: 'closeConnections', ...target });
  }

  /** Closes one socket of an app or agent (4009, as Pusher's terminate), wherever it is; not_found when it is not this owner's. */
  async closeOne(org: string, ownerId: string, id: string): Promise<ConnectionInfo> {
    const local = this.#connections.get(id);
    if (local) {
      if (local.org !== org || local.ownerId !== ownerId) throw new RelayError('not_found', `connection ${id} not found`);
      return this.#close(local);
    }
    const closed = await this.#closeElsewhere(id, { org, ownerId });
    if (!closed) throw new RelayError('not_found', `connection ${id} not found`);
    return closed;
  }

  /** Closes one socket by id, whoever owns it and whichever node holds it (the admin API). */
  async closeById(id: string): Promise<ConnectionInfo> {
    const local = this.#connections.get(id);
    if (local) return this.#close(local);
    const closed = await this.#closeElsewhere(id, null);
    if (!closed) throw new RelayError('not_found', `connection ${id} not found (it may have closed already)`);
    return closed;
  }

  /** This node's sockets, for shutdown. */
  closeAll(code: number, reason: string): void {
    for (const c of [...this.#connections.values()]) {
      this.#connections.delete(c.id);
      c.close(code, reason);
    }
  }

  async #closeElsewhere(id: string, owner: { org: string; ownerId: string } | null): Promise<ConnectionInfo | null> {
    const answers = await this.#control.ask({ type: 'closeConnection', id, owner }, { enough: (closed) => closed.some((c) => c !== null) });
    return answers.find((c) => c !== null) ?? null;
  }

  #close(c: LocalConnection): ConnectionInfo {
    this.#connections.delete(c.id);
    c.close(CLOSE_BY_OPERATOR, 'closed by an operator');
    return this.#toInfo(c);
  }

  #toInfo(c: LocalConnection): ConnectionInfo {
    return {
      id: c.id,
      role: c.role,
      org: c.org,
      ownerId: c.ownerId,
      openedAt: new Date(c.openedAt).toISOString(),
      remoteAddress: c.remoteAddress,
      socketId: c.socketId,
      node: this.#control.nodeId,
    };
  }

  #closeOwnerHere(message: CloseOwner): void {
    for (const c of [...this.#connections.values()]) {
      if (c.role !== message.role || c.org !== message.org || c.ownerId !== message.ownerId) continue;
      if (message.keepCredentials?.includes(c.credentialId)) continue;
      // Out of the counts at once: the close handshake takes a round trip, and an app just
      // deactivated must not be reported as still connected.
      this.#connections.delete(c.id);
      c.close(message.code, message.reason);
    }
  }

  #listHere(filter: QuestionOf<'listConnections'>): AnswerOf<'listConnections'> {
    const out: ConnectionInfo[] = [];
    for (const c of this.#connections.values()) if (matches(c, filter)) out.push(this.#toInfo(c));
    return out;
  }

  #countHere(filter: QuestionOf<'countConnections'>): AnswerOf<'countConnections'> {
    const owners = new Map<string, AnswerOf<'countConnections'>['owners'][number]>();
    let total = 0;
    for (const c of this.#connections.values()) {
      if (!matches(c, filter)) continue;
      total++;
      const key = compositeKey(c.role, c.org, c.ownerId);
      const owner = owners.get(key);
      if (owner) owner.count++;
      else owners.set(key, { role: c.role, org: c.org, ownerId: c.ownerId, count: 1 });
    }
    return { total, owners: [...owners.values()] };
  }

  #closeHere(question: QuestionOf<'closeConnection'>): AnswerOf<'closeConnection'> {
    const c = this.#connections.get(question.id);
    if (!c || (question.owner && (c.org !== question.owner.org || c.ownerId !== question.owner.ownerId))) return null;
    return this.#close(c);
  }
}

