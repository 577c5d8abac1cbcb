/**
 * The node-level pub/sub port (centrifuge's Broker): a node subscribes once per channel,
 * whatever the number of local sockets on it, and publications come back through the
 * registered handler, which fans them out locally. The memory driver serves one node; the
 * Redis driver carries the same calls between nodes.
 *
 * A channel is any string: the subscriber channels of daemon/core/channels.ts, the
 * CONTROL_CHANNEL below, and whatever per-node channels the control messages name. Nodes
 * address one another only through channels: a node that wants messages for itself
 * subscribes to a channel of its own, and the others publish to it.
 *
 * Failure: when the broker cannot be reached, `publish` and `subscribe` reject promptly
 * (within about a second, never queued for later) with RelayError('unavailable'), whose
 * message names the broker ("the broker (Redis at redis://127.0.0.1:6379) is unreachable:
 * ..."); the HTTP layer answers 503. A failed `subscribe` leaves the channel unsubscribed.
 * `unsubscribe` never rejects: the channel stops delivering at once, and the server's side
 * of it goes with the lost connection. After an outage the driver reconnects and
 * resubscribes every channel it holds by itself, then reports that it is available again.
 */
export interface BrokerEventHandler {
  handlePublication(channel: string, data: string): void;
}

export type BrokerDriver = 'memory' | 'redis';

export interface Broker {
  readonly driver: BrokerDriver;
  /** Whether publications can flow now; the memory driver always can until closed. */
  readonly available: boolean;
  registerEventHandler(handler: BrokerEventHandler): void;
  /** Resolves once publications to the channel are delivered (for Redis: the SUBSCRIBE reply is in). */
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  /**
   * `message` is called only if the publication can reach a subscriber: the memory driver
   * knows its own, so a publish to a channel nobody watches costs no serialization (the
   * common case of a backend publishing ahead of its clients); a networked driver calls it always.
   * Publications to one channel from one node arrive in the order of the calls.
   */
  publish(channel: string, message: () => string): Promise<void>;
  /**
   * Called once when the broker becomes unreachable (false) and once when it is back with
   * its channels resubscribed (true), never twice in a row with the same value. The driver
   * logs both itself; this is for the node's own reactions. Returns the way to stop listening.
   */
  onStatus(listener: (available: boolean) => void): () => void;
  close(): Promise<void>;
}

/** Internal channel for control messages between nodes (closing an app's sockets, cache invalidation). */
export const CONTROL_CHANNEL = '$relay:control';
