import type { Clock } from '../core/clock.js';
import type { AppRef, CachedEvent, ChannelCounts, ChannelState, DroppedShare, JoinResult, LeaveResult, MemberJoin, Members } from './channel-state.js';

interface Member {
  info: unknown;
  /** The user's sockets in the channel: member_added on the first, member_removed after the last. */
  sockets: number;
}

interface Channel {
  count: number;
  /** Presence channels only. */
  members: Map<string, Member> | null;
  /** When its subscription count last went out. */
  countSentAt: number;
}

interface App {
  channels: Map<string, Channel>;
  sessions: number;
}

interface Cached extends CachedEvent {
  expiresAt: number;
}

/** What the cache channels' last events may take in all, over every app; past it the least recently published go. */
const MAX_CACHED_BYTES = 64 * 1024 * 1024;
const cachedBytes = (cached: Cached): number => cached.event.length + cached.data.length;

/** Empty cache channels whose cache_miss went out, remembered so that it goes out once; past this the oldest are forgotten. */
const MAX_MISSES_REMEMBERED = 100_000;

const appKey = (app: AppRef): string => `${app.org}:${app.appId}`;
/** Org and app ids are slugs and channel names have no `:`. */
const channelKey = (app: AppRef, channel: string): string => `${app.org}:${app.appId}:${channel}`;

/**
 * One node's channel state in its own memory: the default mode, where this node is the
 * cluster. Every call completes before it returns (the promise is already settled), so the
 * order of calls is the order of effects, as when this state lived in the channel service.
 */
export class MemoryChannelState implements ChannelState {
  readonly #nodeId: string;
  readonly #clock: Clock;
  readonly #apps = new Map<string, App>();
  /** Cache channels' last events, by channel key, least recently published first. */
  readonly #cache = new Map<string, Cached>();
  #cacheBytes = 0;
  /** Cache channels whose miss was claimed, and until when the claim holds. */
  readonly #missReported = new Map<string, number>();
  readonly #sweep: NodeJS.Timeout;

  constructor(nodeId: string, clock: Clock) {
    this.#nodeId = nodeId;
    this.#clock = clock;
    this.#sweep = setInterval(() => this.#sweepCache(), 60_000);
    this.#sweep.unref();
  }

  async join(app: AppRef, name: string, member: MemberJoin | null): Promise<JoinResult> {
    const state = this.#app(app, true) as App;
    let channel = state.channels.get(name);
    if (member && !channel?.members?.has(member.userId) && (channel?.members?.size ?? 0) >= member.maxMembers) return { full: true };
    if (!channel) {
      channel = { count: 0, members: member ? new Map() : null, countSentAt: 0 };
      state.channels.set(name, channel);
    }
    channel.count++;
    let memberAdded = false;
    let members: Members | null = null;
    if (member) {
      channel.members ??= new Map();
      const known = channel.members.get(member.userId);
      if (known) known.sockets++;
      else {
        channel.members.set(member.userId, { info: member.info, sockets: 1 });
        memberAdded = true;
      }
      members = {};
      for (const [id, m] of channel.members) members[id] = m.info ?? null;
    }
    return { full: false, count: channel.count, occupied: channel.count === 1, memberAdded, members };
  }

  async leave(app: AppRef, name: string, userId: string | null): Promise<LeaveResult> {
    const state = this.#app(app, false);
    const channel = state?.channels.get(name);
    if (!state || !channel) return { count: 0, vacated: false, memberRemoved: false };
    channel.count--;
    let memberRemoved = false;
    if (userId !== null && channel.members) {
      const member = channel.members.get(userId);
      if (member && --member.sockets === 0) {
        channel.members.delete(userId);
        memberRemoved = true;
      }
    }
    const vacated = channel.count <= 0;
    if (vacated) {
      state.channels.delete(name);
      this.#dropAppIfIdle(app, state);
    }
    return { count: Math.max(0, channel.count), vacated, memberRemoved };
  }

