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
import { PublishBody, SERVER_TO_USER_PREFIX, describeIssues, parseInput, type BatchBody } from '../../src/shared/schemas.js';
import type { WebhookEvent } from '../../src/shared/webhooks.js';
import type { Broker } from '../broker/broker.js';
import type { AppRef, ChannelCounts, ChannelState, JoinResult, MemberJoin, Members } from '../channel-state/channel-state.js';
import type { EventRecord, TimelineRecord } from '../store/store.js';
import type { Clock } from './clock.js';
import type { ChannelRule, ChannelRules, Resolved } from './channel-rules.js';
import type { EncryptionKeyService } from './encryption-keys.js';
import { newEventId, toEvent, type EventLog } from './events.js';
import { verifySocketAuth, type ChannelApp, type ChannelAppDirectory } from './pusher-auth.js';
import type { ChannelEventInput, FunctionService } from './functions.js';
import type { Schemas } from './schemas.js';
import type { WebhookSink } from './webhooks.js';
import type { Usage } from './usage.js';

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

/**
 * How a publish came in. The public API's publishes to private-encrypted- channels are
 * encrypted by relayd (`seal`); the Pusher REST API's come encrypted by the SDK.
 */
export interface PublishOptions {
  seal: boolean;
  /** False for what after-publish functions publish: those run no after-publish function again (no loops). */
  afterPublish?: boolean;
}

/** Which before-publish function dropped an event (returned null): the event went nowhere and is not in history. */
export interface Dropped {
  function: string;
  version: number;
}

export interface PublishResult {
  id: string;
  /** Present when the publisher asked for `info`. */
  channels?: Record<string, ChannelInfo>;
  /** Present when a before-publish function dropped the event. */
  dropped?: Dropped;
}

/** A batch's answer: every item's id, and the items before-publish functions dropped (by index). */
export interface BatchResult {
  ids: string[];
  batch?: ChannelInfo[];
  dropped?: (Dropped & { index: number })[];
}

interface LocalChannel {
  app: AppState;
  name: string;
  type: ChannelType | 'user';
  broker: string;
  subscribers: Map<string, Subscriber>;
  /** Subscriptions on their way in (waiting for the broker or the channel state): the channel stays open for them. */
  joining: number;
  /** Settles once the broker delivers the channel's publications to this node; rejects when it could not subscribe. */
  ready: Promise<void>;
}

interface AppState {
  org: string;
  id: string;
  /** The app as the channel state knows it. */
  ref: AppRef;
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
  /** Set by `disconnect`: a subscription still waiting for its turn must not land after it. */
  closed: boolean;
  clientWindowStart: number;
  clientEventsInWindow: number;
  /** Its subscribes, unsubscribes, client events and disconnect run one after another, in the order they came; null when none is running. */
  queue: Promise<void> | null;
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
  /** The cluster's counts, members, sessions and cache channels. */
  state: ChannelState;
  /** Tells every node, this one included, to close the user's sockets (the control bus's terminateUser). */
  terminateUser: (message: TerminateUser) => Promise<void>;
  apps: ChannelAppDirectory;
  /** The channel rules that override the app's settings for the channels they match. */
  rules: Pick<ChannelRules, 'resolve' | 'defaultRetentionMs'>;
  /** The app's event schemas: a rule that binds one has every event it covers checked against it. */
  schemas: Pick<Schemas, 'validatorFor'>;
  /** Encrypts data for a private-encrypted- channel with the app's active key (refusing when it has none). */
  sealer: Pick<EncryptionKeyService, 'sealFor'>;
  /** The app's edge functions: before-publish ones change or drop an event before anything else sees it, after-publish ones publish more. */
  functions: Pick<FunctionService, 'onChannels' | 'beforePublish' | 'afterPublish'>;
  webhooks: WebhookSink;
  /** Analytics and metrics: what was published and delivered, and the channels occupied on this node. */
  usage: Usage;
  /** What could not be done with nobody to tell (an internal frame the broker refused, a leave the channel state missed). */
  onError: (err: unknown, what: string) => void;
}

/** Subscription counts of channels with more subscribers than this go out at most every COUNT_INTERVAL_MS (§1.11). */
const COUNT_EVERY_CHANGE_UP_TO = 100;
const COUNT_INTERVAL_MS = 5000;

/** How often leaves the channel state missed are tried again, and how many are kept meanwhile. */
const RETRY_UNRECORDED_MS = 1000;
const MAX_UNRECORDED = 100_000;

const encode = (frame: PusherFrame): Buffer => Buffer.from(JSON.stringify(frame));
const appKey = (org: string, id: string): string => `${org}/${id}`;
/** Broker channels of subscriber channels; org and app ids are slugs and channel names have no `:`. */
export const BROKER_PREFIX = '$ch:';
const brokerChannel = (org: string, appId: string, channel: string): string => `${BROKER_PREFIX}${org}:${appId}:${channel}`;
/** Pusher's terminate_connections for one user, on every node: each closes its own sockets (`terminateLocal`). */
export interface TerminateUser {
  org: string;
  appId: string;
  userId: string;
  code: number;
}

const noop = (): void => undefined;

/**
 * The channel side: subscribers and their channels (public, private, encrypted, presence,
 * and each signed-in user's own), publishing (durable first, then fan-out), client
 * events, and the channel state the APIs read.
 *
 * This node's sockets and their subscriptions are kept here (the hub); what the cluster
 * shares (counts, presence members, sessions per app, cache channels) is asked of the
 * ChannelState port, which also decides which node's change raises a webhook. Fan-out goes
 * through the broker, subscribed once per channel with local subscribers (centrifuge's
 * node-level subscription): a publication is `exclude-socket-id \n frame`, and the frame is
 * encoded once and the same Buffer sent to every local subscriber. A subscription is
 * confirmed once the broker delivers the channel here and the state has recorded it.
 */
