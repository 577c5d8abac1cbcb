import { monotonicFactory } from 'ulid';
import type { ChannelRule, ChannelRuleTest, EffectiveChannelSettings } from '../../src/shared/api.js';
import { RelayError } from '../../src/shared/errors.js';
import { ID_PREFIX } from '../../src/shared/ids.js';
import type { CreateChannelRuleBody, UpdateChannelRuleBody } from '../../src/shared/schemas.js';
import type { ChannelRulePatch, ChannelRuleRecord, Store } from '../store/store.js';
import { auditRecord, type Actor } from './audit.js';
import type { Clock } from './clock.js';
import { CACHE_TTL_MS } from './control.js';
import type { ChannelApp } from './pusher-auth.js';

export type { ChannelRule } from '../../src/shared/api.js';

const ulid = monotonicFactory();

/** Which rule applies to a channel, and why (for logs, refusals and `rules test`). */
export interface Resolved {
  rule: ChannelRule | null;
  reason: string;
}

export interface ChannelRulesDeps {
  store: Store;
  clock: Clock;
  /** The app as the channel side knows it: what a rule's null settings inherit. */
  app(org: string, appId: string): Promise<ChannelApp | null>;
  /** The daemon's --history-retention: what a null retention inherits. */
  defaultRetentionMs: number;
  /** Tells every node (this one included) to drop its copy of the app's rules (the control bus's channelRulesChanged). */
  rulesChanged(org: string, appId: string): Promise<void>;
  /** Whether the app has an event schema of this name: a rule may bind only one that exists. */
  schemaExists(org: string, appId: string, name: string): Promise<boolean>;
}

/** An app's rules, most specific first: exact names, then prefixes longest first. */
interface Cached {
  rules: Promise<ChannelRule[]>;
  until: number;
}

const isPrefix = (pattern: string): boolean => pattern.endsWith('*');
const prefixOf = (pattern: string): string => pattern.slice(0, -1);

export function toChannelRule(r: ChannelRuleRecord): ChannelRule {
  return {
    id: r.id,
    appId: r.appId,
    pattern: r.pattern,
    schema: r.schema,
    schemaEvent: r.schemaEvent,
    clientEvents: r.clientEvents,
    history: r.history,
    retentionMs: r.retentionMs,
    maxMembers: r.maxMembers,
    createdAt: new Date(r.createdAt).toISOString(),
    updatedAt: new Date(r.updatedAt).toISOString(),
  };
}

/** Exact patterns first, then prefixes by length, longest first: the first that matches wins. */
function bySpecificity(a: ChannelRule, b: ChannelRule): number {
  const ap = isPrefix(a.pattern);
  const bp = isPrefix(b.pattern);
  if (ap !== bp) return ap ? 1 : -1;
  return b.pattern.length - a.pattern.length;
}

function matches(pattern: string, channel: string): boolean {
  return isPrefix(pattern) ? channel.startsWith(prefixOf(pattern)) : channel === pattern;
}

function why(rule: ChannelRule, channel: string): string {
  if (isPrefix(rule.pattern)) {
    if (rule.pattern === '*') return `"*" matches every channel`;
    return matches(rule.pattern, channel) ? `"${channel}" starts with "${prefixOf(rule.pattern)}"` : `"${channel}" does not start with "${prefixOf(rule.pattern)}"`;
  }
  return matches(rule.pattern, channel) ? `exact match of "${channel}"` : `an exact pattern for another channel`;
}

function reasonFor(winner: ChannelRule | null, matching: number, channel: string): string {
  if (!winner) return `no rule matches "${channel}"; the app's settings apply`;
  if (!isPrefix(winner.pattern)) return `rule ${winner.id} names "${channel}" exactly; an exact match beats any prefix`;
  const others = matching - 1;
  const base = winner.pattern === '*' ? `rule ${winner.id} ("*") matches every channel` : `rule ${winner.id} matches the prefix "${prefixOf(winner.pattern)}"`;
  return others === 0 ? `${base}, the only rule that matches` : `${base}, the longest of ${matching} matching prefixes`;
}

