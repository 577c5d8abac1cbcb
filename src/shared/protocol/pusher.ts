/**
 * The Pusher Channels protocol v7 as relayd speaks it at `/app/{key}`: close and error codes,
 * channel types, and the per-app limits (Pusher's values by default). The reference is
 * ../shared/reference/pusher-protocol.md; section numbers below point into it.
 */

/** §1.12. Codes 4000-4099 tell pusher-js not to reconnect, 4100-4199 to back off, 4200-4299 to reconnect at once. */
export const PUSHER_CLOSE = {
  appNotFound: 4001,
  appDisabled: 4003,
  overQuota: 4004,
  unsupportedProtocol: 4007,
  noProtocol: 4008,
  unauthorized: 4009,
  /** Sent as `pusher:error` only: a close code >= 4300 would stop pusher-js reconnecting for good. */
  clientEventRejected: 4301,
  overCapacity: 4100,
  reconnect: 4200,
  pongTimeout: 4201,
} as const;

/** Protocol versions whose frames are the ones relayd sends (5 added the server's ping, 7 is pusher-js 8). */
export const MIN_PROTOCOL = 5;
export const MAX_PROTOCOL = 7;

/** Largest WebSocket frame read from a subscriber; larger ones close the socket with 1009. */
export const MAX_PUSHER_FRAME_BYTES = 256 * 1024;

export const MAX_CHANNEL_NAME = 164;
export const CHANNEL_NAME = /^[-a-zA-Z0-9_=@,.;]+$/;
export const MAX_EVENT_NAME = 200;
/** Presence user ids: 128 characters at most (DOCS presence-channels.md). */
export const MAX_USER_ID = 128;

export type ChannelType = 'public' | 'private' | 'encrypted' | 'presence';

/** §1.4: prefixes matched anchored, the longest first (`private-encrypted-` before `private-`). */
export function channelType(name: string): ChannelType {
  if (name.startsWith('private-encrypted-')) return 'encrypted';
  if (name.startsWith('private-')) return 'private';
  if (name.startsWith('presence-')) return 'presence';
  return 'public';
}

/** §1.9: cache channels (`cache-`, `private-cache-`, `private-encrypted-cache-`, `presence-cache-`) keep their last published event. */
export function isCacheChannel(name: string): boolean {
  return /^(private-encrypted-|private-|presence-)?cache-/.test(name);
}

/** How long a cache channel keeps its last event: Pusher's 30 minutes. */
export const CACHE_TTL_MS = 30 * 60_000;

/** Why a channel name is refused, or null when it is fine. */
export function channelNameProblem(name: string): string | null {
  if (name.length === 0) return 'a channel name must not be empty';
  if (name.length > MAX_CHANNEL_NAME) return `channel names are at most ${MAX_CHANNEL_NAME} characters (this one has ${name.length})`;
  if (!CHANNEL_NAME.test(name)) return `channel "${name}" has a character outside A-Z a-z 0-9 _ - = @ , . ;`;
  return null;
}

/**
 * Per-app limits of the channel side, Pusher's by default (§1.13), each configurable with
 * `relay apps update ID --limit KEY=VALUE`. `maxConnections` null means no limit.
 */
export interface ChannelLimits {
  maxConnections: number | null;
  maxEventBytes: number;
  maxPresenceMembers: number;
  maxPresenceUserInfoBytes: number;
  clientEventsPerSecond: number;
  maxSubscriptionsPerConnection: number;
}

export const DEFAULT_CHANNEL_LIMITS: ChannelLimits = {
  maxConnections: null,
  maxEventBytes: 10 * 1024,
  maxPresenceMembers: 100,
  maxPresenceUserInfoBytes: 1024,
  clientEventsPerSecond: 10,
  maxSubscriptionsPerConnection: 500,
};

/** The range each limit may be set to; `maxEventBytes` stops at 100 KB, where the frame and body caps sit. */
export const CHANNEL_LIMIT_RANGES: Record<keyof ChannelLimits, { min: number; max: number; doc: string }> = {
  maxConnections: { min: 1, max: 10_000_000, doc: 'open channel connections of the app (default: no limit)' },
  maxEventBytes: { min: 1, max: 100 * 1024, doc: 'bytes of data of one event, published or client (default 10240)' },
  maxPresenceMembers: { min: 1, max: 10_000, doc: 'distinct users in one presence channel (default 100)' },
  maxPresenceUserInfoBytes: { min: 1, max: 64 * 1024, doc: 'bytes of one presence member\'s user_info (default 1024)' },
  clientEventsPerSecond: { min: 1, max: 10_000, doc: 'client events one connection may send per second (default 10)' },
  maxSubscriptionsPerConnection: { min: 1, max: 100_000, doc: 'channels one connection may be subscribed to at once (default 500)' },
};

export const CHANNEL_LIMIT_KEYS = Object.keys(CHANNEL_LIMIT_RANGES) as (keyof ChannelLimits)[];

/** A message from relayd to a subscriber. `data` is a JSON string where Pusher sends one (§1.2). */
export interface PusherFrame {
  event: string;
  channel?: string;
  data?: unknown;
  user_id?: string;
}

export function pusherError(code: number | null, message: string, channel?: string): PusherFrame {
  return channel === undefined ? { event: 'pusher:error', data: { code, message } } : { event: 'pusher:error', channel, data: { code, message } };
}