export class ChannelService {
  readonly #deps: ChannelsDeps;
  readonly #apps = new Map<string, AppState>();
  readonly #byBroker = new Map<string, LocalChannel>();
  /** Broker subscribes and unsubscribes of one channel, one after another (centrifuge's lock per channel). */
  readonly #brokerOps = new Map<string, Promise<void>>();
  /** Busy channels' subscription counts waiting for their window, by broker channel. */
  readonly #countTimers = new Map<string, NodeJS.Timeout>();
  /** Disconnects still recording their leaves: shutdown waits for them. */
  readonly #leaving = new Set<Promise<void>>();
  /** Leaves and closed sessions the channel state missed, oldest first, and the retry of them. */
  readonly #unrecorded: Array<() => Promise<void>> = [];
  #retryTimer: NodeJS.Timeout | null = null;

  constructor(deps: ChannelsDeps) {
    this.#deps = deps;
  }

  /** Listens for the other nodes' messages to this service. */
  /** Shutdown, once the sockets are closed: waits for their leaves to be recorded. */
  async drain(): Promise<void> {
    for (const timer of this.#countTimers.values()) clearTimeout(timer);
    this.#countTimers.clear();
    await Promise.all([...this.#leaving]);
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    // One last try: what this node held would otherwise stay counted until its peers drop it.
    if (this.#unrecorded.length > 0) await this.#retryUnrecorded();
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
  }

  /** This node's subscriptions, on every channel: a walk over its channels, for metrics when scraped. */
  localSubscriptions(): number {
    let count = 0;
    for (const channel of this.#byBroker.values()) count += channel.subscribers.size;
    return count;
  }

  // ---- subscribers ----

  /** Admits a socket for the app with this key: 4001 unknown, 4003 inactive, 4004 over its connection limit (on every node). */
  async connect(key: string, session: ChannelSession): Promise<Subscriber> {
    const app = await this.#deps.apps.byKey(key);
    if (!app) throw new RelayError('not_found', `App key ${key} does not exist`);
    if (!app.active) throw new RelayError('conflict', `app "${app.id}" is deactivated`);
    const max = app.limits.maxConnections;
    if (!(await this.#deps.state.openSession({ org: app.org, appId: app.id }, max))) {
      throw new RelayError('over_quota', `app "${app.id}" has reached its limit of ${max} channel connections`);
    }
    // Looked up after the wait: an idle app's state may have gone meanwhile.
    const state = this.#appState(app.org, app.id, true) as AppState;
    state.subscriptionCount = app.subscriptionCount;
    const subscriber: Subscriber = { session, app: state, key, channels: new Map(), userId: null, closed: false, clientWindowStart: 0, clientEventsInWindow: 0, queue: null };
    state.sessions.add(subscriber);
    return subscriber;
  }

  /** Never rejects: what cannot be recorded is logged. */
  disconnect(subscriber: Subscriber): Promise<void> {
    subscriber.closed = true;
    const done = this.#serial(subscriber, async () => {
      await Promise.all([...subscriber.channels.keys()].map((name) => this.#unsubscribe(subscriber, name)));
      subscriber.app.sessions.delete(subscriber);
      this.#dropAppIfIdle(subscriber.app);
      const close = (): Promise<void> => this.#deps.state.closeSession(subscriber.app.ref);
      await close().catch((err: unknown) => {
        this.#deps.onError(err, 'could not record a closed channel connection in the channel state; retrying');
        this.#recordLater(close);
      });
    }).catch((err: unknown) => this.#deps.onError(err, 'could not disconnect a channel subscriber'));
    this.#leaving.add(done);
    void done.then(() => this.#leaving.delete(done));
    return done;
  }

  subscribe(subscriber: Subscriber, request: SubscribeRequest): Promise<void> {
    return this.#serial(subscriber, () => this.#subscribe(subscriber, request));
  }

  /** Silent and idempotent, as Pusher's; never rejects. */
  unsubscribe(subscriber: Subscriber, name: unknown): Promise<void> {
    return this.#serial(subscriber, () => this.#unsubscribe(subscriber, name)).catch((err: unknown) => this.#deps.onError(err, 'could not unsubscribe a subscriber'));
  }

  async #subscribe(subscriber: Subscriber, request: SubscribeRequest): Promise<void> {
    const { channel: name, auth, channel_data: channelData } = request;
    if (typeof name !== 'string') throw new RelayError('invalid_request', 'pusher:subscribe needs data.channel, a string');
    const userChannel = name.startsWith(SERVER_TO_USER_PREFIX);
    const problem = userChannel ? null : channelNameProblem(name);
    if (problem) throw new RelayError('invalid_request', problem);
    const app = await this.#app(subscriber);
    subscriber.app.subscriptionCount = app.subscriptionCount;
    const type = userChannel ? 'user' : channelType(name);
    let member: MemberJoin | null = null;
    let limitOf = "the app's limit";
    if (type === 'user') {
      if (subscriber.userId === null || name !== `${SERVER_TO_USER_PREFIX}${subscriber.userId}`) {
        throw new RelayError('unauthorized', `only the connection signed in as "${name.slice(SERVER_TO_USER_PREFIX.length)}" may subscribe to ${name}`);
      }
    } else if (type === 'private' || type === 'encrypted') {
      verifySocketAuth(app, auth, `${subscriber.session.socketId}:${name}`);
    } else if (type === 'presence') {
      if (typeof channelData !== 'string') throw new RelayError('invalid_request', `presence channel ${name} needs channel_data, the JSON string your auth endpoint returned`);
      verifySocketAuth(app, auth, `${subscriber.session.socketId}:${name}:${channelData}`);
      const { userId, userInfo } = parseChannelData(channelData, app);
      const { rule } = await this.#deps.rules.resolve(app.org, app.id, name);
      member = { userId, info: userInfo, maxMembers: rule?.maxMembers ?? app.limits.maxPresenceMembers };
      if (rule?.maxMembers != null) limitOf = `the limit of channel rule ${rule.id} ("${rule.pattern}")`;
    }

    if (subscriber.closed) return;
    const ref = subscriber.app.ref;
    if (subscriber.channels.has(name)) {
      this.#send(subscriber, this.#succeeded(name, type === 'presence' ? await this.#deps.state.members(ref, name) : null));
      return;
    }
    if (subscriber.channels.size >= app.limits.maxSubscriptionsPerConnection) {
      throw new RelayError('over_quota', `this connection is subscribed to ${subscriber.channels.size} channels, the app's limit (maxSubscriptionsPerConnection); unsubscribe from some first`);
    }
    const channel = this.#channel(subscriber.app, name) ?? this.#openChannel(subscriber.app, name, type);
    channel.joining++;
    let joined: JoinResult | null = null;
    try {
      await channel.ready;
      if (type !== 'user') joined = await this.#deps.state.join(ref, name, member);
    } catch (err) {
      channel.joining--;
      this.#closeChannelIfEmpty(channel);
      throw err;
    }
    channel.joining--;
    if (joined?.full) {
      this.#closeChannelIfEmpty(channel);
      throw new RelayError('over_quota', `presence channel ${name} is full: it has ${member?.maxMembers ?? app.limits.maxPresenceMembers} members, ${limitOf}`);
    }
    // A disconnect waiting behind this subscription records the leave.
    channel.subscribers.set(subscriber.session.socketId, subscriber);
    if (channel.subscribers.size === 1) this.#deps.usage.channel(ref.org, ref.appId, 1);
    subscriber.channels.set(name, member?.userId ?? null);
    if (!joined) {
      this.#send(subscriber, this.#succeeded(name, null));
      return;
    }
    this.#send(subscriber, this.#succeeded(name, joined.members));
    if (joined.occupied) this.#hook(ref, { name: 'channel_occupied', channel: name });
    if (type !== 'presence' && subscriber.app.subscriptionCount) this.#countChanged(ref, name, joined.count);
    if (isCacheChannel(name)) await this.#sendCached(subscriber, name);
    if (joined.memberAdded && member) {
      const { userId, info } = member;
      const data = JSON.stringify(info === undefined ? { user_id: userId } : { user_id: userId, user_info: info });
      await this.#fanOut(channel.broker, subscriber.session.socketId, { event: 'pusher_internal:member_added', channel: name, data });
      this.#hook(ref, { name: 'member_added', channel: name, user_id: userId });
    }
  }

  async #unsubscribe(subscriber: Subscriber, name: unknown): Promise<void> {
    if (typeof name !== 'string' || !subscriber.channels.has(name)) return;
    const userId = subscriber.channels.get(name) ?? null;
    subscriber.channels.delete(name);
    const channel = this.#channel(subscriber.app, name);
    if (!channel) return;
    if (channel.subscribers.delete(subscriber.session.socketId) && channel.subscribers.size === 0) this.#deps.usage.channel(subscriber.app.org, subscriber.app.id, -1);
    this.#closeChannelIfEmpty(channel);
    if (channel.type === 'user') return;
    const leave = this.#recordLeave.bind(this, subscriber.app.ref, name, channel.type, userId, subscriber.app.subscriptionCount);
    try {
      await leave();
    } catch (err) {
      this.#deps.onError(err, `could not record that a subscriber left ${name} in the channel state; retrying`);
      this.#recordLater(leave);
    }
  }

  /** A leave in the channel state, and what it crossed (member_removed, the count, vacated) told once for the cluster. */
  async #recordLeave(ref: AppRef, name: string, type: ChannelType, userId: string | null, counting: boolean): Promise<void> {
    const left = await this.#deps.state.leave(ref, name, userId);
    if (left.memberRemoved && userId !== null) {
      await this.#fanOut(brokerChannel(ref.org, ref.appId, name), '', { event: 'pusher_internal:member_removed', channel: name, data: JSON.stringify({ user_id: userId }) });
      this.#hook(ref, { name: 'member_removed', channel: name, user_id: userId });
    }
    if (type !== 'presence' && counting) this.#countChanged(ref, name, left.count);
    if (left.vacated) this.#hook(ref, { name: 'channel_vacated', channel: name });
  }

  /**
   * A leave or a closed session the channel state could not take (its Redis unreachable)
   * would leave this node's share too high for good: it is retried, in order, until the state
   * answers again. (A failed join is refused to the client instead.)
   */
  #recordLater(record: () => Promise<void>): void {
    if (this.#unrecorded.length >= MAX_UNRECORDED) {
      this.#deps.onError(new Error(`over ${MAX_UNRECORDED} changes waiting`), 'dropped a change the channel state could not take: counts stay high until this node restarts');
      return;
    }
    this.#unrecorded.push(record);
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    if (this.#retryTimer || this.#unrecorded.length === 0) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      void this.#retryUnrecorded();
    }, RETRY_UNRECORDED_MS);
    this.#retryTimer.unref();
  }

  async #retryUnrecorded(): Promise<void> {
    while (this.#unrecorded.length > 0) {
      try {
        await (this.#unrecorded[0] as () => Promise<void>)();
      } catch {
        this.#scheduleRetry();
        return;
      }
      this.#unrecorded.shift();
    }
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
  clientEvent(subscriber: Subscriber, event: string, name: unknown, data: unknown): Promise<void> {
    return this.#serial(subscriber, () => this.#clientEvent(subscriber, event, name, data));
  }

  async #clientEvent(subscriber: Subscriber, event: string, name: unknown, data: unknown): Promise<void> {
    const app = await this.#app(subscriber);
    // A channel rule's switch overrides the app's for the channels it matches, either way.
    const { rule } = typeof name === 'string' ? await this.#deps.rules.resolve(app.org, app.id, name) : { rule: null };
    if (rule?.clientEvents === false) {
      throw new RelayError('invalid_request', `client events are off on ${String(name)} by channel rule ${rule.id} ("${rule.pattern}"); change it with \`relay channels rules update ${rule.id} --client-events on\``);
    }
    if (!(rule?.clientEvents ?? app.clientEvents)) {
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
      this.#deps.usage.rateLimited(app.org, app.id);
      throw new RelayError('rate_limited', `client event rejected: more than ${app.limits.clientEventsPerSecond} client events a second from this connection`);
    }
    const functions = await this.#deps.functions.onChannels(app.org, app.id);
    let input: ChannelEventInput = { channels: [name], event, data, socketId: subscriber.session.socketId, client: true };
    if (functions) {
      const result = await this.#deps.functions.beforePublish(app.org, app.id, input);
      // Dropped: it goes to nobody, and its sender is not told (a filter, not an error).
      if ('dropped' in result) return;
      input = { ...input, event: result.event, data: result.data };
      event = result.event;
      data = result.data;
    }
    // A client event that breaks its channel's schema goes to nobody; its sender hears why.
    const violation = await this.#violation(app, rule, event, data);
    if (violation) throw violation;
    const channel = this.#channel(subscriber.app, name) as LocalChannel;
    const userId = subscriber.channels.get(name) ?? null;
    const frame: PusherFrame = { event, channel: name, data };
    if (type === 'presence' && userId !== null) frame.user_id = userId;
    await this.#fanOut(channel.broker, subscriber.session.socketId, frame);
    this.#deps.usage.published(app.org, app.id, 'client', 1, bytes);
    const hook: WebhookEvent = { name: 'client_event', channel: name, event, data: typeof data === 'string' ? data : JSON.stringify(data ?? null), socket_id: subscriber.session.socketId };
    if (type === 'presence' && userId !== null) hook['user_id'] = userId;
    this.#hook(subscriber.app.ref, hook);
    if (functions) this.#afterPublish(subscriber.app.ref, input);
  }

  // ---- publishing ----

  /** Rejects with RelayError('unavailable') when the broker cannot take it (the event is in history by then). */
  async publish(publisher: Publisher, body: PublishBody, options: PublishOptions = { seal: false }): Promise<PublishResult> {
    const app = await this.#publishingApp(publisher);
    const channels = body.channels ?? [body.channel as string];
    if (channels.length > 1 && channels.some((c) => channelType(c) === 'encrypted')) {
      throw new RelayError('invalid_request', 'an event for an encrypted channel must go to that channel alone');
    }
    const attributes = checkInfo(body.info);
    const functions = await this.#deps.functions.onChannels(publisher.org, publisher.appId);
    let event: ChannelEventInput = { channels, event: body.name, data: body.data, socketId: body.socket_id ?? null, client: false };
    if (functions) {
      const result = await this.#deps.functions.beforePublish(publisher.org, publisher.appId, event);
      if ('dropped' in result) return { id: newEventId(this.#deps.clock.now()), dropped: result.dropped };
      event = { ...event, event: result.event, data: result.data };
    }
    const name = event.event;
    const plain = event.data as string;
    const rules = await this.#rulesOf(publisher, channels);
    const violation = await this.#firstViolation(app, rules, name, plain);
    if (violation) throw violation;
    const data = await this.#sealed(publisher, channels[0] as string, plain, options);
    const record = this.#record(app, publisher, name, channels, data, body.socket_id);
    if (this.#kept(rules, record)) await this.#deps.log.write([{ type: 'insert', event: record, timeline: [this.#published(record)] }]);
    if (channels.length === 1) await this.#publishTo(publisher, channels[0] as string, body.socket_id, name, data);
    else await Promise.all(channels.map((c) => this.#publishTo(publisher, c, body.socket_id, name, data)));
    this.#deps.usage.published(publisher.org, publisher.appId, options.seal ? 'api' : 'rest', channels.length, Buffer.byteLength(plain) * channels.length);
    if (functions && options.afterPublish !== false) this.#afterPublish(publisher, event);
    const result: PublishResult = { id: record.id };
    if (attributes.size > 0) result.channels = Object.fromEntries(await Promise.all(channels.map(async (c) => [c, await this.#info(publisher, c, attributes)])));
    return result;
  }

  /**
   * Runs the after-publish functions on a published event, in the background (the event is
   * out already), and publishes what they ask for as the app, through every check but
   * after-publish functions themselves, so that none loops back into itself.
   */
  #afterPublish(publisher: Publisher, event: ChannelEventInput): void {
    const app = { org: publisher.org, appId: publisher.appId };
    this.#deps.functions
      .afterPublish(app.org, app.appId, event, async (p) => {
        const body = parseInput(PublishBody, { name: p.event, channel: p.channel, data: typeof p.data === 'string' ? p.data : JSON.stringify(p.data ?? null) });
        if (!body.success) throw new RelayError('invalid_request', `ctx.publish: ${describeIssues(body.error)}`);
        await this.publish(app, body.data, { seal: true, afterPublish: false });
      })
      .catch((err: unknown) => this.#deps.onError(err, 'could not run after-publish functions'));
  }

  /** All of a batch or none of it: the events commit in one transaction, in batch order, then go out. */
  async publishBatch(publisher: Publisher, body: BatchBody, options: PublishOptions = { seal: false }): Promise<BatchResult> {
    const app = await this.#publishingApp(publisher);
    const functions = await this.#deps.functions.onChannels(publisher.org, publisher.appId);
    if (functions) return this.#publishBatchThroughFunctions(app, publisher, body, options);
    return this.#publishBatch(app, publisher, body, options);
  }

  /** `positions`: each item's index in the batch as sent (functions may have dropped some), for what errors name. */
  async #publishBatch(app: ChannelApp, publisher: Publisher, body: BatchBody, options: PublishOptions, positions?: number[]): Promise<BatchResult> {
    const attributes = body.batch.map((event) => checkInfo(event.info));
    const rules = await Promise.all(body.batch.map((event) => this.#rulesOf(publisher, [event.channel])));
    await this.#checkBatch(app, rules, body.batch, positions);
    const data = await Promise.all(body.batch.map((event) => this.#sealed(publisher, event.channel, event.data, options)));
    const records = body.batch.map((event, i) => this.#record(app, publisher, event.name, [event.channel], data[i] as string, event.socket_id, `batch[${positions?.[i] ?? i}].data`));
    const writes = records.filter((record, i) => this.#kept(rules[i] as Resolved[], record));
    if (writes.length > 0) await this.#deps.log.write(writes.map((event) => ({ type: 'insert', event, timeline: [this.#published(event)] })));
    // Issued in batch order: the broker keeps one node's publications to a channel in that order.
    await Promise.all(body.batch.map((event, i) => this.#publishTo(publisher, event.channel, event.socket_id, event.name, data[i] as string)));
    this.#deps.usage.published(publisher.org, publisher.appId, options.seal ? 'api' : 'rest', body.batch.length, body.batch.reduce((sum, event) => sum + Buffer.byteLength(event.data), 0));
    const result: BatchResult = { ids: records.map((r) => r.id) };
    if (body.batch.some((e) => e.info !== undefined)) result.batch = await Promise.all(body.batch.map((e, i) => this.#info(publisher, e.channel, attributes[i] as ReadonlySet<string>)));
    return result;
  }

  /**
   * A batch of an app with channel functions: each item through the before-publish functions
   * first (a failure rejects the whole batch, naming the item), then the rest of the batch as
   * any other; the items a function dropped are left out and named in the answer.
   */
  async #publishBatchThroughFunctions(app: ChannelApp, publisher: Publisher, body: BatchBody, options: PublishOptions): Promise<BatchResult> {
    const kept: BatchBody['batch'] = [];
    const keptAt: number[] = [];
    const dropped: (Dropped & { index: number })[] = [];
    const inputs: ChannelEventInput[] = [];
    for (const [index, item] of body.batch.entries()) {
      const input: ChannelEventInput = { channels: [item.channel], event: item.name, data: item.data, socketId: item.socket_id ?? null, client: false };
      let result;
      try {
        result = await this.#deps.functions.beforePublish(publisher.org, publisher.appId, input);
      } catch (err) {
        if (err instanceof RelayError && err.code === 'function_failed') {
          throw new RelayError('function_failed', `batch[${index}]: ${err.message}: nothing in the batch was published`, { details: { ...err.details, index }, ...(err.hint === undefined ? {} : { hint: err.hint }) });
        }
        throw err;
      }
      if ('dropped' in result) {
        dropped.push({ index, ...result.dropped });
        continue;
      }
      kept.push({ ...item, name: result.event, data: result.data as string });
      keptAt.push(index);
      inputs.push({ ...input, event: result.event, data: result.data });
    }
    const now = this.#deps.clock.now();
    const answer: BatchResult = kept.length > 0 ? await this.#publishBatch(app, publisher, { batch: kept }, options, keptAt) : { ids: [] };
    const ids = body.batch.map(() => newEventId(now));
    keptAt.forEach((at, i) => (ids[at] = answer.ids[i] as string));
    const result: BatchResult = { ids };
    if (answer.batch) {
      const batch: ChannelInfo[] = body.batch.map(() => ({}));
      keptAt.forEach((at, i) => (batch[at] = answer.batch?.[i] as ChannelInfo));
      result.batch = batch;
    }
    if (dropped.length > 0) result.dropped = dropped;
    if (options.afterPublish !== false) for (const input of inputs) this.#afterPublish(publisher, input);
    return result;
  }

  // ---- channel state ----

  /** Occupied channels on every node, by name, with their counts. */
  async list(publisher: Publisher, prefix: string | undefined): Promise<ChannelSummary[]> {
    const occupied = await this.#deps.state.occupied(publisher, prefix);
    return occupied.map((c) => ({ name: c.name, subscriptionCount: c.subscriptionCount, userCount: channelType(c.name) === 'presence' ? c.userCount : null }));
  }

  async show(publisher: Publisher, name: string): Promise<ChannelSummary & { occupied: boolean }> {
    const counts = await this.#deps.state.counts(publisher, name);
    const presence = channelType(name) === 'presence';
    return { name, occupied: counts !== null, subscriptionCount: counts?.subscriptionCount ?? 0, userCount: presence ? (counts?.userCount ?? 0) : null };
  }

  /** Pusher's `GET /channels`: `info=user_count` only with `filter_by_prefix=presence-`, as Pusher's. */
  async pusherList(publisher: Publisher, prefix: string | undefined, info: string | undefined): Promise<{ channels: Record<string, ChannelInfo> }> {
    const attributes = checkInfo(info);
    if (attributes.has('user_count') && !prefix?.startsWith('presence-')) {
      throw new RelayError('invalid_request', 'info=user_count needs filter_by_prefix=presence- (only presence channels have users)');
    }
    const occupied = await this.#deps.state.occupied(publisher, prefix);
    return { channels: Object.fromEntries(occupied.map((c) => [c.name, countsInfo(c, attributes)])) };
  }

  /** Pusher's `GET /channels/{name}`: user_count for presence channels, subscription_count for the others. */
  async pusherShow(publisher: Publisher, name: string, info: string | undefined): Promise<{ occupied: boolean } & ChannelInfo> {
    const attributes = checkInfo(info, true);
    if (attributes.has('cache') && !isCacheChannel(name)) throw new RelayError('invalid_request', `info=cache is for cache channels (cache-, private-cache-, private-encrypted-cache-, presence-cache-); ${name} is not one`);
    const presence = channelType(name) === 'presence';
    if (attributes.has('user_count') && !presence) throw new RelayError('invalid_request', `info=user_count is for presence channels; ${name} is not one`);
    if (attributes.has('subscription_count') && presence) throw new RelayError('invalid_request', 'info=subscription_count is for non-presence channels; ask presence channels for user_count');
    const [counts, info_] = await Promise.all([this.#deps.state.counts(publisher, name), this.#info(publisher, name, attributes)]);
    return { occupied: counts !== null, ...info_ };
  }

  async users(publisher: Publisher, name: string): Promise<{ id: string }[]> {
    if (channelType(name) !== 'presence') throw new RelayError('invalid_request', `"${name}" is not a presence channel; only presence- channels have users`);
    return Object.keys(await this.#deps.state.members(publisher, name)).map((id) => ({ id }));
  }

  /**
   * Closes (4009) the connections signed in as this user on every node, as Pusher's
   * terminate_connections. The count is this node's alone; rejects with
   * RelayError('unavailable') when the broker cannot reach the others (this node's are
   * closed by then).
   */
  async terminateUser(publisher: Publisher, userId: string, code: number): Promise<number> {
    let here = 0;
    for (const s of this.#appState(publisher.org, publisher.appId, false)?.sessions ?? []) if (s.userId === userId) here++;
    await this.#deps.terminateUser({ org: publisher.org, appId: publisher.appId, userId, code });
    return here;
  }

  /**
   * A node stopped (its heartbeat did): its share of counts, members and sessions goes, and
   * the cluster hears of it once, from the node that calls this: member_removed to the
   * channels' subscribers, and the member_removed, subscription_count and channel_vacated
   * webhooks.
   */
  async dropNode(nodeId: string): Promise<void> {
    for (const share of await this.#deps.state.dropNode(nodeId)) {
      const ref: AppRef = { org: share.org, appId: share.appId };
      const broker = brokerChannel(share.org, share.appId, share.channel);
      for (const userId of share.membersRemoved) {
        await this.#fanOut(broker, '', { event: 'pusher_internal:member_removed', channel: share.channel, data: JSON.stringify({ user_id: userId }) });
        this.#hook(ref, { name: 'member_removed', channel: share.channel, user_id: userId });
      }
      if (channelType(share.channel) !== 'presence') {
        const app = await this.#deps.apps.byId(share.org, share.appId).catch(() => null);
        if (app?.subscriptionCount) this.#countChanged(ref, share.channel, share.count);
      }
      if (share.vacated) this.#hook(ref, { name: 'channel_vacated', channel: share.channel });
    }
  }

  /** A publication from the broker: the frame to every local subscriber of the channel but the excluded one. */
  handlePublication(broker: string, data: string): void {
    const channel = this.#byBroker.get(broker);
    if (!channel) return;
    const newline = data.indexOf('\n');
    const exclude = data.slice(0, newline);
    const frame = Buffer.from(data.slice(newline + 1));
    let sent = 0;
    for (const [socketId, subscriber] of channel.subscribers) {
      if (socketId === exclude) continue;
      subscriber.session.send(frame);
      sent++;
    }
    if (sent > 0) this.#deps.usage.delivered(channel.app.org, channel.app.id, sent, sent * frame.length);
  }

  // ---- internals ----

  /** The control bus's terminateUser, on this node. */
  terminateLocal({ org, appId, userId, code }: TerminateUser): void {
    for (const s of this.#appState(org, appId, false)?.sessions ?? []) {
      if (s.userId === userId) s.session.close(code, 'connection terminated by the app');
    }
  }

  /**
   * One subscriber's operations in the order they came: a subscribe is answered before the
   * unsubscribe after it is done, and a disconnect leaves what it joined.
   */
  #serial(subscriber: Subscriber, job: () => Promise<void>): Promise<void> {
    const run = subscriber.queue ? subscriber.queue.then(job) : job();
    const tail = run.then(noop, noop);
    subscriber.queue = tail;
    void tail.then(() => {
      if (subscriber.queue === tail) subscriber.queue = null;
    });
    return run;
  }

  /** Broker subscribes and unsubscribes of one channel run one after another, in the order asked. */
  #brokerOp(broker: string, op: () => Promise<void>): Promise<void> {
    const previous = this.#brokerOps.get(broker);
    const run = previous ? previous.then(op) : op();
    const tail = run.then(noop, noop);
    this.#brokerOps.set(broker, tail);
    void tail.then(() => {
      if (this.#brokerOps.get(broker) === tail) this.#brokerOps.delete(broker);
    });
    return run;
  }

  /** A publisher's event to one channel: its cache first (a subscriber that comes meanwhile gets it twice rather than never), then the broker. */
  async #publishTo(publisher: Publisher, name: string, exclude: string | undefined, event: string, data: string): Promise<void> {
    if (isCacheChannel(name)) await this.#deps.state.cacheSet(publisher, name, { event, data }, CACHE_TTL_MS);
    await this.#deps.broker.publish(brokerChannel(publisher.org, publisher.appId, name), () => `${exclude ?? ''}\n${JSON.stringify({ event, channel: name, data })}`);
  }

  /** Webhook events of subscriber channels (a signed-in user's own channel raises none, and never gets here). */
  #hook(app: AppRef, event: WebhookEvent): void {
    this.#deps.webhooks.emit(app.org, app.appId, event);
  }

  /** A frame of relayd's own to a channel on every node; with nobody to tell of a failure, it is logged. */
  async #fanOut(broker: string, exclude: string, frame: PusherFrame): Promise<void> {
    try {
      await this.#deps.broker.publish(broker, () => `${exclude}\n${JSON.stringify(frame)}`);
    } catch (err) {
      this.#deps.onError(err, `could not send ${frame.event} to ${frame.channel ?? 'a channel'}`);
    }
  }

  async #info(publisher: Publisher, name: string, attributes: ReadonlySet<string>): Promise<ChannelInfo> {
    if (attributes.size === 0) return {};
    const wantsCounts = attributes.has('user_count') || attributes.has('subscription_count');
    const [counts, cached] = await Promise.all([
      wantsCounts ? this.#deps.state.counts(publisher, name) : null,
      attributes.has('cache') ? this.#deps.state.cacheGet(publisher, name) : null,
    ]);
    const out = countsInfo(counts, attributes);
    if (attributes.has('cache')) out.cache = cached ? { data: cached.data, ttl: Math.ceil(cached.ttlMs / 1000) } : null;
    return out;
  }

  // ---- subscription counting (§1.11) ----

  /**
   * With the app's subscription counting on, a non-presence channel's subscribers on every
   * node get `pusher_internal:subscription_count` and the app the `subscription_count`
   * webhook, with the cluster's count: on every change, or at most every 5 s (the latest
   * count) for channels of over 100; the window is the cluster's.
   */
  #countChanged(app: AppRef, name: string, count: number): void {
    const broker = brokerChannel(app.org, app.appId, name);
    const timer = this.#countTimers.get(broker);
    if (timer) {
      if (count > 0) return;
      // The last one left: the 0 goes out now.
      clearTimeout(timer);
      this.#countTimers.delete(broker);
    }
    void this.#sendCountWhenDue(app, name, broker, count);
  }

  async #sendCountWhenDue(app: AppRef, name: string, broker: string, count: number): Promise<void> {
    try {
      const wait = await this.#deps.state.claimCountSend(app, name, COUNT_INTERVAL_MS, count <= COUNT_EVERY_CHANGE_UP_TO);
      if (wait <= 0) {
        if (count > 0) await this.#fanOut(broker, '', { event: 'pusher_internal:subscription_count', channel: name, data: JSON.stringify({ subscription_count: count }) });
        this.#hook(app, { name: 'subscription_count', channel: name, subscription_count: count });
        return;
      }
      if (this.#countTimers.has(broker)) return;
      const timer = setTimeout(() => {
        this.#countTimers.delete(broker);
        void this.#sendLatestCount(app, name, broker);
      }, wait);
      timer.unref();
      this.#countTimers.set(broker, timer);
    } catch (err) {
      this.#deps.onError(err, `could not send the subscription count of ${name}`);
    }
  }

  async #sendLatestCount(app: AppRef, name: string, broker: string): Promise<void> {
    try {
      const counts = await this.#deps.state.counts(app, name);
      await this.#sendCountWhenDue(app, name, broker, counts?.subscriptionCount ?? 0);
    } catch (err) {
      this.#deps.onError(err, `could not send the subscription count of ${name}`);
    }
  }

  // ---- cache channels (§1.9) ----

  /** Right after subscription_succeeded: the last event as a normal channel event, or pusher:cache_miss (and, once for the cluster, the cache_miss webhook). */
  async #sendCached(subscriber: Subscriber, name: string): Promise<void> {
    const ref = subscriber.app.ref;
    try {
      const cached = await this.#deps.state.cacheGet(ref, name);
      if (cached) {
        this.#send(subscriber, { event: cached.event, channel: name, data: cached.data });
        return;
      }
      this.#send(subscriber, { event: 'pusher:cache_miss', channel: name });
      if (await this.#deps.state.claimCacheMiss(ref, name, CACHE_TTL_MS)) this.#hook(ref, { name: 'cache_miss', channel: name });
    } catch (err) {
      this.#deps.onError(err, `could not read the cache of ${name}`);
    }
  }

  #succeeded(name: string, members: Members | null): PusherFrame {
    if (!members) return { event: 'pusher_internal:subscription_succeeded', channel: name, data: '{}' };
    const ids = Object.keys(members);
    return { event: 'pusher_internal:subscription_succeeded', channel: name, data: JSON.stringify({ presence: { ids, hash: members, count: ids.length } }) };
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
      state = { org, id, ref: { org, appId: id }, channels: new Map(), sessions: new Set(), subscriptionCount: false };
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

  #openChannel(state: AppState, name: string, type: ChannelType | 'user'): LocalChannel {
    const broker = brokerChannel(state.org, state.id, name);
    const ready = this.#brokerOp(broker, () => this.#deps.broker.subscribe(broker));
    // Its subscribers hear of a failure; the channel itself must not raise an unhandled rejection.
    ready.catch(noop);
    const channel: LocalChannel = { app: state, name, type, broker, subscribers: new Map(), joining: 0, ready };
    state.channels.set(name, channel);
    this.#byBroker.set(broker, channel);
    return channel;
  }

  #closeChannelIfEmpty(channel: LocalChannel): void {
    if (channel.subscribers.size > 0 || channel.joining > 0 || channel.app.channels.get(channel.name) !== channel) return;
    channel.app.channels.delete(channel.name);
    this.#byBroker.delete(channel.broker);
    void this.#brokerOp(channel.broker, () => this.#deps.broker.unsubscribe(channel.broker)).catch((err: unknown) => this.#deps.onError(err, `could not unsubscribe from ${channel.name} on the broker`));
    this.#dropAppIfIdle(channel.app);
  }

  /** The rule of each channel, in order: one cached map read each while the app's rules are cached. */
  #rulesOf(publisher: Publisher, channels: string[]): Promise<Resolved[]> {
    const { rules } = this.#deps;
    return Promise.all(channels.map((c) => rules.resolve(publisher.org, publisher.appId, c)));
  }

  /**
   * Why an event breaks the schema its channel's rule binds (for its name, when the rule names
   * one), or null. Data that holds JSON (what Pusher SDKs send, a JSON string) is checked as
   * the JSON it holds; other data as the string it is.
   */
  async #violation(app: Pick<ChannelApp, 'org' | 'id'>, rule: ChannelRule | null, event: string, data: unknown, index?: number): Promise<RelayError | null> {
    if (rule?.schema == null || (rule.schemaEvent !== null && rule.schemaEvent !== event)) return null;
    const validator = await this.#deps.schemas.validatorFor(app.org, app.id, rule.schema);
    return validator?.violation(decodeData(data), index === undefined ? undefined : { index }) ?? null;
  }

  /** The first channel of an event whose schema it breaks. */
  async #firstViolation(app: ChannelApp, rules: Resolved[], event: string, data: string): Promise<RelayError | null> {
    for (const { rule } of rules) {
      const violation = await this.#violation(app, rule, event, data);
      if (violation) return violation;
    }
    return null;
  }

  /** A batch is published whole or not at all: one error naming every item that breaks its schema. */
  async #checkBatch(app: ChannelApp, rules: Resolved[][], batch: BatchBody['batch'], positions?: number[]): Promise<void> {
    const failures: { index: number; error: RelayError }[] = [];
    for (const [i, event] of batch.entries()) {
      const index = positions?.[i] ?? i;
      const error = await this.#violation(app, (rules[i] as Resolved[])[0]?.rule ?? null, event.name, event.data, index);
      if (error) failures.push({ index, error });
    }
    const first = failures[0];
    if (!first) return;
    const more = failures.length - 1;
    throw new RelayError('schema_violation', `${first.error.message}${more > 0 ? `; ${more} more batch item${more > 1 ? 's' : ''} too` : ''}: nothing in the batch was published`, {
      details: { ...first.error.details, indexes: failures.map((f) => f.index), items: failures.map((f) => f.error.details) },
    });
  }

  /** The public API's data for a private-encrypted- channel, encrypted with the app's key; other data as it is. */
  #sealed(publisher: Publisher, channel: string, data: string, options: PublishOptions): Promise<string> | string {
    if (!options.seal || channelType(channel) !== 'encrypted') return data;
    return this.#deps.sealer.sealFor(publisher.org, publisher.appId, channel, data);
  }

  /**
   * What the channels' rules say of recording an event: false when every channel's rule
   * turns history off (it is delivered, and not written). An event under a rule with a
   * retention gets its own expiry, the longest of its channels' (the daemon's retention for
   * a channel without one), which the pruner honours.
   */
  #kept(resolved: Resolved[], record: EventRecord): boolean {
    if (resolved.every(({ rule }) => rule?.history === false)) return false;
    if (resolved.some(({ rule }) => rule?.retentionMs != null)) {
      record.expiresAt = record.createdAt + Math.max(...resolved.map(({ rule }) => rule?.retentionMs ?? this.#deps.rules.defaultRetentionMs));
    }
    return true;
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
      keyId: null,
    };
  }
}

/** Most requests ask for no `info`: one shared empty set for them. */
const NO_ATTRIBUTES: ReadonlySet<string> = new Set();

/** The count attributes asked for, from a channel's counts (null: unoccupied). */
function countsInfo(counts: ChannelCounts | null, attributes: ReadonlySet<string>): ChannelInfo {
  const out: ChannelInfo = {};
  if (attributes.has('user_count')) out.user_count = counts?.userCount ?? 0;
  if (attributes.has('subscription_count')) out.subscription_count = counts?.subscriptionCount ?? 0;
  return out;
}

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

/** Event data as a schema sees it: the JSON a string holds, or the value itself. */
function decodeData(data: unknown): unknown {
  if (typeof data !== 'string') return data;
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return data;
  }
}
