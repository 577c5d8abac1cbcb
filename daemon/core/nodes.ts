import type { NodeRecord, Store } from '../store/store.js';
import { StartupError } from '../startup-error.js';
import type { Clock } from './clock.js';

/** How often a node writes its heartbeat, and how long a silent one counts as alive. */
export const HEARTBEAT_MS = 5000;
export const SILENT_AFTER_MS = 3 * HEARTBEAT_MS;

export interface NodeSelf {
  id: string;
  broker: string;
  version: string;
  startedAt: number;
  /** Whether other relayd may share this store (PostgreSQL); SQLite's data dir lock keeps it one. */
  sharedStore: boolean;
}

export interface NodesDeps {
  store: Store;
  clock: Clock;
  self: NodeSelf;
  /** This node's open sockets, written with each heartbeat. */
  connections: () => number;
  /** Nodes found silent and dropped (by this node: each is dropped by one node only), for their share of shared state. */
  onDropped: (ids: string[]) => Promise<void>;
  onError: (err: unknown, what: string) => void;
}

/**
 * The nodes sharing the store, each with a heartbeat in it (Centrifugo's node info): what
 * `relay status` lists, how many answers a question to every node waits for, and who has
 * died (silent for SILENT_AFTER_MS), whose share of the shared state is then dropped.
 */
export class NodeRegistry {
  readonly #deps: NodesDeps;
  #url = '';
  #timer: NodeJS.Timeout | null = null;
  #beating: Promise<void> = Promise.resolve();

  constructor(deps: NodesDeps) {
    this.#deps = deps;
  }

  get id(): string {
    return this.#deps.self.id;
  }

  /**
   * Before the node serves anything: refuses a node whose id is taken by a live node, and a
   * node on a shared store with the memory broker beside a live node (or beside a live
   * memory-broker node): publications and control messages would not reach the other.
   */
  async check(): Promise<void> {
    const { self, store, clock } = this.#deps;
    if (!self.sharedStore) return;
    const others = await store.listNodes(clock.now() - SILENT_AFTER_MS);
    const ago = (n: NodeRecord): string => `${Math.max(0, Math.round((clock.now() - n.heartbeatAt) / 1000))}s ago`;
    const same = others.find((n) => n.id === self.id);
    if (same) {
      throw new StartupError(`another relayd runs as node "${self.id}" (${same.url || 'starting'}, heard from ${ago(same)}): give each node its own --node-id, or leave it unset for a generated one (if that node was killed, its heartbeat lapses within ${SILENT_AFTER_MS / 1000}s and this one can start)`);
    }
    const alone = others.find((n) => n.id !== self.id && (self.broker === 'memory' || n.broker === 'memory'));
    if (alone) {
      const which = `node "${alone.id}" (${alone.url || 'starting'}, heard from ${ago(alone)}, broker ${alone.broker})`;
      throw new StartupError(
        `${which} is alive on this store, and ${self.broker === 'memory' ? 'this node has' : 'it has'} the memory broker: nodes sharing a store must share a broker, or publications and control messages would reach only one of them. ` +
          `Start every node with the same --broker redis://host:port (if ${alone.id} is gone, its heartbeat lapses within ${SILENT_AFTER_MS / 1000}s)`,
      );
    }
  }

  /** Registers the node (once it listens) and keeps its heartbeat. */
  async start(url: string): Promise<void> {
    this.#url = url;
    await this.#beat();
    this.#timer = setInterval(() => {
      this.#beating = this.#beat().catch((err: unknown) => this.#deps.onError(err, 'could not write this node\'s heartbeat'));
    }, HEARTBEAT_MS);
    this.#timer.unref();
  }

  async #beat(): Promise<void> {
    const { store, clock, self } = this.#deps;
    const now = clock.now();
    await store.upsertNode({ id: self.id, url: this.#url, broker: self.broker, version: self.version, startedAt: self.startedAt, heartbeatAt: now, connections: this.#deps.connections() });
    const dropped = await store.pruneNodes(now - SILENT_AFTER_MS);
    if (dropped.length > 0) await this.#deps.onDropped(dropped);
  }

  /** The live nodes, this one first, each with its connections as of its latest heartbeat. */
  async list(): Promise<NodeRecord[]> {
    const { store, clock, self } = this.#deps;
    const nodes = await store.listNodes(clock.now() - SILENT_AFTER_MS);
    const mine = nodes.find((n) => n.id === self.id);
    if (mine) mine.connections = this.#deps.connections();
    return [...nodes].sort((a, b) => (a.id === self.id ? -1 : b.id === self.id ? 1 : a.id < b.id ? -1 : 1));
  }

  /** How many nodes answer a question to all of them (at least this one), as the store says now: a node that just started counts. */
  async aliveCount(): Promise<number> {
    const { store, clock, self } = this.#deps;
    if (!self.sharedStore) return 1;
    return Math.max(1, (await store.listNodes(clock.now() - SILENT_AFTER_MS)).length);
  }

  /** Takes the node out of the list at a clean shutdown, so that the others do not wait for it. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#beating;
    await this.#deps.store.deleteNode(this.#deps.self.id);
  }
}
