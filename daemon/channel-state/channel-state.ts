/**
 * The channel state a cluster shares (centrifuge's PresenceManager, soketi's adapter): what
 * no single node can know alone. Each node keeps its own sockets and subscriptions (the hub
 * in daemon/core/channels.ts) and tells this port when one joins or leaves; the port keeps
 * the cluster's counts, presence members, sessions per app and cache channels' last events.
 *
 * Shares are kept per node (the id given to the driver) so that a dead node's can be
 * dropped. Transitions are decided here, atomically, so that each happens once for the
 * cluster: a join that takes a channel's count from 0 to 1 reports `occupied`, the leave
 * that takes it back to 0 reports `vacated`, a user's first socket in a presence channel
 * (on any node) reports `memberAdded`, its last `memberRemoved`. The node whose call
 * crossed the line sends the webhook or frame; the others do not.
 *
 * Every call names its app (org and app id): apps never share state. Drivers reject with
 * RelayError('unavailable') when their backing service cannot be reached.
 */

/** The app a call is about; `Publisher` of daemon/core/channels.ts is one. */
export interface AppRef {
  readonly org: string;
  readonly appId: string;
}

/** A presence subscription: who joins, with what user_info, under which limit of members. */
export interface MemberJoin {
  userId: string;
  /** The user_info of its channel_data; undefined when it gave none. Kept from the user's first socket. */
  info: unknown;
  /** maxPresenceMembers: a new user is refused once the cluster's channel has this many. */
  maxMembers: number;
}

/** A presence channel's members: user id → user_info (null when it gave none). */
export type Members = Record<string, unknown>;

export type JoinResult =
  | {
      full: false;
      /** The channel's subscriptions on every node, this one included. */
      count: number;
      /** This join took the cluster's count from 0 to 1. */
      occupied: boolean;
      /** The user's first socket in the channel on any node. */
      memberAdded: boolean;
      /** Presence channels: every member, this one included (for subscription_succeeded); null otherwise. */
      members: Members | null;
    }
  /** A presence channel with `maxMembers` members already, none of them this user: nothing was recorded. */
  | { full: true };

export interface LeaveResult {
  /** The channel's subscriptions on every node after this leave. */
  count: number;
  /** This leave took the cluster's count from 1 to 0. */
  vacated: boolean;
  /** The user's last socket in the channel on any node. */
  memberRemoved: boolean;
}

export interface ChannelCounts {
  subscriptionCount: number;
  /** Presence members (0 for other channels). */
  userCount: number;
}

export interface CachedEvent {
  event: string;
  data: string;
}

/** A dead node's share of one channel, gone: what its peers must now tell the channel's subscribers and the app. */
export interface DroppedShare {
  org: string;
  appId: string;
  channel: string;
  /** The cluster's count without the dead node. */
  count: number;
  vacated: boolean;
  /** Users whose last socket in the channel was on the dead node. */
  membersRemoved: string[];
}

export interface ChannelState {
  /** A socket of this node subscribes; `member` for presence channels. */
  join(app: AppRef, channel: string, member: MemberJoin | null): Promise<JoinResult>;
  /** A socket of this node leaves (unsubscribe or disconnect); `userId` as it joined. A leave without its join changes nothing. */
  leave(app: AppRef, channel: string, userId: string | null): Promise<LeaveResult>;
  /** A presence channel's members on every node. */
  members(app: AppRef, channel: string): Promise<Members>;
  /** A channel's counts over the cluster, or null when no node has a subscriber on it. */
  counts(app: AppRef, channel: string): Promise<ChannelCounts | null>;
  /** The app's occupied channels (those starting with `prefix`, when given), sorted by name. */
  occupied(app: AppRef, prefix?: string): Promise<Array<ChannelCounts & { name: string }>>;

  /** A channel connection opens on this node: false (and nothing counted) when the app has `max` on the cluster already. */
  openSession(app: AppRef, max: number | null): Promise<boolean>;
  closeSession(app: AppRef): Promise<void>;

  /** A cache channel's last event, for `ttlMs`; it also lets the next miss be reported again. */
  cacheSet(app: AppRef, channel: string, event: CachedEvent, ttlMs: number): Promise<void>;
  /** The last event and how long it has left, or null. */
  cacheGet(app: AppRef, channel: string): Promise<(CachedEvent & { ttlMs: number }) | null>;
  /** True for the one caller (on any node) that reports this channel's cache miss, until `ttlMs` passes or the cache is set. */
  claimCacheMiss(app: AppRef, channel: string, ttlMs: number): Promise<boolean>;

  /**
   * Subscription counts of busy channels go out at most once per window for the cluster:
   * 0 when the caller may send now (the window starts again), otherwise the ms left in the
   * current one. `force` sends now whatever the window (a count of a quiet channel), and
   * starts it again.
   */
  claimCountSend(app: AppRef, channel: string, windowMs: number, force: boolean): Promise<number>;

  /** Removes a dead node's share (counts, members, sessions) and says what changed, for its peers to report once. */
  dropNode(nodeId: string): Promise<DroppedShare[]>;
  close(): Promise<void>;
}
