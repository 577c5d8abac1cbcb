/**
 * What relayd counts as it works, told as it happens: analytics (per app and minute, into
 * the store) and Prometheus (`--metrics-port`) both listen. Calls are on hot paths: a
 * listener only adds to counters in memory, never waits and never throws.
 */

/** Where a channel message came in: the public API, Pusher's REST API, a client event. */
export type PublishSource = 'api' | 'rest' | 'client';
/** A connection's protocol: a Pusher subscriber, or an app or agent on the relay protocol. */
export type ConnectionKind = 'pusher' | 'relay';
/** What became of an agent event: taken in, refused at the door, replied to, failed. */
export type AgentEventOutcome = 'accepted' | 'rejected' | 'replied' | 'failed';

export interface Usage {
  /** `messages` channel messages published (one per channel), of `bytes` payload in all. */
  published(org: string, appId: string, source: PublishSource, messages: number, bytes: number): void;
  /** Messages sent to this node's subscribers: `messages` frames of `bytes` in all. */
  delivered(org: string, appId: string, messages: number, bytes: number): void;
  /** A connection of the app opened (+1) or closed (-1) on this node. */
  connection(org: string, appId: string, kind: ConnectionKind, change: 1 | -1): void;
  /** A channel of the app got its first subscriber on this node (+1) or lost its last (-1). */
  channel(org: string, appId: string, change: 1 | -1): void;
  /** An agent event's outcome; `latencyMs` for replied and failed ones, `bytes` its payload (accepted) or reply. */
  agentEvent(org: string, appId: string, outcome: AgentEventOutcome, latencyMs: number | null, bytes: number): void;
  /** One attempt to deliver a webhook, and whether the endpoint took it (2xx). */
  webhookAttempt(org: string, appId: string, ok: boolean): void;
  /** A request or frame of the app refused for its rate limit. */
  rateLimited(org: string, appId: string): void;
}

/** Tells every listener (none: the counts go nowhere). */
export function usageOf(listeners: Usage[]): Usage {
  if (listeners.length === 1) return listeners[0] as Usage;
  return {
    published: (...a) => listeners.forEach((l) => l.published(...a)),
    delivered: (...a) => listeners.forEach((l) => l.delivered(...a)),
    connection: (...a) => listeners.forEach((l) => l.connection(...a)),
    channel: (...a) => listeners.forEach((l) => l.channel(...a)),
    agentEvent: (...a) => listeners.forEach((l) => l.agentEvent(...a)),
    webhookAttempt: (...a) => listeners.forEach((l) => l.webhookAttempt(...a)),
    rateLimited: (...a) => listeners.forEach((l) => l.rateLimited(...a)),
  };
}
