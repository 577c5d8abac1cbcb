import type { ChannelSummary } from '../../src/shared/api.js';
import { RelayError } from '../../src/shared/errors.js';
import {
  CACHE_TTL_MS,
  MAX_EVENT_NAME,
  MAX_USER_ID,
  channelNameProblem,
  channelType,
  isCacheChannel,
  type ChannelType,
  type PusherFrame,
} from '../../src/shared/protocol/pusher.js';
import { SERVER_TO_USER_PREFIX, type BatchBody, type PublishBody } from '../../src/shared/schemas.js';
import type { WebhookEvent } from '../../src/shared/webhooks.js';
import type { Broker } from '../broker/broker.js';
import type { EventRecord, TimelineRecord } from '../store/store.js';
import type { Clock } from './clock.js';
import { newEventId, toEvent, type EventLog } from './events.js';
import { verifySocketAuth, type ChannelApp, type ChannelAppDirectory } from './pusher-auth.js';
import type { WebhookSink } from './webhooks.js';

/** Who publishes: an app of an organization (from its API token or its signed REST key). */
export interface Publisher {
  org: string;
  appId: string;
}

/** A subscriber's socket as core sees it. `send` takes encoded frames: one Buffer serves every subscriber of a publication. */
export interface ChannelSession {
  socketId: string;
  connectionId: string;
  send(frame: Buffer): void;
  close(code: number, reason: string): void;
}

/** Pusher's `info` attributes on publish answers and channel queries. */
export interface ChannelInfo {
  user_count?: number;
  subscription_count?: number;
  /** `GET /channels/{name}?info=cache` of a cache channel: its last event's data and seconds left, or null. */
  cache?: { data: string; ttl: number } | null;
}

export interface PublishResult {
  id: string;
  /** Present when the publisher asked for `info`. */
  channels?: Record<string, ChannelInfo>;
}

interface Member {
  info: unknown;
  /** This user's connections in the channel: member_added on the first, member_removed after the last. */
  sockets: number;
}

interface LocalChannel {
  app: AppState;
  name: string;
  type: ChannelType | 'user';
  broker: string;
  subscribers: Map<string, Subscriber>;
  /** Presence channels only. */
  members: Map<string, Member> | null;
  /** Subscription counting: when the count last went out, and the send waiting for its turn. */
  countSentAt: number;
  countTimer: NodeJS.Timeout | null;
}

interface AppState {
  org: string;
  id: string;
  channels: Map<string, LocalChannel>;
  sessions: Set<Subscriber>;
  /** The app's subscription counting switch, as of its latest connection or subscription here. */
  subscriptionCount: boolean;
}

/** One connected subscriber: the socket, its app, its subscriptions. Opaque to the transport. */
export interface Subscriber {
  readonly session: ChannelSession;
  readonly app: AppState;
  readonly key: string;
  /** Channel → the presence user id it joined as (null on other channels). */
  readonly channels: Map<string, string | null>;
  /** The user it signed in as (`pusher:signin`). */
  userId: string | null;
  /** Set by `disconnect`: a subscription still awaiting its app lookup must not land after it. */
  closed: boolean;
  clientWindowStart: number;
  clientEventsInWindow: number;
}

export interface SubscribeRequest {
  channel?: unknown;
  auth?: unknown;
  channel_data?: unknown;
}

export interface ChannelsDeps {
  log: EventLog;
  clock: Clock;
  broker: Broker;
  apps: ChannelAppDirectory;
  webhooks: WebhookSink;
}

/** A cache channel's last published event. */
interface CachedEvent {
  event: string;
  data: string;
  expiresAt: number;
}

/** What the cache channels' last events may take in all, over every app; past it the least recently published go. */
const MAX_CACHED_BYTES = 64 * 1024 * 1024;
const cachedBytes = (cached: CachedEvent): number => cached.event.length + cached.data.length;

/** Empty cache channels whose cache_miss webhook went out, remembered so that it goes out once; past this the oldest are forgotten. */
const MAX_MISSES_REMEMBERED = 100_000;