  async members(app: AppRef, name: string): Promise<Members> {
    const members: Members = {};
    for (const [id, m] of this.#app(app, false)?.channels.get(name)?.members ?? []) members[id] = m.info ?? null;
    return members;
  }

  async counts(app: AppRef, name: string): Promise<ChannelCounts | null> {
    const channel = this.#app(app, false)?.channels.get(name);
    return channel ? { subscriptionCount: channel.count, userCount: channel.members?.size ?? 0 } : null;
  }

  async occupied(app: AppRef, prefix?: string): Promise<Array<ChannelCounts & { name: string }>> {
    const state = this.#app(app, false);
    if (!state) return [];
    const out: Array<ChannelCounts & { name: string }> = [];
    for (const [name, channel] of state.channels) {
      if (prefix === undefined || name.startsWith(prefix)) out.push({ name, subscriptionCount: channel.count, userCount: channel.members?.size ?? 0 });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async openSession(app: AppRef, max: number | null): Promise<boolean> {
    const state = this.#app(app, true) as App;
    if (max !== null && state.sessions >= max) {
      this.#dropAppIfIdle(app, state);
      return false;
    }
    state.sessions++;
    return true;
  }

  async closeSession(app: AppRef): Promise<void> {
    const state = this.#app(app, false);
    if (!state || state.sessions === 0) return;
    state.sessions--;
    this.#dropAppIfIdle(app, state);
  }

  async cacheSet(app: AppRef, name: string, event: CachedEvent, ttlMs: number): Promise<void> {
    const key = channelKey(app, name);
    this.#uncache(key);
    const cached: Cached = { event: event.event, data: event.data, expiresAt: this.#clock.now() + ttlMs };
    this.#cache.set(key, cached);
    this.#cacheBytes += cachedBytes(cached);
    this.#missReported.delete(key);
    for (const oldest of this.#cache.keys()) {
      if (this.#cacheBytes <= MAX_CACHED_BYTES) break;
      this.#uncache(oldest);
    }
  }

  async cacheGet(app: AppRef, name: string): Promise<(CachedEvent & { ttlMs: number }) | null> {
    const key = channelKey(app, name);
    const cached = this.#cache.get(key);
    if (!cached) return null;
    const ttlMs = cached.expiresAt - this.#clock.now();
    if (ttlMs <= 0) {
      this.#uncache(key);
      return null;
    }
    return { event: cached.event, data: cached.data, ttlMs };
  }

  async claimCacheMiss(app: AppRef, name: string, ttlMs: number): Promise<boolean> {
    const key = channelKey(app, name);
    const now = this.#clock.now();
    const until = this.#missReported.get(key);
    if (until !== undefined && until > now) return false;
    // Deleted first so that it moves to the end: the oldest are forgotten first.
    this.#missReported.delete(key);
    this.#missReported.set(key, now + ttlMs);
    if (this.#missReported.size > MAX_MISSES_REMEMBERED) this.#missReported.delete(this.#missReported.keys().next().value as string);
    return true;
  }

  async claimCountSend(app: AppRef, name: string, windowMs: number, force: boolean): Promise<number> {
    const channel = this.#app(app, false)?.channels.get(name);
    const now = this.#clock.now();
    if (!channel) return 0;
    const wait = force ? 0 : channel.countSentAt + windowMs - now;
    if (wait > 0) return wait;
    channel.countSentAt = now;
    return 0;
  }

  /** This node is the only one: dropping it drops everything (a node's own state goes with its process anyway). */
  async dropNode(nodeId: string): Promise<DroppedShare[]> {
    if (nodeId !== this.#nodeId) return [];
    const dropped: DroppedShare[] = [];
    for (const [key, state] of this.#apps) {
      const [org, appId] = key.split(':') as [string, string];
      for (const [channel, c] of state.channels) dropped.push({ org, appId, channel, count: 0, vacated: true, membersRemoved: [...(c.members?.keys() ?? [])] });
    }
    this.#apps.clear();
    return dropped;
  }

  async close(): Promise<void> {
    clearInterval(this.#sweep);
  }

  #app(app: AppRef, create: boolean): App | undefined {
    const key = appKey(app);
    let state = this.#apps.get(key);
    if (!state && create) {
      state = { channels: new Map(), sessions: 0 };
      this.#apps.set(key, state);
    }
    return state;
  }

  #dropAppIfIdle(app: AppRef, state: App): void {
    if (state.sessions === 0 && state.channels.size === 0) this.#apps.delete(appKey(app));
  }

  #uncache(key: string): void {
    const cached = this.#cache.get(key);
    if (!cached) return;
    this.#cache.delete(key);
    this.#cacheBytes -= cachedBytes(cached);
  }

  #sweepCache(): void {
    const now = this.#clock.now();
    for (const [key, cached] of this.#cache) if (cached.expiresAt <= now) this.#uncache(key);
    for (const [key, until] of this.#missReported) if (until <= now) this.#missReported.delete(key);
  }
}
