/**
 * The node-level pub/sub port (centrifuge's Broker): a node subscribes once per channel,
 * whatever the number of local sockets on it, and publications come back through the
 * registered handler, which fans them out locally. The memory driver serves one node; a
 * Redis driver will carry the same calls between nodes.
 */
export interface BrokerEventHandler {
  handlePublication(channel: string, data: string): void;
}

export interface Broker {
  registerEventHandler(handler: BrokerEventHandler): void;
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  /**
   * `message` is called only if the publication can reach a subscriber: the memory driver
   * knows its own, so a publish to a channel nobody watches costs no serialization (the
   * common case of a backend publishing ahead of its clients); a networked driver calls it always.
   */
  publish(channel: string, message: () => string): Promise<void>;
  close(): Promise<void>;
}

/** Internal channel for control messages between nodes (closing an app's sockets, cache invalidation). */
export const CONTROL_CHANNEL = '$relay:control';