/** Subscription counts of channels with more subscribers than this go out at most every COUNT_INTERVAL_MS (§1.11). */
const COUNT_EVERY_CHANGE_UP_TO = 100;
const COUNT_INTERVAL_MS = 5000;

const encode = (frame: PusherFrame): Buffer => Buffer.from(JSON.stringify(frame));
const appKey = (org: string, id: string): string => `${org}/${id}`;
/** Broker channels of subscriber channels; org and app ids are slugs and channel names have no `:`. */
export const BROKER_PREFIX = '$ch:';
const brokerChannel = (org: string, appId: string, channel: string): string => `${BROKER_PREFIX}${org}:${appId}:${channel}`;

/**
 * The channel side: subscribers and their channels (public, private, encrypted, presence,
 * and each signed-in user's own), publishing (durable first, then fan-out), client
 * events, and the channel state the APIs read.
 *
 * Fan-out goes through the broker, subscribed once per channel with local subscribers
 * (centrifuge's node-level subscription): a publication is `exclude-socket-id \n frame`,
 * and the frame is encoded once and the same Buffer sent to every subscriber.
 * Presence membership and counts are this node's; the multi-node mode will move them to
 * shared state.
 */
export class ChannelService {
  readonly #deps: ChannelsDeps;
  readonly #apps = new Map<string, AppState>();
  readonly #byBroker = new Map<string, LocalChannel>();
  /** Cache channels' last events, by broker channel, least recently published first. */
  readonly #cache = new Map<string, CachedEvent>();
  #cacheBytes = 0;
  /** Cache channels whose miss raised a cache_miss webhook, and when: one until the cache fills (or a TTL later). */
  readonly #missReported = new Map<string, number>();

