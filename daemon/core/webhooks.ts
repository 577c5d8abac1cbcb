import { monotonicFactory } from 'ulid';
import type { Webhook, WebhookDelivery } from '../../src/shared/api.js';
import { formatDuration } from '../../src/shared/duration.js';
import { RelayError } from '../../src/shared/errors.js';
import { ID_PREFIX } from '../../src/shared/ids.js';
import type { CreateWebhookBody } from '../../src/shared/schemas.js';
import type { WebhookEvent } from '../../src/shared/webhooks.js';
import type { Store, WebhookAttemptRecord, WebhookDeliveryRecord, WebhookRecord } from '../store/store.js';
import { auditRecord, type Actor } from './audit.js';
import type { Clock } from './clock.js';
import type { Usage } from './usage.js';
import { CACHE_TTL_MS } from './control.js';
import { compositeKey } from './keys.js';
import { hmacHex, type ChannelAppDirectory } from './pusher-auth.js';
import { randomBase62 } from './secrets.js';
import { AddressNotAllowed, WebhookHttp } from './webhook-http.js';

/** Where the channel side and the agent relay raise webhook events. Cheap when nobody listens. */
export interface WebhookSink {
  emit(org: string, appId: string, event: WebhookEvent): void;
  /** An event for every app of the organization (an agent's connection: agents belong to no one app). */
  emitToOrg(org: string, event: WebhookEvent): void;
}

export const noWebhooks: WebhookSink = { emit: () => undefined, emitToOrg: () => undefined };

export interface WebhooksDeps {
  store: Store;
  clock: Clock;
  apps: ChannelAppDirectory;
  /** This node's id: it claims the deliveries it attempts, and each attempt in the log names it. */
  nodeId: string;
  /** Whether other nodes may share the store (PostgreSQL); on one that none shares, every claim left in it is stale at start. */
  sharedStore: boolean;
  /**
   * Asks the other nodes to drop a channel_vacated (member_removed) they hold that this
   * channel_occupied (member_added) cancels; true when one did. Null where no other node can
   * hold one (a store none shares).
   */
  dropHeldElsewhere: ((org: string, appId: string, event: WebhookEvent) => Promise<boolean>) | null;
  /** How long a delivery is retried before it is given up (at least 5 minutes by default). */
  retryForMs: number;
  /** An attempt without a 2xx answer within this is a failure. */
  timeoutMs: number;
  /** How long channel_vacated and member_removed are held back (0: not at all). */
  debounceMs: number;
  userAgent: string;
  /** Let webhooks call loopback, private and other non-public addresses (`--webhook-allow-private`). */
  allowPrivate: boolean;
  /** Told after an app's webhooks are added or removed, so that every node reads them again (`reload`); awaited. */
  webhooksChanged(org: string, appId: string): Promise<void>;
  /** Analytics and metrics: each attempt, and whether the endpoint took it. */
  usage: Usage;
  onError(err: unknown, what: string): void;
}

/** Events raised within this window go out in one body (Pusher's batch webhooks). */
const BATCH_WINDOW_MS = 50;
const MAX_EVENTS_PER_BODY = 100;
/** In-flight attempts: in all, and per webhook, so that one dead endpoint cannot take every slot. */
const MAX_IN_FLIGHT = 32;
const MAX_IN_FLIGHT_PER_WEBHOOK = 4;
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 60_000;
/**
 * How long a node's claim on a delivery holds unless the node renews it: how long the
 * deliveries of a node that died wait before another node takes them over.
 */
export const CLAIM_MS = 10_000;
/** A node renews its claims this often, attempts in flight included, so that a slow attempt is never taken by a second node. */
const RENEW_EVERY_MS = 2_500;
/** Every node looks this often for deliveries nobody claims (or whose claim lapsed) and takes those due before its next look. */
const POLL_EVERY_MS = 2_000;
const CLAIM_BATCH = 100;
/** A node holds at most this many deliveries (waiting, queued, in flight) before it claims more: the rest is left to the others. */
const MAX_CLAIMED = 1000;

const ulid = monotonicFactory();

/** Exponential, from 1 s doubling to at most a minute, with ±25 % jitter so that retries of many deliveries spread out. */
export function backoffMs(failedAttempts: number): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.max(0, failedAttempts - 1));
  return Math.round(base * (0.75 + Math.random() * 0.5));
}

