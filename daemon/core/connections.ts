import type { Connection } from '../../src/shared/api.js';
import type { Broker } from '../broker/broker.js';
import { CONTROL_CHANNEL } from '../broker/broker.js';
import { RelayError } from '../../src/shared/errors.js';

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

/**
 * Control messages travel through the broker so that, with several nodes, each node closes
 * its own sockets. `keepCredentials` spares the connections made with those credentials.
 */
interface CloseMessage {
  type: 'close';
  role: ConnectionRole;
  org: string;
  ownerId: string;
  keepCredentials: string[] | null;
  code: number;
  reason: string;
}

const toInfo = (c: LocalConnection): ConnectionInfo => ({
  id: c.id,
  role: c.role,
  org: c.org,
  ownerId: c.ownerId,
  openedAt: new Date(c.openedAt).toISOString(),
  remoteAddress: c.remoteAddress,
  socketId: c.socketId,
});

export class ConnectionRegistry {
  readonly #broker: Broker;
  readonly #connections = new Map<string, LocalConnection>();

  constructor(broker: Broker) {
    this.#broker = broker;
  }

  add(connection: LocalConnection): void {
    this.#connections.set(connection.id, connection);
  }

  remove(id: string): void {
    this.#connections.delete(id);
  }

  get size(): number {
    return this.#connections.size;
  }

  count(role: ConnectionRole, org: string, ownerId: string): number {
    let n = 0;
    for (const c of this.#connections.values()) if (c.role === role && c.org === org && c.ownerId === ownerId) n++;
    return n;
  }

  list(filter: { role?: ConnectionRole; org?: string; ownerId?: string } = {}): ConnectionInfo[] {
    const out: ConnectionInfo[] = [];
    for (const c of this.#connections.values()) {
      if (filter.role !== undefined && c.role !== filter.role) continue;
      if (filter.org !== undefined && c.org !== filter.org) continue;
      if (filter.ownerId !== undefined && c.ownerId !== filter.ownerId) continue;
      out.push(toInfo(c));
    }
    return out;
  }

  /** Closes, on every node, the sockets of one app or agent (except those on `keepCredentials`). */
  async closeOwner(target: Omit<CloseMessage, 'type'>): Promise<void> {
    await this.#broker.publish(CONTROL_CHANNEL, () => JSON.stringify({ type: 'close', ...target } satisfies CloseMessage));
  }

  /** Closes one socket of an app or agent (4009, as Pusher's terminate); not_found when it is not this owner's. */
  async closeOne(org: string, ownerId: string, id: string): Promise<ConnectionInfo> {
    const c = this.#connections.get(id);
    if (!c || c.org !== org || c.ownerId !== ownerId) throw new RelayError('not_found', `connection ${id} not found`);
    return this.#close(c);
  }

  #close(c: LocalConnection): ConnectionInfo {
    this.#connections.delete(c.id);
    c.close(CLOSE_BY_OPERATOR, 'closed by an operator');
    return toInfo(c);
  }

  /** Closes one socket by id, whoever owns it (the admin API). */
  closeById(id: string): ConnectionInfo {
    const c = this.#connections.get(id);
    if (!c) throw new RelayError('not_found', `connection ${id} not found (it may have closed already)`);
    return this.#close(c);
  }

  /** Every open socket, for shutdown. */
  closeAll(code: number, reason: string): void {
    for (const c of [...this.#connections.values()]) {
      this.#connections.delete(c.id);
      c.close(code, reason);
    }
  }

  handleControl(data: string): void {
    const message = JSON.parse(data) as CloseMessage;
    if (message.type !== 'close') return;
    for (const c of this.#connections.values()) {
      if (c.role !== message.role || c.org !== message.org || c.ownerId !== message.ownerId) continue;
      if (message.keepCredentials?.includes(c.credentialId)) continue;
      // Out of the counts at once: the close handshake takes a round trip, and an app just
      // deactivated must not be reported as still connected.
      this.#connections.delete(c.id);
      c.close(message.code, message.reason);
    }
  }
}