  constructor(deps: ChannelsDeps) {
    this.#deps = deps;
    setInterval(() => this.#sweepCache(), 60_000).unref();
  }

  // ---- subscribers ----

  /** Admits a socket for the app with this key: 4001 unknown, 4003 inactive, 4004 over its connection limit. */
  async connect(key: string, session: ChannelSession): Promise<Subscriber> {
    const app = await this.#deps.apps.byKey(key);
    if (!app) throw new RelayError('not_found', `App key ${key} does not exist`);
    if (!app.active) throw new RelayError('conflict', `app "${app.id}" is deactivated`);
    const state = this.#appState(app.org, app.id, true) as AppState;
    state.subscriptionCount = app.subscriptionCount;
    const max = app.limits.maxConnections;
    if (max !== null && state.sessions.size >= max) {
      throw new RelayError('over_quota', `app "${app.id}" has reached its limit of ${max} channel connections`);
    }
    const subscriber: Subscriber = { session, app: state, key, channels: new Map(), userId: null, closed: false, clientWindowStart: 0, clientEventsInWindow: 0 };
    state.sessions.add(subscriber);
    return subscriber;
  }

  disconnect(subscriber: Subscriber): void {
    subscriber.closed = true;
    for (const name of [...subscriber.channels.keys()]) this.unsubscribe(subscriber, name);
    subscriber.app.sessions.delete(subscriber);
    this.#dropAppIfIdle(subscriber.app);
  }

  async subscribe(subscriber: Subscriber, request: SubscribeRequest): Promise<void> {
    const { channel: name, auth, channel_data: channelData } = request;
    if (typeof name !== 'string') throw new RelayError('invalid_request', 'pusher:subscribe needs data.channel, a string');
    const userChannel = name.startsWith(SERVER_TO_USER_PREFIX);
    const problem = userChannel ? null : channelNameProblem(name);
    if (problem) throw new RelayError('invalid_request', problem);
    const app = await this.#app(subscriber);
    subscriber.app.subscriptionCount = app.subscriptionCount;
    const type = userChannel ? 'user' : channelType(name);
    let userId: string | null = null;
    let userInfo: unknown = undefined;
    if (type === 'user') {
      if (subscriber.userId === null || name !== `${SERVER_TO_USER_PREFIX}${subscriber.userId}`) {
        throw new RelayError('unauthorized', `only the connection signed in as "${name.slice(SERVER_TO_USER_PREFIX.length)}" may subscribe to ${name}`);
      }
    } else if (type === 'private' || type === 'encrypted') {
      verifySocketAuth(app, auth, `${subscriber.session.socketId}:${name}`);
    } else if (type === 'presence') {
      if (typeof channelData !== 'string') throw new RelayError('invalid_request', `presence channel ${name} needs channel_data, the JSON string your auth endpoint returned`);
      verifySocketAuth(app, auth, `${subscriber.session.socketId}:${name}:${channelData}`);
      ({ userId, userInfo } = parseChannelData(channelData, app));
    }

    if (subscriber.closed) return;
    if (subscriber.channels.has(name)) {
      this.#send(subscriber, this.#succeeded(this.#channel(subscriber.app, name)));
      return;
    }
    if (subscriber.channels.size >= app.limits.maxSubscriptionsPerConnection) {
      throw new RelayError('over_quota', `this connection is subscribed to ${subscriber.channels.size} channels, the app's limit (maxSubscriptionsPerConnection); unsubscribe from some first`);
    }
    const channel = this.#channel(subscriber.app, name) ?? this.#openChannel(subscriber.app, name, type);
    if (channel.members && userId !== null && !channel.members.has(userId) && channel.members.size >= app.limits.maxPresenceMembers) {
      this.#closeChannelIfEmpty(channel);
      throw new RelayError('over_quota', `presence channel ${name} is full: it has ${app.limits.maxPresenceMembers} members, the app's limit`);
    }
    channel.subscribers.set(subscriber.session.socketId, subscriber);
    subscriber.channels.set(name, userId);
    if (channel.subscribers.size === 1) this.#hook(channel, { name: 'channel_occupied', channel: name });
    let joined = false;
    if (channel.members && userId !== null) {
      const member = channel.members.get(userId);
      if (member) member.sockets++;
      else {
        channel.members.set(userId, { info: userInfo, sockets: 1 });
        joined = true;
      }
    }
    this.#send(subscriber, this.#succeeded(channel));
    this.#countChanged(channel);
    if (channel.type !== 'user' && isCacheChannel(name)) this.#sendCached(subscriber, channel);
    if (joined) {
      const data = JSON.stringify(userInfo === undefined ? { user_id: userId } : { user_id: userId, user_info: userInfo });
      this.#fanOut(channel, subscriber.session.socketId, { event: 'pusher_internal:member_added', channel: name, data });
      this.#hook(channel, { name: 'member_added', channel: name, user_id: userId });
    }
  }

  /** Silent and idempotent, as Pusher's. */
  unsubscribe(subscriber: Subscriber, name: unknown): void {
    if (typeof name !== 'string' || !subscriber.channels.has(name)) return;
    const userId = subscriber.channels.get(name) ?? null;
    subscriber.channels.delete(name);
    const channel = this.#channel(subscriber.app, name);
    if (!channel) return;
    channel.subscribers.delete(subscriber.session.socketId);
    if (channel.members && userId !== null) {
      const member = channel.members.get(userId);
      if (member && --member.sockets === 0) {
        channel.members.delete(userId);
        this.#fanOut(channel, '', { event: 'pusher_internal:member_removed', channel: name, data: JSON.stringify({ user_id: userId }) });
        this.#hook(channel, { name: 'member_removed', channel: name, user_id: userId });
      }
    }
    this.#countChanged(channel);
    if (channel.subscribers.size === 0) this.#hook(channel, { name: 'channel_vacated', channel: name });
    this.#closeChannelIfEmpty(channel);
  }

  /** `pusher:signin` (§1.10): binds a user to the connection once its signature checks out. */
  async signIn(subscriber: Subscriber, request: { auth?: unknown; user_data?: unknown }): Promise<void> {
    const app = await this.#app(subscriber);
    if (typeof request.user_data !== 'string') throw new RelayError('invalid_request', 'pusher:signin needs data.user_data, the JSON string your user endpoint returned');
    verifySocketAuth(app, request.auth, `${subscriber.session.socketId}::user::${request.user_data}`);
    let user: unknown;
    try {
      user = JSON.parse(request.user_data);
    } catch {
      throw new RelayError('invalid_request', 'user_data must be a JSON object');
    }
    const id = (user as { id?: unknown } | null)?.id;
    if (typeof id !== 'string' || id.length === 0 || id.length > MAX_USER_ID) {
      throw new RelayError('invalid_request', `user_data needs "id", a non-empty string of at most ${MAX_USER_ID} characters`);
    }
    if (subscriber.userId !== null && subscriber.userId !== id) throw new RelayError('unauthorized', `this connection is signed in as "${subscriber.userId}" already`);
    subscriber.userId = id;
    this.#send(subscriber, { event: 'pusher:signin_success', data: JSON.stringify({ user_data: request.user_data }) });
  }

  /** A `client-` event from a subscriber (§1.7): private and presence channels, the app's switch and rate, never echoed. */
  async clientEvent(subscriber: Subscriber, event: string, name: unknown, data: unknown): Promise<void> {
    const app = await this.#app(subscriber);
    if (!app.clientEvents) {
      throw new RelayError('invalid_request', `client events are off for app "${app.id}"; turn them on with \`relay apps update ${app.id} --client-events on\``);
    }
    if (event.length > MAX_EVENT_NAME) throw new RelayError('invalid_request', `event names are at most ${MAX_EVENT_NAME} characters`);
    if (typeof name !== 'string') throw new RelayError('invalid_request', 'a client event needs "channel", the channel it goes to');
    const type = channelType(name);
    if (type !== 'private' && type !== 'presence') {
      throw new RelayError('invalid_request', `client events go only to private- and presence- channels (not ${type === 'encrypted' ? 'encrypted' : 'public'} channel ${name})`);
    }
    if (!subscriber.channels.has(name)) throw new RelayError('forbidden', `subscribe to ${name} before sending client events to it`);
    const bytes = data === undefined ? 0 : Buffer.byteLength(JSON.stringify(data));
    if (bytes > app.limits.maxEventBytes) {
      throw new RelayError('payload_too_large', `client event data is ${bytes} bytes; the limit is ${app.limits.maxEventBytes} bytes`);
    }
    const now = this.#deps.clock.now();
    if (now - subscriber.clientWindowStart >= 1000) {
      subscriber.clientWindowStart = now;
      subscriber.clientEventsInWindow = 0;
    }
    if (++subscriber.clientEventsInWindow > app.limits.clientEventsPerSecond) {
      throw new RelayError('rate_limited', `client event rejected: more than ${app.limits.clientEventsPerSecond} client events a second from this connection`);
    }
    const channel = this.#channel(subscriber.app, name) as LocalChannel;
    const userId = subscriber.channels.get(name) ?? null;
    const frame: PusherFrame = { event, channel: name, data };
    if (type === 'presence' && userId !== null) frame.user_id = userId;
    this.#fanOut(channel, subscriber.session.socketId, frame);
    const hook: WebhookEvent = { name: 'client_event', channel: name, event, data: typeof data === 'string' ? data : JSON.stringify(data ?? null), socket_id: subscriber.session.socketId };
    if (type === 'presence' && userId !== null) hook['user_id'] = userId;
    this.#hook(channel, hook);
  }

  // ---- publishing ----

  async publish(publisher: Publisher, body: PublishBody): Promise<PublishResult> {
    const app = await this.#publishingApp(publisher);
    const channels = body.channels ?? [body.channel as string];
    if (channels.length > 1 && channels.some((c) => channelType(c) === 'encrypted')) {
      throw new RelayError('invalid_request', 'an event for an encrypted channel must go to that channel alone');
    }
    const attributes = checkInfo(body.info);
    const record = this.#record(app, publisher, body.name, channels, body.data, body.socket_id);
    await this.#deps.log.write([{ type: 'insert', event: record, timeline: [this.#published(record)] }]);
    for (const name of channels) this.#publishFrame(publisher, name, body.socket_id, { event: body.name, channel: name, data: body.data });
    for (const name of channels) if (isCacheChannel(name)) this.#cacheSet(publisher, name, body.name, body.data);
    const result: PublishResult = { id: record.id };
    if (attributes.size > 0) result.channels = Object.fromEntries(channels.map((c) => [c, this.#info(publisher, c, attributes)]));
    return result;
  }

  /** All of a batch or none of it: the events commit in one transaction, in batch order, then go out. */
  async publishBatch(publisher: Publisher, body: BatchBody): Promise<{ ids: string[]; batch?: ChannelInfo[] }> {
    const app = await this.#publishingApp(publisher);
    const attributes = body.batch.map((event) => checkInfo(event.info));
    const records = body.batch.map((event, i) => this.#record(app, publisher, event.name, [event.channel], event.data, event.socket_id, `batch[${i}].data`));
    await this.#deps.log.write(records.map((event) => ({ type: 'insert', event, timeline: [this.#published(event)] })));
    for (const event of body.batch) this.#publishFrame(publisher, event.channel, event.socket_id, { event: event.name, channel: event.channel, data: event.data });
    for (const event of body.batch) if (isCacheChannel(event.channel)) this.#cacheSet(publisher, event.channel, event.name, event.data);
    const result: { ids: string[]; batch?: ChannelInfo[] } = { ids: records.map((r) => r.id) };
    if (body.batch.some((e) => e.info !== undefined)) result.batch = body.batch.map((e, i) => this.#info(publisher, e.channel, attributes[i] as ReadonlySet<string>));
    return result;
  }

  // ---- channel state ----

  /** Occupied channels, by name, with their counts. */
  list(publisher: Publisher, prefix: string | undefined): ChannelSummary[] {
    const state = this.#appState(publisher.org, publisher.appId, false);
    if (!state) return [];
    return [...state.channels.values()]
      .filter((c) => c.type !== 'user' && (prefix === undefined || c.name.startsWith(prefix)))
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((c) => ({ name: c.name, subscriptionCount: c.subscribers.size, userCount: c.members ? c.members.size : null }));
  }

  show(publisher: Publisher, name: string): ChannelSummary & { occupied: boolean } {
    const channel = this.#channelOf(publisher, name);
    const presence = channelType(name) === 'presence';
    return { name, occupied: channel !== undefined, subscriptionCount: channel?.subscribers.size ?? 0, userCount: presence ? (channel?.members?.size ?? 0) : null };
  }

  /** Pusher's `GET /channels`: `info=user_count` only with `filter_by_prefix=presence-`, as Pusher's. */
  pusherList(publisher: Publisher, prefix: string | undefined, info: string | undefined): { channels: Record<string, ChannelInfo> } {
    const attributes = checkInfo(info);
    if (attributes.has('user_count') && !prefix?.startsWith('presence-')) {
      throw new RelayError('invalid_request', 'info=user_count needs filter_by_prefix=presence- (only presence channels have users)');
    }
    return { channels: Object.fromEntries(this.list(publisher, prefix).map((c) => [c.name, this.#info(publisher, c.name, attributes)])) };
  }

  /** Pusher's `GET /channels/{name}`: user_count for presence channels, subscription_count for the others. */
  pusherShow(publisher: Publisher, name: string, info: string | undefined): { occupied: boolean } & ChannelInfo {
    const attributes = checkInfo(info, true);
    if (attributes.has('cache') && !isCacheChannel(name)) throw new RelayError('invalid_request', `info=cache is for cache channels (cache-, private-cache-, private-encrypted-cache-, presence-cache-); ${name} is not one`);
    const presence = channelType(name) === 'presence';
    if (attributes.has('user_count') && !presence) throw new RelayError('invalid_request', `info=user_count is for presence channels; ${name} is not one`);
    if (attributes.has('subscription_count') && presence) throw new RelayError('invalid_request', 'info=subscription_count is for non-presence channels; ask presence channels for user_count');
    return { occupied: this.#channelOf(publisher, name) !== undefined, ...this.#info(publisher, name, attributes) };
  }

  users(publisher: Publisher, name: string): { id: string }[] {
    if (channelType(name) !== 'presence') throw new RelayError('invalid_request', `"${name}" is not a presence channel; only presence- channels have users`);
    return [...(this.#channelOf(publisher, name)?.members?.keys() ?? [])].map((id) => ({ id }));
  }

  /** Closes (4009) the connections signed in as this user, as Pusher's terminate_connections. */
  terminateUser(publisher: Publisher, userId: string, code: number): number {
    const state = this.#appState(publisher.org, publisher.appId, false);
    let closed = 0;
    for (const s of state?.sessions ?? []) {
      if (s.userId !== userId) continue;
      s.session.close(code, 'connection terminated by the app');
      closed++;
    }
    return closed;
  }

  /** A publication from the broker: the frame to every local subscriber of the channel but the excluded one. */
  handlePublication(broker: string, data: string): void {
    const channel = this.#byBroker.get(broker);
    if (!channel) return;
    const newline = data.indexOf('\n');
    const exclude = data.slice(0, newline);
    const frame = Buffer.from(data.slice(newline + 1));
    for (const [socketId, subscriber] of channel.subscribers) if (socketId !== exclude) subscriber.session.send(frame);
  }

  // ---- internals ----

  #publishFrame(publisher: Publisher, name: string, exclude: string | undefined, frame: PusherFrame): void {
    void this.#deps.broker.publish(brokerChannel(publisher.org, publisher.appId, name), () => `${exclude ?? ''}\n${JSON.stringify(frame)}`);
  }

  /** Webhook events of subscriber channels (a signed-in user's own channel raises none). */
  #hook(channel: LocalChannel, event: WebhookEvent): void {
    if (channel.type !== 'user') this.#deps.webhooks.emit(channel.app.org, channel.app.id, event);
  }

  #fanOut(channel: LocalChannel, exclude: string, frame: PusherFrame): void {
    void this.#deps.broker.publish(channel.broker, () => `${exclude}\n${JSON.stringify(frame)}`);
  }

  #info(publisher: Publisher, name: string, attributes: ReadonlySet<string>): ChannelInfo {
    const channel = this.#channelOf(publisher, name);
    const out: ChannelInfo = {};
    if (attributes.has('user_count')) out.user_count = channel?.members?.size ?? 0;
    if (attributes.has('subscription_count')) out.subscription_count = channel?.subscribers.size ?? 0;
    if (attributes.has('cache')) {
      const cached = this.#cached(brokerChannel(publisher.org, publisher.appId, name));
      out.cache = cached ? { data: cached.data, ttl: Math.ceil((cached.expiresAt - this.#deps.clock.now()) / 1000) } : null;
    }
    return out;
  }

  // ---- subscription counting (§1.11) ----

  /**
   * With the app's subscription counting on, a non-presence channel's subscribers get
   * `pusher_internal:subscription_count` and the app the `subscription_count` webhook: on
   * every change, or at most every 5 s (the latest count) for channels of over 100.
   */
  #countChanged(channel: LocalChannel): void {
    if (channel.members || channel.type === 'user' || !channel.app.subscriptionCount) return;
    if (channel.countTimer && channel.subscribers.size === 0) {
      // The last one left: the 0 goes out now, the channel is closing.
      clearTimeout(channel.countTimer);
      channel.countTimer = null;
    }
    if (channel.countTimer) return;
    const wait = channel.subscribers.size > COUNT_EVERY_CHANGE_UP_TO ? channel.countSentAt + COUNT_INTERVAL_MS - this.#deps.clock.now() : 0;
    if (wait <= 0) {
      this.#sendCount(channel);
      return;
    }
    channel.countTimer = setTimeout(() => {
      channel.countTimer = null;
      this.#sendCount(channel);
    }, wait);
    channel.countTimer.unref();
  }

  #sendCount(channel: LocalChannel): void {
    const count = channel.subscribers.size;
    channel.countSentAt = this.#deps.clock.now();
    if (count > 0) this.#fanOut(channel, '', { event: 'pusher_internal:subscription_count', channel: channel.name, data: JSON.stringify({ subscription_count: count }) });
    this.#hook(channel, { name: 'subscription_count', channel: channel.name, subscription_count: count });
  }

  // ---- cache channels (§1.9) ----

  #cacheSet(publisher: Publisher, name: string, event: string, data: string): void {
    const key = brokerChannel(publisher.org, publisher.appId, name);
    this.#uncache(key);
    const cached = { event, data, expiresAt: this.#deps.clock.now() + CACHE_TTL_MS };
    this.#cache.set(key, cached);
    this.#cacheBytes += cachedBytes(cached);
    this.#missReported.delete(key);
    for (const oldest of this.#cache.keys()) {
      if (this.#cacheBytes <= MAX_CACHED_BYTES) break;
      this.#uncache(oldest);
    }
  }

  #uncache(key: string): void {
    const cached = this.#cache.get(key);
    if (!cached) return;
    this.#cache.delete(key);
    this.#cacheBytes -= cachedBytes(cached);
  }

  #cached(key: string): CachedEvent | undefined {
    const cached = this.#cache.get(key);
    if (cached && cached.expiresAt <= this.#deps.clock.now()) {
      this.#uncache(key);
      return undefined;
    }
    return cached;
  }

  /** Right after subscription_succeeded: the last event as a normal channel event, or pusher:cache_miss (and, once, the cache_miss webhook). */
  #sendCached(subscriber: Subscriber, channel: LocalChannel): void {
    const cached = this.#cached(channel.broker);
    if (cached) {
      this.#send(subscriber, { event: cached.event, channel: channel.name, data: cached.data });
      return;
    }
    this.#send(subscriber, { event: 'pusher:cache_miss', channel: channel.name });
    const now = this.#deps.clock.now();
    const reported = this.#missReported.get(channel.broker);
    if (reported !== undefined && now - reported < CACHE_TTL_MS) return;
    this.#missReported.delete(channel.broker);
    this.#missReported.set(channel.broker, now);
    if (this.#missReported.size > MAX_MISSES_REMEMBERED) this.#missReported.delete(this.#missReported.keys().next().value as string);
    this.#hook(channel, { name: 'cache_miss', channel: channel.name });
  }

  #sweepCache(): void {
    const now = this.#deps.clock.now();
    for (const [key, cached] of this.#cache) if (cached.expiresAt <= now) this.#uncache(key);
    for (const [key, at] of this.#missReported) if (now - at >= CACHE_TTL_MS) this.#missReported.delete(key);
  }

  #succeeded(channel: LocalChannel | undefined): PusherFrame {
    const name = channel?.name ?? '';
    if (!channel?.members) return { event: 'pusher_internal:subscription_succeeded', channel: name, data: '{}' };
    const hash: Record<string, unknown> = {};
    for (const [id, member] of channel.members) hash[id] = member.info ?? null;
    const ids = Object.keys(hash);
    return { event: 'pusher_internal:subscription_succeeded', channel: name, data: JSON.stringify({ presence: { ids, hash, count: ids.length } }) };
  }

  #send(subscriber: Subscriber, frame: PusherFrame): void {
    subscriber.session.send(encode(frame));
  }

  async #app(subscriber: Subscriber): Promise<ChannelApp> {
    const app = await this.#deps.apps.byKey(subscriber.key);
    if (!app) throw new RelayError('not_found', 'this app no longer exists');
    return app;
  }

  async #publishingApp(publisher: Publisher): Promise<ChannelApp> {
    const app = await this.#deps.apps.byId(publisher.org, publisher.appId);
    if (!app) throw new RelayError('not_found', `app "${publisher.appId}" not found`);
    return app;
  }

  #appState(org: string, id: string, create: boolean): AppState | undefined {
    const key = appKey(org, id);
    let state = this.#apps.get(key);
    if (!state && create) {
      state = { org, id, channels: new Map(), sessions: new Set(), subscriptionCount: false };
      this.#apps.set(key, state);
    }
    return state;
  }

  #dropAppIfIdle(state: AppState): void {
    if (state.sessions.size === 0 && state.channels.size === 0) this.#apps.delete(appKey(state.org, state.id));
  }

  #channel(state: AppState, name: string): LocalChannel | undefined {
    return state.channels.get(name);
  }

  #channelOf(publisher: Publisher, name: string): LocalChannel | undefined {
    return this.#appState(publisher.org, publisher.appId, false)?.channels.get(name);
  }

  #openChannel(state: AppState, name: string, type: ChannelType | 'user'): LocalChannel {
    const broker = brokerChannel(state.org, state.id, name);
    const channel: LocalChannel = { app: state, name, type, broker, subscribers: new Map(), members: type === 'presence' ? new Map() : null, countSentAt: 0, countTimer: null };
    state.channels.set(name, channel);
    this.#byBroker.set(broker, channel);
    void this.#deps.broker.subscribe(broker);
    return channel;
  }

  #closeChannelIfEmpty(channel: LocalChannel): void {
    if (channel.subscribers.size > 0) return;
    if (channel.countTimer) clearTimeout(channel.countTimer);
    channel.app.channels.delete(channel.name);
    this.#byBroker.delete(channel.broker);
    void this.#deps.broker.unsubscribe(channel.broker);
    this.#dropAppIfIdle(channel.app);
  }

