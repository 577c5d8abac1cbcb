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
    attempts: attempts.map((a) => ({ at: new Date(a.at).toISOString(), statusCode: a.statusCode, durationMs: a.durationMs, error: a.error })),
  };
}

/** The channels named in a stored body (the exact bytes sent), each once, in order. */
function channelsOf(body: string): string[] {
  const { events } = JSON.parse(body) as { events: { channel?: unknown }[] };
  return [...new Set(events.flatMap((e) => (typeof e.channel === 'string' ? [e.channel] : [])))];
}

/**
 * Webhooks: the endpoints of each app, and a durable outbox. Events are batched for a short
 * window into one Pusher-format body, stored as a delivery, then POSTed signed as Pusher
 * signs them. No 2xx within the timeout is retried with backoff until `retryForMs` has
 * passed; pending deliveries are picked up again after a restart; every attempt is logged.
 * Nothing here is awaited by the code that raises events, so a slow or dead endpoint
 * cannot slow the relay or the channels.
 */
export class WebhookService implements WebhookSink {
  readonly #deps: WebhooksDeps;
  readonly #http: WebhookHttp;
  readonly #byApp = new Map<string, WebhookRecord[]>();
  readonly #byId = new Map<string, WebhookRecord>();
  readonly #buffers = new Map<string, { events: WebhookEvent[]; timer: NodeJS.Timeout }>();
  /** channel_vacated and member_removed events being held back, by what would cancel them. */
  readonly #held = new Map<string, { org: string; appId: string; event: WebhookEvent; timer: NodeJS.Timeout }>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #due: WebhookDeliveryRecord[] = [];
  readonly #inFlight = new Map<string, number>();
  readonly #aborts = new Set<AbortController>();
  readonly #writes = new Set<Promise<unknown>>();
  /** Changes to the index of endpoints, one after the other, so that a later read of the store is applied later. */
  #indexing: Promise<void> = Promise.resolve();
  #refreshTimer: NodeJS.Timeout | null = null;
  #inFlightTotal = 0;
  #stopped = false;

  constructor(deps: WebhooksDeps) {
    this.#deps = deps;
    this.#http = new WebhookHttp({ allowPrivate: deps.allowPrivate });
  }

  async start(): Promise<void> {
    await this.#reindex(null);
    for (const delivery of await this.#deps.store.listPendingWebhookDeliveries()) this.#schedule(delivery);
    // The backstop of the webhooksChanged messages: a node that missed one reads every endpoint again.
    this.#refreshTimer = setInterval(() => void this.#reindex(null).catch((err: unknown) => this.#deps.onError(err, 'could not read the webhooks again')), CACHE_TTL_MS);
    this.#refreshTimer.unref();
  }

  /** Buffered events are stored (they go out after the restart); attempts in flight are cut and retried then. */
  async stop(): Promise<void> {
    if (this.#refreshTimer) clearInterval(this.#refreshTimer);
    for (const [key, held] of this.#held) this.#release(key, held);
    for (const id of [...this.#buffers.keys()]) this.#flush(id);
    this.#stopped = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    for (const abort of this.#aborts) abort.abort();
    await Promise.allSettled([...this.#writes]);
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
      this.#send(org, appId, event);
    } else if (debounce.holds) {
      const earlier = this.#held.get(debounce.key);
      if (earlier) clearTimeout(earlier.timer);
      const held = { org, appId, event, timer: setTimeout(() => this.#release(debounce.key, held), this.#deps.debounceMs) };
      this.#held.set(debounce.key, held);
    } else {
      const held = this.#held.get(debounce.key);
      if (!held) this.#send(org, appId, event);
      else {
        clearTimeout(held.timer);
        this.#held.delete(debounce.key);
      }
    }
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
    this.#send(held.org, held.appId, held.event);
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
    };
    this.#track(
      this.#deps.store
        .insertWebhookDeliveries([delivery])
        .then(() => this.#schedule(delivery))
        .catch((err: unknown) => this.#deps.onError(err, 'could not store a webhook delivery')),
    );
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
        this.#due.splice(i, 1);
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
    if (!webhook || this.#stopped) return;
    const app = await this.#deps.apps.byId(webhook.org, webhook.appId);
    if (!app) return;
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
    webhook.lastAttemptAt = at;
    webhook.lastStatusCode = statusCode;
    webhook.lastError = error;
    webhook.failuresInRow = ok ? 0 : webhook.failuresInRow + 1;
    await this.#deps.store.recordWebhookAttempt({
      attempt: { deliveryId: delivery.id, at: started, statusCode, durationMs: at - started, error },
      delivery,
      webhook,
    });
    if (delivery.status === 'pending') this.#schedule(delivery);
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