/** For the debounced pairs: the key an event is held under or cancels, and whether it is the one held. */
function debounceKey(org: string, appId: string, event: WebhookEvent): { key: string; holds: boolean } | null {
  const channel = String(event['channel']);
  switch (event.name) {
    case 'channel_vacated':
    case 'channel_occupied':
      return { key: compositeKey('c', org, appId, channel), holds: event.name === 'channel_vacated' };
    case 'member_removed':
    case 'member_added':
      return { key: compositeKey('m', org, appId, channel, String(event['user_id'])), holds: event.name === 'member_removed' };
    default:
      return null;
  }
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function toWebhook(record: WebhookRecord): Webhook {
  return {
    id: record.id,
    appId: record.appId,
    org: record.org,
    url: record.url,
    events: record.events,
    createdAt: new Date(record.createdAt).toISOString(),
    status: record.lastAttemptAt === null ? 'new' : record.failuresInRow > 0 ? 'failing' : 'ok',
    lastAttemptAt: iso(record.lastAttemptAt),
    lastStatusCode: record.lastStatusCode,
    lastError: record.lastError,
    failuresInRow: record.failuresInRow,
  };
}

function toDelivery(delivery: WebhookDeliveryRecord, attempts: WebhookAttemptRecord[]): WebhookDelivery {
  return {
    id: delivery.id,
    webhookId: delivery.webhookId,
    status: delivery.status,
    createdAt: new Date(delivery.createdAt).toISOString(),
    events: delivery.eventNames,
    channels: channelsOf(delivery.body),
    nextAttemptAt: delivery.status === 'pending' ? iso(delivery.nextAttemptAt) : null,
    attempts: attempts.map((a) => ({ at: new Date(a.at).toISOString(), statusCode: a.statusCode, durationMs: a.durationMs, error: a.error, node: a.node })),
  };
}

/** The channels named in a stored body (the exact bytes sent), each once, in order. */
function channelsOf(body: string): string[] {
  const { events } = JSON.parse(body) as { events: { channel?: unknown }[] };
  return [...new Set(events.flatMap((e) => (typeof e.channel === 'string' ? [e.channel] : [])))];
}

/** An event waiting for another node's word (or behind one that is), so that an app's events go out in the order raised. */
interface Waiting {
  org: string;
  appId: string;
  event: WebhookEvent;
  /** Whether it goes out; null until decided. */
  send: boolean | null;
}

/**
 * Webhooks: the endpoints of each app, and a durable outbox. Events are batched for a short
 * window into one Pusher-format body, stored as a delivery, then POSTed signed as Pusher
 * signs them. No 2xx within the timeout is retried with backoff until `retryForMs` has
 * passed; pending deliveries are picked up again after a restart; every attempt is logged.
 * Nothing here is awaited by the code that raises events, so a slow or dead endpoint
 * cannot slow the relay or the channels.
 *
 * Several nodes share the outbox as graphile-worker's workers share a queue: one node at a
 * time holds a delivery's claim (for CLAIM_MS, renewed while it holds it) and only it makes
 * the attempts. A node claims what it stores, and polls for deliveries due that nobody holds:
 * retries given up by their node, and those of a node that died once its claims lapse.
 */
export class WebhookService implements WebhookSink {
  readonly #deps: WebhooksDeps;
  readonly #http: WebhookHttp;
  readonly #byApp = new Map<string, WebhookRecord[]>();
  readonly #byId = new Map<string, WebhookRecord>();
  readonly #buffers = new Map<string, { events: WebhookEvent[]; timer: NodeJS.Timeout }>();
  /** channel_vacated and member_removed events being held back, by what would cancel them. */
  readonly #held = new Map<string, { org: string; appId: string; event: WebhookEvent; timer: NodeJS.Timeout }>();
  /** Deliveries this node holds the claim of: waiting for their next attempt, queued, or in flight. */
  readonly #claimed = new Map<string, WebhookDeliveryRecord>();
  /** Per app, events behind one whose fate another node decides (the debounce across nodes). */
  readonly #waiting = new Map<string, Waiting[]>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #due: WebhookDeliveryRecord[] = [];
  readonly #inFlight = new Map<string, number>();
  readonly #aborts = new Set<AbortController>();
  readonly #writes = new Set<Promise<unknown>>();
  /** Changes to the index of endpoints, one after the other, so that a later read of the store is applied later. */
  #indexing: Promise<void> = Promise.resolve();
  #refreshTimer: NodeJS.Timeout | null = null;
  #pollTimer: NodeJS.Timeout | null = null;
  #renewTimer: NodeJS.Timeout | null = null;
  #polling = false;
  /** When this node's claims were last renewed (or it had none): past CLAIM_MS without a renewal, they may be another node's. */
  #renewedAt = 0;
  /** The last poll filled its batch: there may be more due, so the next one comes at once. */
  #pollAgain = false;
  #inFlightTotal = 0;
  #stopped = false;

  constructor(deps: WebhooksDeps) {
    this.#deps = deps;
    this.#http = new WebhookHttp({ allowPrivate: deps.allowPrivate });
  }

  /** Claims the deliveries due, as the poll that follows every few seconds does. */
  async start(): Promise<void> {
    const { store, nodeId, sharedStore } = this.#deps;
    await this.#reindex(null);
    // A node that starts holds nothing yet: claims in its name are a previous run's (with --node-id), and on a store nobody shares, every claim is.
    await store.releaseWebhookClaims(sharedStore ? nodeId : null);
    this.#renewedAt = this.#deps.clock.now();
    await this.#poll();
    this.#pollTimer = setInterval(() => this.#track(this.#poll()), POLL_EVERY_MS);
    this.#pollTimer.unref();
    this.#renewTimer = setInterval(() => this.#track(this.#renew()), RENEW_EVERY_MS);
    this.#renewTimer.unref();
    // The backstop of the webhooksChanged messages: a node that missed one reads every endpoint again.
    this.#refreshTimer = setInterval(() => void this.#reindex(null).catch((err: unknown) => this.#deps.onError(err, 'could not read the webhooks again')), CACHE_TTL_MS);
    this.#refreshTimer.unref();
  }

  /**
   * Buffered events are stored; attempts in flight are cut (not logged); then this node's
   * claims are given up, so that another node (or this one after its restart) goes on at once.
   */
  async stop(): Promise<void> {
    for (const timer of [this.#refreshTimer, this.#pollTimer, this.#renewTimer]) if (timer) clearInterval(timer);
    for (const [key, held] of this.#held) this.#release(key, held);
    // Events still waiting for another node's word go out: sent twice rather than lost.
    for (const waiting of this.#waiting.values()) for (const w of waiting) if (w.send !== false) this.#send(w.org, w.appId, w.event);
    this.#waiting.clear();
    for (const id of [...this.#buffers.keys()]) this.#flush(id);
    this.#stopped = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    for (const abort of this.#aborts) abort.abort();
    await Promise.allSettled([...this.#writes]);
    this.#claimed.clear();
    await this.#deps.store.releaseWebhookClaims(this.#deps.nodeId).catch((err: unknown) => this.#deps.onError(err, 'could not give up the claims of webhook deliveries'));
    this.#http.close();
  }

  // ---- endpoints ----

  async add(actor: Actor, org: string, appId: string, body: CreateWebhookBody): Promise<Webhook> {
    const { store, clock } = this.#deps;
    if (!(await store.getApp(org, appId))) throw new RelayError('not_found', `app "${appId}" not found in organization "${org}"`);
    const refusal = this.#http.refusal(body.url);
    if (refusal !== null) throw new RelayError('invalid_request', refusal);
    const record: WebhookRecord = {
      id: `${ID_PREFIX.webhook}${randomBase62(16)}`,
      org,
      appId,
      url: body.url,
      events: [...new Set(body.events)],
      createdAt: clock.now(),
      lastAttemptAt: null,
      lastStatusCode: null,
      lastError: null,
      failuresInRow: 0,
    };
    await store.insertWebhook(record, auditRecord(clock, actor, 'webhook.add', { org, type: 'app', id: appId }, { webhookId: record.id, url: record.url, events: record.events }));
    await this.#deps.webhooksChanged(org, appId);
    return toWebhook(record);
  }

  async list(org: string, appId: string): Promise<Webhook[]> {
    if (!(await this.#deps.store.getApp(org, appId))) throw new RelayError('not_found', `app "${appId}" not found in organization "${org}"`);
    return (await this.#deps.store.listWebhooks({ org, appId })).map(toWebhook);
  }

  /** `owner` limits it to one app's webhooks (the public API); an unknown or foreign id is not_found. */
  async remove(actor: Actor, id: string, owner?: { org: string; appId: string }): Promise<Webhook> {
    const record = await this.#require(id, owner);
    await this.#deps.store.deleteWebhook(id, auditRecord(this.#deps.clock, actor, 'webhook.remove', { org: record.org, type: 'app', id: record.appId }, { webhookId: id, url: record.url }));
    await this.#deps.webhooksChanged(record.org, record.appId);
    return toWebhook(record);
  }

  /**
   * Reads an app's endpoints again (a webhooksChanged message, from this node or another):
   * new ones are indexed, removed ones (or a deleted app's) leave memory and their
   * deliveries stop.
   */
  async reload(org: string, appId: string): Promise<void> {
    await this.#reindex({ org, appId });
  }

  /** Reads every endpoint again (this node may have missed webhooksChanged messages while the broker was away). */
  async reloadAll(): Promise<void> {
    await this.#reindex(null);
  }

  async deliveries(id: string, limit: number): Promise<WebhookDelivery[]> {
    await this.#require(id);
    return (await this.#deps.store.listWebhookDeliveries(id, limit)).map(({ delivery, attempts }) => toDelivery(delivery, attempts));
  }

  // ---- the sink ----

  /**
   * As Pusher does, channel_vacated and member_removed wait `debounceMs`; if the channel is
   * occupied again (or the user is back) by then, neither that event nor its channel_occupied
   * (member_added) is sent: a page reload is not two webhooks.
   */
  emit(org: string, appId: string, event: WebhookEvent): void {
    if (!this.#byApp.has(`${org}/${appId}`)) return;
    const debounce = this.#deps.debounceMs > 0 ? debounceKey(org, appId, event) : null;
    if (debounce === null) {
      this.#ordered(org, appId, event, null);
    } else if (debounce.holds) {
      const earlier = this.#held.get(debounce.key);
      if (earlier) clearTimeout(earlier.timer);
      const held = { org, appId, event, timer: setTimeout(() => this.#release(debounce.key, held), this.#deps.debounceMs) };
      this.#held.set(debounce.key, held);
    } else if (!this.dropHeld(org, appId, event)) {
      // The channel may have been vacated on another node (the subscriber came back here): that node holds the event, and decides.
      const elsewhere = this.#deps.dropHeldElsewhere;
      this.#ordered(org, appId, event, elsewhere && elsewhere(org, appId, event).then((dropped) => !dropped));
    }
  }

  /**
   * Drops the channel_vacated (member_removed) held on this node that `event`, a
   * channel_occupied (member_added), cancels; true when there was one. Its holder decides
   * (here, or when another node asks), so that a held event is either sent or dropped with
   * its pair, never both.
   */
  dropHeld(org: string, appId: string, event: WebhookEvent): boolean {
    const debounce = debounceKey(org, appId, event);
    const held = debounce && !debounce.holds ? this.#held.get(debounce.key) : undefined;
    if (!debounce || !held) return false;
    clearTimeout(held.timer);
    this.#held.delete(debounce.key);
    return true;
  }

  emitToOrg(org: string, event: WebhookEvent): void {
    for (const hooks of this.#byApp.values()) {
      if (hooks[0]?.org !== org) continue;
      for (const hook of hooks) if (hook.events.length === 0 || hook.events.includes(event.name)) this.#buffer(hook.id, event);
    }
  }

  #release(key: string, held: { org: string; appId: string; event: WebhookEvent; timer: NodeJS.Timeout }): void {
    clearTimeout(held.timer);
    this.#held.delete(key);
    this.#ordered(held.org, held.appId, held.event, null);
  }

  /**
   * Sends an event now, or once `decided` says whether it goes (a question to the other
   * nodes); an app's events behind an undecided one wait for it, so that they keep their order.
   */
  #ordered(org: string, appId: string, event: WebhookEvent, decided: Promise<boolean> | null): void {
    const key = `${org}/${appId}`;
    let waiting = this.#waiting.get(key);
    if (decided === null && !waiting) {
      this.#send(org, appId, event);
      return;
    }
    const entry: Waiting = { org, appId, event, send: decided === null ? true : null };
    if (!waiting) this.#waiting.set(key, (waiting = []));
    waiting.push(entry);
    if (decided === null) return;
    void decided
      .catch((err: unknown) => {
        // Unasked (the broker is away): sent, as a node alone would.
        this.#deps.onError(err, `could not ask the other nodes about ${event.name}; it is sent`);
        return true;
      })
      .then((send) => {
        entry.send = send;
        this.#drainWaiting(key);
      });
  }

  #drainWaiting(key: string): void {
    const waiting = this.#waiting.get(key);
    if (!waiting) return;
    while (waiting[0] !== undefined && waiting[0].send !== null) {
      const next = waiting.shift() as Waiting;
      if (next.send) this.#send(next.org, next.appId, next.event);
    }
    if (waiting.length === 0) this.#waiting.delete(key);
  }

  #send(org: string, appId: string, event: WebhookEvent): void {
    const hooks = this.#byApp.get(`${org}/${appId}`);
    if (!hooks) return;
    for (const hook of hooks) if (hook.events.length === 0 || hook.events.includes(event.name)) this.#buffer(hook.id, event);
  }

  // ---- the outbox ----

  #buffer(webhookId: string, event: WebhookEvent): void {
    if (this.#stopped) return;
    let buffer = this.#buffers.get(webhookId);
    if (!buffer) {
      buffer = { events: [], timer: setTimeout(() => this.#flush(webhookId), BATCH_WINDOW_MS) };
      this.#buffers.set(webhookId, buffer);
    }
    // A channel's count changes often; within one body only its latest value matters.
    if (event.name === 'subscription_count') {
      const at = buffer.events.findIndex((e) => e.name === 'subscription_count' && e['channel'] === event['channel']);
      if (at !== -1) {
        buffer.events[at] = event;
        return;
      }
    }
    buffer.events.push(event);
    if (buffer.events.length >= MAX_EVENTS_PER_BODY) this.#flush(webhookId);
  }

  /** The buffered events become a delivery: stored first, then attempted. */
  #flush(webhookId: string): void {
    const buffer = this.#buffers.get(webhookId);
    if (!buffer) return;
    this.#buffers.delete(webhookId);
    clearTimeout(buffer.timer);
    const now = this.#deps.clock.now();
    const delivery: WebhookDeliveryRecord = {
      id: `${ID_PREFIX.delivery}${ulid()}`,
      webhookId,
      body: JSON.stringify({ time_ms: now, events: buffer.events }),
      eventNames: buffer.events.map((e) => e.name),
      createdAt: now,
      status: 'pending',
      attempts: 0,
      nextAttemptAt: now,
      settledAt: null,
      // Claimed by the node that stores it, in the same write: its first attempt follows at once.
      claimedBy: this.#deps.nodeId,
      claimedUntil: now + CLAIM_MS,
    };
    this.#track(
      this.#deps.store
        .insertWebhookDeliveries([delivery])
        .then(() => this.#hold(delivery))
        .catch((err: unknown) => this.#deps.onError(err, 'could not store a webhook delivery')),
    );
  }

  /** A delivery this node claimed: attempted when due. */
  #hold(delivery: WebhookDeliveryRecord): void {
    if (this.#stopped || this.#claimed.has(delivery.id)) return;
    this.#claimed.set(delivery.id, delivery);
    this.#schedule(delivery);
  }

  /** A delivery this node no longer holds (settled, left to the poll until its next attempt, or its claim lost). */
  #forget(id: string): void {
    this.#claimed.delete(id);
    const timer = this.#timers.get(id);
    if (timer) clearTimeout(timer);
    this.#timers.delete(id);
    const queued = this.#due.findIndex((d) => d.id === id);
    if (queued !== -1) this.#due.splice(queued, 1);
  }

  /** Claims the deliveries due before the next poll that nobody holds: new ones a node gave up, retries left to the poll, a dead node's. */
  async #poll(): Promise<void> {
    if (this.#polling || this.#stopped) return;
    const room = MAX_CLAIMED - this.#claimed.size;
    if (room <= 0) return;
    this.#polling = true;
    try {
      const now = this.#deps.clock.now();
      const limit = Math.min(room, CLAIM_BATCH);
      const claimed = await this.#deps.store.claimWebhookDeliveries({ node: this.#deps.nodeId, now, dueBy: now + POLL_EVERY_MS, until: now + CLAIM_MS, limit });
      for (const delivery of claimed) this.#hold(delivery);
      this.#pollAgain = claimed.length === limit;
    } catch (err) {
      this.#deps.onError(err, 'could not claim webhook deliveries');
    } finally {
      this.#polling = false;
    }
    if (this.#pollAgain && !this.#stopped) setImmediate(() => this.#track(this.#poll()));
  }

  /** Extends this node's claims; a delivery whose claim lapsed and went to another node is dropped here. */
  async #renew(): Promise<void> {
    const held = [...this.#claimed];
    const now = this.#deps.clock.now();
    if (held.length === 0 || this.#stopped) {
      this.#renewedAt = now;
      return;
    }
    try {
      const kept = new Set(await this.#deps.store.renewWebhookClaims(this.#deps.nodeId, held.map(([id]) => id), now + CLAIM_MS));
      this.#renewedAt = now;
      // Only the very delivery asked about: one given up and claimed again meanwhile is held anew.
      for (const [id, delivery] of held) if (!kept.has(id) && this.#claimed.get(id) === delivery) this.#forget(id);
    } catch (err) {
      this.#deps.onError(err, 'could not renew the claims of webhook deliveries');
      // Unrenewed for so long that the claims have lapsed: another node may hold them by now, and the poll claims them again otherwise.
      if (now - this.#renewedAt >= CLAIM_MS) for (const [id] of held) this.#forget(id);
    }
  }

  #schedule(delivery: WebhookDeliveryRecord): void {
    if (this.#stopped) return;
    const wait = (delivery.nextAttemptAt ?? 0) - this.#deps.clock.now();
    if (wait <= 0) {
      this.#enqueue(delivery);
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(delivery.id);
      this.#enqueue(delivery);
    }, wait);
    timer.unref();
    this.#timers.set(delivery.id, timer);
  }

  #enqueue(delivery: WebhookDeliveryRecord): void {
    this.#due.push(delivery);
    this.#pump();
  }

  /** Starts due attempts while there are free slots, oldest first, skipping webhooks at their own limit. */
  #pump(): void {
    for (let i = 0; i < this.#due.length && this.#inFlightTotal < MAX_IN_FLIGHT; ) {
      const delivery = this.#due[i] as WebhookDeliveryRecord;
      if (!this.#byId.has(delivery.webhookId)) {
        // Removed (its deliveries went with it), or not read here yet: its claim lapses, and a node that knows it takes it.
        this.#due.splice(i, 1);
        this.#claimed.delete(delivery.id);
        continue;
      }
      const busy = this.#inFlight.get(delivery.webhookId) ?? 0;
      if (busy >= MAX_IN_FLIGHT_PER_WEBHOOK) {
        i++;
        continue;
      }
      this.#due.splice(i, 1);
      this.#inFlight.set(delivery.webhookId, busy + 1);
      this.#inFlightTotal++;
      this.#track(
        this.#attempt(delivery)
          .catch((err: unknown) => this.#deps.onError(err, 'a webhook attempt failed'))
          .finally(() => {
            this.#inFlightTotal--;
            this.#inFlight.set(delivery.webhookId, (this.#inFlight.get(delivery.webhookId) ?? 1) - 1);
            this.#pump();
          }),
      );
    }
  }

  async #attempt(delivery: WebhookDeliveryRecord): Promise<void> {
    const webhook = this.#byId.get(delivery.webhookId);
    if (this.#stopped) return;
    if (!webhook) {
      this.#claimed.delete(delivery.id);
      return;
    }
    const app = await this.#deps.apps.byId(webhook.org, webhook.appId);
    if (!app) {
      this.#claimed.delete(delivery.id);
      return;
    }
    const abort = new AbortController();
    this.#aborts.add(abort);
    const timeout = setTimeout(() => abort.abort(), this.#deps.timeoutMs);
    const started = this.#deps.clock.now();
    let statusCode: number | null = null;
    let error: string | null = null;
    try {
      const headers = {
        // pusher's webhook check wants exactly this content type.
        'content-type': 'application/json',
        'x-pusher-key': app.key,
        'x-pusher-signature': hmacHex(app.secret, delivery.body),
        'x-relay-delivery': delivery.id,
        'user-agent': this.#deps.userAgent,
      };
      statusCode = await this.#http.post(webhook.url, headers, delivery.body, abort.signal);
      if (statusCode < 200 || statusCode > 299) error = `answered ${statusCode}`;
    } catch (err) {
      error = abort.signal.aborted && !this.#stopped ? `no answer within ${formatDuration(this.#deps.timeoutMs)}` : describeError(err);
    } finally {
      clearTimeout(timeout);
      this.#aborts.delete(abort);
    }
    if (this.#stopped && statusCode === null) return; // cut by shutdown: not an attempt; it is retried after the restart
    const at = this.#deps.clock.now();
    const ok = error === null;
    this.#deps.usage.webhookAttempt(webhook.org, webhook.appId, ok);
    delivery.attempts++;
    const deadline = delivery.createdAt + this.#deps.retryForMs;
    if (ok) {
      delivery.status = 'delivered';
      delivery.nextAttemptAt = null;
      delivery.settledAt = at;
    } else if (at >= deadline) {
      delivery.status = 'failed';
      delivery.nextAttemptAt = null;
      delivery.settledAt = at;
    } else {
      delivery.nextAttemptAt = Math.min(deadline, at + backoffMs(delivery.attempts));
    }
    // A retry due before the next poll stays with this node; a later one is left to whichever node polls when it is due.
    const keep = delivery.status === 'pending' && (delivery.nextAttemptAt ?? at) <= at + POLL_EVERY_MS;
    delivery.claimedUntil = keep ? at + CLAIM_MS : null;
    webhook.lastAttemptAt = at;
    webhook.lastStatusCode = statusCode;
    webhook.lastError = error;
    webhook.failuresInRow = ok ? 0 : webhook.failuresInRow + 1;
    try {
      await this.#deps.store.recordWebhookAttempt({
        attempt: { deliveryId: delivery.id, at: started, statusCode, durationMs: at - started, error, node: this.#deps.nodeId },
        delivery,
        webhook,
      });
    } catch (err) {
      // Not recorded: the claim lapses, and the delivery is attempted again (at least once, as ever).
      this.#claimed.delete(delivery.id);
      throw err;
    }
    // Still ours unless a renewal found the claim taken meanwhile.
    if (keep && this.#claimed.has(delivery.id)) this.#schedule(delivery);
    else this.#claimed.delete(delivery.id);
  }

  #track(work: Promise<unknown>): void {
    this.#writes.add(work);
    void work.finally(() => this.#writes.delete(work));
  }

  /** Reads one app's endpoints (or all) from the store and makes the index match, after the reads queued before it. */
  #reindex(scope: { org: string; appId: string } | null): Promise<void> {
    const next = this.#indexing.then(async () => {
      const fresh = await this.#deps.store.listWebhooks(scope);
      const apps = new Set(scope ? [`${scope.org}/${scope.appId}`] : this.#byApp.keys());
      const ids = new Set(fresh.map((w) => w.id));
      for (const key of apps) for (const record of [...(this.#byApp.get(key) ?? [])]) if (!ids.has(record.id)) this.#unindex(record);
      // A webhook already known keeps its object: it holds the outcome of attempts in flight.
      for (const record of fresh) if (!this.#byId.has(record.id)) this.#index(record);
    });
    this.#indexing = next.catch(() => undefined);
    return next;
  }

  #index(record: WebhookRecord): void {
    const key = `${record.org}/${record.appId}`;
    this.#byApp.set(key, [...(this.#byApp.get(key) ?? []), record]);
    this.#byId.set(record.id, record);
  }

  /** The webhook leaves memory; its buffered events go with it, and its deliveries stop. */
  #unindex(record: WebhookRecord): void {
    const key = `${record.org}/${record.appId}`;
    const rest = (this.#byApp.get(key) ?? []).filter((w) => w.id !== record.id);
    if (rest.length === 0) this.#byApp.delete(key);
    else this.#byApp.set(key, rest);
    this.#byId.delete(record.id);
    const buffer = this.#buffers.get(record.id);
    if (buffer) clearTimeout(buffer.timer);
    this.#buffers.delete(record.id);
  }

  async #require(id: string, owner?: { org: string; appId: string }): Promise<WebhookRecord> {
    const record = await this.#deps.store.getWebhook(id);
    if (!record || (owner && (record.org !== owner.org || record.appId !== owner.appId))) {
      throw new RelayError('not_found', `webhook ${id} not found`, { hint: 'list them with `relay webhooks list --app ID`' });
    }
    return record;
  }
}

/** A refused address says why; a socket error by its code (ECONNREFUSED, ENOTFOUND, ...), as the delivery log always has. */
function describeError(err: unknown): string {
  if (err instanceof AddressNotAllowed) return err.message;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return `could not connect: ${code}`;
  return err instanceof Error ? err.message : String(err);
}