  /** A publish is one change of history, as an agent event's steps are: numbered, on the live feed, replayed to a follower that comes back. */
  #published(record: EventRecord): TimelineRecord {
    return this.#deps.log.change(record.org, { at: record.createdAt, type: 'published', detail: null, status: record.status, latencyMs: record.latencyMs }, () => toEvent(record));
  }

  #record(app: ChannelApp, publisher: Publisher, name: string, channels: string[], data: string, socketId: string | undefined, field = 'data'): EventRecord {
    const bytes = Buffer.byteLength(data);
    if (bytes > app.limits.maxEventBytes) {
      throw new RelayError('payload_too_large', `${field} is ${bytes} bytes; the limit is ${app.limits.maxEventBytes} bytes`);
    }
    const createdAt = this.#deps.clock.now();
    return {
      id: newEventId(createdAt),
      org: publisher.org,
      appId: publisher.appId,
      kind: 'channel',
      agent: null,
      thread: null,
      name,
      status: 'delivered',
      channels,
      payload: data,
      socketId: socketId ?? null,
      latencyMs: null,
      createdAt,
      ref: null,
      attempt: 0,
      reply: null,
      error: null,
      outcomeAt: null,
      ackedAt: null,
    };
  }
}

/** Most requests ask for no `info`: one shared empty set for them. */
const NO_ATTRIBUTES: ReadonlySet<string> = new Set();