/**
 * Channel rules: settings for the channels whose names match a pattern (Ably's channel
 * rules, "namespaces"). The most specific rule wins: an exact name beats any prefix, a longer
 * prefix a shorter one; a setting the rule leaves null inherits the app's.
 *
 * Publishes and subscriptions ask `resolve` for every channel they touch, so an app's rules
 * are kept in memory: read once, dropped on every node by a channelRulesChanged control
 * message when one changes, and read again after CACHE_TTL_MS in case a node missed one.
 */
export class ChannelRules {
  readonly #deps: ChannelRulesDeps;
  readonly #cache = new Map<string, Cached>();

  constructor(deps: ChannelRulesDeps) {
    this.#deps = deps;
  }

  async add(actor: Actor, org: string, appId: string, body: CreateChannelRuleBody): Promise<ChannelRule> {
    const { store, clock } = this.#deps;
    await this.#requireApp(org, appId);
    const now = clock.now();
    const record: ChannelRuleRecord = {
      id: `${ID_PREFIX.channelRule}${ulid(now)}`,
      org,
      appId,
      pattern: body.pattern,
      schema: body.schema ?? null,
      schemaEvent: body.schemaEvent ?? null,
      clientEvents: body.clientEvents ?? null,
      history: body.history ?? null,
      retentionMs: body.retentionMs ?? null,
      maxMembers: body.maxMembers ?? null,
      createdAt: now,
      updatedAt: now,
    };
    checkSchemaEvent(record);
    await this.#requireSchema(org, appId, record.schema);
    const details = { ruleId: record.id, ...Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)) };
    await store.insertChannelRule(record, auditRecord(clock, actor, 'channel_rule.add', { org, type: 'app', id: appId }, details));
    await this.#deps.rulesChanged(org, appId);
    return toChannelRule(record);
  }

  /** An app's rules, oldest first. */
  async list(org: string, appId: string): Promise<ChannelRule[]> {
    await this.#requireApp(org, appId);
    return (await this.#deps.store.listChannelRules(org, appId)).map(toChannelRule);
  }

  /** `owner` limits it to one app's rules (the public API): an unknown or foreign id is not_found. */
  async show(id: string, owner?: { org: string; appId: string }): Promise<ChannelRule> {
    return toChannelRule(await this.#require(id, owner));
  }

  async update(actor: Actor, id: string, body: UpdateChannelRuleBody, owner?: { org: string; appId: string }): Promise<ChannelRule> {
    const { store, clock } = this.#deps;
    const before = await this.#require(id, owner);
    const patch: ChannelRulePatch = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
    checkSchemaEvent({ ...before, ...patch });
    if (patch.schema !== undefined) await this.#requireSchema(before.org, before.appId, patch.schema);
    const audit = auditRecord(clock, actor, 'channel_rule.update', { org: before.org, type: 'app', id: before.appId }, { ruleId: id, ...patch });
    const after = await store.updateChannelRule(id, patch, clock.now(), audit);
    if (!after) throw notFound(id);
    await this.#deps.rulesChanged(after.org, after.appId);
    return toChannelRule(after);
  }

  async remove(actor: Actor, id: string, owner?: { org: string; appId: string }): Promise<ChannelRule> {
    const { store, clock } = this.#deps;
    const rule = await this.#require(id, owner);
    const removed = await store.deleteChannelRule(id, auditRecord(clock, actor, 'channel_rule.remove', { org: rule.org, type: 'app', id: rule.appId }, { ruleId: id, pattern: rule.pattern }));
    if (!removed) throw notFound(id);
    await this.#deps.rulesChanged(rule.org, rule.appId);
    return toChannelRule(removed);
  }

  /** The rule that applies to `channel`: a map read per call while the app's rules are cached. */
  async resolve(org: string, appId: string, channel: string): Promise<Resolved> {
    const rules = await this.#rules(org, appId);
    if (rules.length === 0) return { rule: null, reason: reasonFor(null, 0, channel) };
    let winner: ChannelRule | null = null;
    let matching = 0;
    for (const rule of rules) {
      if (!matches(rule.pattern, channel)) continue;
      winner ??= rule;
      if (!isPrefix(rule.pattern)) return { rule, reason: reasonFor(rule, 1, channel) };
      matching++;
    }
    return { rule: winner, reason: reasonFor(winner, matching, channel) };
  }

  /** `relay channels rules test`: every rule considered and why it did or did not win, and the settings the channel gets. */
  async explain(org: string, appId: string, channel: string): Promise<ChannelRuleTest> {
    const app = await this.#requireApp(org, appId);
    const rules = await this.#rules(org, appId);
    const { rule, reason } = await this.resolve(org, appId, channel);
    const considered = rules.map((r) => {
      const hit = matches(r.pattern, channel);
      let text = why(r, channel);
      if (hit && rule && r.id !== rule.id) text += `, but ${isPrefix(rule.pattern) ? `the longer prefix "${rule.pattern}"` : `the exact rule "${rule.pattern}"`} wins`;
      else if (hit) text += ': it applies';
      return { ruleId: r.id, pattern: r.pattern, matches: hit, why: text };
    });
    return { channel, rule, reason, considered, effective: this.effective(rule, app) };
  }

  /** A channel's settings: the rule's where it sets them, the app's (or relayd's) where it leaves them null. */
  effective(rule: ChannelRule | null, app: ChannelApp): EffectiveChannelSettings {
    return {
      schema: rule?.schema ?? null,
      schemaEvent: rule?.schemaEvent ?? null,
      clientEvents: rule?.clientEvents ?? app.clientEvents,
      history: rule?.history ?? true,
      retentionMs: rule?.retentionMs ?? this.#deps.defaultRetentionMs,
      maxMembers: rule?.maxMembers ?? app.limits.maxPresenceMembers,
    };
  }

  get defaultRetentionMs(): number {
    return this.#deps.defaultRetentionMs;
  }

  /** The channelRulesChanged control message, on this node. */
  invalidate(org: string, appId: string): void {
    this.#cache.delete(`${org}/${appId}`);
  }

  /** Back from a broker outage: this node may have missed channelRulesChanged messages. */
  dropAll(): void {
    this.#cache.clear();
  }

  #rules(org: string, appId: string): Promise<ChannelRule[]> {
    const key = `${org}/${appId}`;
    const now = this.#deps.clock.now();
    const cached = this.#cache.get(key);
    if (cached && cached.until > now) return cached.rules;
    const rules = this.#deps.store.listChannelRules(org, appId).then((records) => records.map(toChannelRule).sort(bySpecificity));
    const entry: Cached = { rules, until: now + CACHE_TTL_MS };
    this.#cache.set(key, entry);
    // A failed read is not kept: the next call tries again.
    rules.catch(() => {
      if (this.#cache.get(key) === entry) this.#cache.delete(key);
    });
    return rules;
  }

  async #requireApp(org: string, appId: string): Promise<ChannelApp> {
    const app = await this.#deps.app(org, appId);
    if (!app) throw new RelayError('not_found', `app "${appId}" not found in organization "${org}"`);
    return app;
  }

  async #requireSchema(org: string, appId: string, name: string | null): Promise<void> {
    if (name === null || (await this.#deps.schemaExists(org, appId, name))) return;
    throw new RelayError('not_found', `app "${appId}" has no event schema "${name}"`, { hint: `add it first: relay schemas add --app ${appId} --name ${name} --file SCHEMA.json` });
  }

  async #require(id: string, owner?: { org: string; appId: string }): Promise<ChannelRuleRecord> {
    const record = await this.#deps.store.getChannelRule(id);
    if (!record || (owner && (record.org !== owner.org || record.appId !== owner.appId))) throw notFound(id);
    return record;
  }
}

const notFound = (id: string): RelayError => new RelayError('not_found', `channel rule ${id} not found`, { hint: 'list them with `relay channels rules list --app ID`' });

/** An event name for the schema says which events the schema checks: without a schema it would say nothing. */
function checkSchemaEvent(rule: Pick<ChannelRuleRecord, 'schema' | 'schemaEvent'>): void {
  if (rule.schemaEvent !== null && rule.schema === null) {
    throw new RelayError('invalid_request', 'a schema event needs a schema: give --schema NAME with --schema-event (or clear both)');
  }
}