/** `info` attributes: user_count and subscription_count, and `cache` where one channel is asked about. */
function checkInfo(info: string | undefined, cache = false): ReadonlySet<string> {
  if (info === undefined) return NO_ATTRIBUTES;
  const attributes = new Set(info.split(',').map((a) => a.trim()).filter((a) => a.length > 0));
  const known = cache ? ['user_count', 'subscription_count', 'cache'] : ['user_count', 'subscription_count'];
  for (const a of attributes) {
    if (!known.includes(a)) throw new RelayError('invalid_request', `unknown info attribute "${a}"; use ${known.join(', ')}`);
  }
  return attributes;
}

/** A presence subscription's `channel_data`: `{"user_id", "user_info"?}` within the app's limits. */
function parseChannelData(text: string, app: ChannelApp): { userId: string; userInfo: unknown } {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new RelayError('invalid_request', 'channel_data must be a JSON object');
  }
  const { user_id: rawId, user_info: userInfo } = (data ?? {}) as { user_id?: unknown; user_info?: unknown };
  if ((typeof rawId !== 'string' && typeof rawId !== 'number') || String(rawId).length === 0) {
    throw new RelayError('invalid_request', 'channel_data needs "user_id", a string or a number');
  }
  const userId = String(rawId);
  if (userId.length > MAX_USER_ID) throw new RelayError('invalid_request', `user_id is at most ${MAX_USER_ID} characters`);
  const infoBytes = userInfo === undefined ? 0 : Buffer.byteLength(JSON.stringify(userInfo));
  if (infoBytes > app.limits.maxPresenceUserInfoBytes) {
    throw new RelayError('payload_too_large', `user_info is ${infoBytes} bytes; the limit is ${app.limits.maxPresenceUserInfoBytes} bytes`);
  }
  return { userId, userInfo };
}
