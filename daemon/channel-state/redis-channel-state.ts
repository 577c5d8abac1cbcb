import type { ChainableCommander, Redis } from 'ioredis';
import { connectRedis, quitRedis, redisUnavailable, watchRedis, type RedisTarget } from '../broker/redis-connection.js';
import type { AppRef, CachedEvent, ChannelCounts, ChannelState, DroppedShare, JoinResult, LeaveResult, MemberJoin, Members } from './channel-state.js';

/*
 * Keys, under the installation's prefix P (org and app ids are slugs, channel names have no `:`):
 *   P cs:ch:ORG:APP:NAME:n        hash  node id → the node's subscriptions to the channel
 *   P cs:ch:ORG:APP:NAME:m        hash  user id → user_info as JSON ('' when none): the members
 *   P cs:ch:ORG:APP:NAME:u        hash  user id → the user's sockets in the channel on every node
 *   P cs:ch:ORG:APP:NAME:un:NODE  hash  user id → the user's sockets in the channel on that node
 *   P cs:ch:ORG:APP:NAME:cw       string, PX: the subscription-count window
 *   P cs:app:ORG:APP:ch           set   occupied channel names
 *   P cs:app:ORG:APP:s            hash  node id → the node's channel connections of the app
 *   P cs:node:NODE:ch             set   ORG:APP:NAME of the channels the node has a share of
 *   P cs:node:NODE:apps           set   ORG:APP of the apps the node has connections of
 *   P cs:cache:ORG:APP:NAME       string, PX: a cache channel's last event, JSON [event, data]
 *   P cs:miss:ORG:APP:NAME        string, PX: its cache miss was reported
 * Every script names its keys (KEYS), so each runs as one atomic step.
 */

/** The sum of a hash's values (per-node counts): the cluster's count. */
const SUM = `
local function sum(key)
  local total = 0
  for _, v in ipairs(redis.call('HVALS', key)) do total = total + tonumber(v) end
  return total
end
`;

/** KEYS n m u un appch nodech; ARGV node name id user info maxMembers → {-1} (full) or {count, occupied, added, member id, info, ...}. */
const JOIN = `${SUM}
local user = ARGV[4]
if user ~= '' and redis.call('HEXISTS', KEYS[3], user) == 0 and redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[6]) then return {-1} end
if redis.call('HINCRBY', KEYS[1], ARGV[1], 1) == 1 then redis.call('SADD', KEYS[6], ARGV[3]) end
local total = sum(KEYS[1])
local occupied = 0
if total == 1 then
  redis.call('SADD', KEYS[5], ARGV[2])
  occupied = 1
end
local out = {total, occupied, 0}
if user ~= '' then
  redis.call('HINCRBY', KEYS[4], user, 1)
  if redis.call('HINCRBY', KEYS[3], user, 1) == 1 then
    redis.call('HSET', KEYS[2], user, ARGV[5])
    out[3] = 1
  end
  for _, v in ipairs(redis.call('HGETALL', KEYS[2])) do out[#out + 1] = v end
end
return out
`;

/** KEYS n m u un appch nodech; ARGV node name id user → {count, vacated, removed}; a leave without its join changes nothing. */
const LEAVE = `${SUM}
local mine = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if mine <= 0 then return {sum(KEYS[1]), 0, 0} end
if mine == 1 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('SREM', KEYS[6], ARGV[3])
else
  redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
end
local total = sum(KEYS[1])
local vacated = 0
if total == 0 then
  redis.call('SREM', KEYS[5], ARGV[2])
  vacated = 1
end
local removed = 0
local user = ARGV[4]
if user ~= '' then
  local here = tonumber(redis.call('HGET', KEYS[4], user) or '0')
  if here > 0 then
    if here == 1 then redis.call('HDEL', KEYS[4], user) else redis.call('HINCRBY', KEYS[4], user, -1) end
    if redis.call('HINCRBY', KEYS[3], user, -1) <= 0 then
      redis.call('HDEL', KEYS[3], user)
      redis.call('HDEL', KEYS[2], user)
      removed = 1
    end
  end
end
return {total, vacated, removed}
`;

/** KEYS n m u un(dead node) appch nodech(dead node); ARGV node name id → {count, vacated, {removed user ids}, the node's subscriptions}. */
const DROP = `${SUM}
local mine = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[6], ARGV[3])
local total = sum(KEYS[1])
local vacated = 0
if mine > 0 and total == 0 then
  redis.call('SREM', KEYS[5], ARGV[2])
  vacated = 1
end
local removed = {}
local here = redis.call('HGETALL', KEYS[4])
for i = 1, #here, 2 do
  if redis.call('HINCRBY', KEYS[3], here[i], -tonumber(here[i + 1])) <= 0 then
    redis.call('HDEL', KEYS[3], here[i])
    redis.call('HDEL', KEYS[2], here[i])
    removed[#removed + 1] = here[i]
  end
end
redis.call('DEL', KEYS[4])
return {total, vacated, removed, mine}
`;

/** KEYS s nodeapps; ARGV node max('' for none) app → 1 opened, 0 at the limit. */
const OPEN_SESSION = `${SUM}
if ARGV[2] ~= '' and sum(KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('SADD', KEYS[2], ARGV[3])
return 1
`;

/** KEYS s; ARGV node. */
const CLOSE_SESSION = `
local mine = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if mine <= 1 then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HINCRBY', KEYS[1], ARGV[1], -1) end
return 0
`;

/** KEYS cw; ARGV windowMs force → 0 (send now) or the ms left. */
const CLAIM_COUNT = `
if ARGV[2] == '1' then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
  return 0
end
if redis.call('SET', KEYS[1], '1', 'PX', ARGV[1], 'NX') then return 0 end
local left = redis.call('PTTL', KEYS[1])
if left <= 0 then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
  return 0
end
return left
`;

/** KEYS cache → nil or {value, ms left}. */
const CACHE_GET = `
local value = redis.call('GET', KEYS[1])
if not value then return nil end
return {value, redis.call('PTTL', KEYS[1])}
`;

/** The scripts, as ioredis's defineCommand adds them to the client (its types cannot know of them). */
interface Scripts {
  relayJoin(n: string, m: string, u: string, un: string, appch: string, nodech: string, node: string, name: string, id: string, user: string, info: string, max: number): Promise<Array<number | string>>;
  relayLeave(n: string, m: string, u: string, un: string, appch: string, nodech: string, node: string, name: string, id: string, user: string): Promise<[number, number, number]>;
  relayDrop(n: string, m: string, u: string, un: string, appch: string, nodech: string, node: string, name: string, id: string): Promise<[number, number, string[], number]>;
  relayOpenSession(s: string, nodeapps: string, node: string, max: string, app: string): Promise<number>;
  relayCloseSession(s: string, node: string): Promise<number>;
  relayClaimCount(cw: string, windowMs: number, force: string): Promise<number>;
  relayCacheGet(cache: string): Promise<[string, number] | null>;
}

const SCRIPTS: Record<keyof Scripts, { numberOfKeys: number; lua: string }> = {
  relayJoin: { numberOfKeys: 6, lua: JOIN },
  relayLeave: { numberOfKeys: 6, lua: LEAVE },
  relayDrop: { numberOfKeys: 6, lua: DROP },
  relayOpenSession: { numberOfKeys: 2, lua: OPEN_SESSION },
  relayCloseSession: { numberOfKeys: 1, lua: CLOSE_SESSION },
  relayClaimCount: { numberOfKeys: 1, lua: CLAIM_COUNT },
  relayCacheGet: { numberOfKeys: 1, lua: CACHE_GET },
};

const id = (app: AppRef, name: string): string => `${app.org}:${app.appId}:${name}`;

/** user_info as kept: '' for none, JSON otherwise. */
const infoOut = (kept: string): unknown => (kept === '' ? null : (JSON.parse(kept) as unknown));

function membersOf(flat: Array<number | string>, from: number): Members {
  const members: Members = {};
  for (let i = from; i + 1 < flat.length; i += 2) members[String(flat[i])] = infoOut(String(flat[i + 1]));
  return members;
}

const total = (values: string[]): number => values.reduce((sum, v) => sum + Number(v), 0);

/**
 * The channel state of several nodes in Redis: counts and members kept per node (so that a
 * dead node's share can be dropped), changed by Lua scripts that also decide, atomically,
 * which call crossed 0→1 or 1→0. One connection of its own, with the broker's settings: a
 * command fails at once (RelayError 'unavailable') while Redis is unreachable.
 */
export class RedisChannelState implements ChannelState {
  readonly #redis: Redis & Scripts;
  readonly #target: RedisTarget;
  readonly #nodeId: string;
  readonly #p: string;
  /** Why the connection is down, for the 503's message (the broker logs the outage itself). */
  #lastError: Error | null = null;

  static async connect(target: RedisTarget, nodeId: string): Promise<RedisChannelState> {
    const redis = await connectRedis(target, 'channel-state', 'channel state');
    for (const [name, script] of Object.entries(SCRIPTS)) redis.defineCommand(name, script);
    return new RedisChannelState(redis as Redis & Scripts, target, nodeId);
  }

  private constructor(redis: Redis & Scripts, target: RedisTarget, nodeId: string) {
    this.#redis = redis;
    this.#target = target;
    this.#nodeId = nodeId;
    this.#p = `${target.prefix}cs:`;
    watchRedis(redis, (ready, err) => {
      this.#lastError = ready ? null : (err ?? this.#lastError);
    });
  }

  async join(app: AppRef, name: string, member: MemberJoin | null): Promise<JoinResult> {
    const k = this.#channelKeys(app, name, this.#nodeId);
    const info = member === null || member.info === undefined ? '' : JSON.stringify(member.info);
    const out = await this.#run(this.#redis.relayJoin(k.n, k.m, k.u, k.un, k.appch, k.nodech, this.#nodeId, name, id(app, name), member?.userId ?? '', info, member?.maxMembers ?? 0));
    if (Number(out[0]) < 0) return { full: true };
    return { full: false, count: Number(out[0]), occupied: out[1] === 1, memberAdded: out[2] === 1, members: member ? membersOf(out, 3) : null };
  }

  async leave(app: AppRef, name: string, userId: string | null): Promise<LeaveResult> {
    const k = this.#channelKeys(app, name, this.#nodeId);
    const [count, vacated, removed] = await this.#run(this.#redis.relayLeave(k.n, k.m, k.u, k.un, k.appch, k.nodech, this.#nodeId, name, id(app, name), userId ?? ''));
    return { count, vacated: vacated === 1, memberRemoved: removed === 1 };
  }

  async members(app: AppRef, name: string): Promise<Members> {
    const kept = await this.#run(this.#redis.hgetall(this.#channelKeys(app, name, this.#nodeId).m));
    const members: Members = {};
    for (const [user, info] of Object.entries(kept)) members[user] = infoOut(info);
    return members;
  }

  async counts(app: AppRef, name: string): Promise<ChannelCounts | null> {
    const k = this.#channelKeys(app, name, this.#nodeId);
    const [counts] = await this.#countsOf([k.n, k.m]);
    return counts ?? null;
  }

  async occupied(app: AppRef, prefix?: string): Promise<Array<ChannelCounts & { name: string }>> {
    const names = (await this.#run(this.#redis.smembers(this.#appKey(app, 'ch'))))
      .filter((name) => prefix === undefined || name.startsWith(prefix))
      .sort();
    if (names.length === 0) return [];
    const keys = names.flatMap((name) => {
      const k = this.#channelKeys(app, name, this.#nodeId);
      return [k.n, k.m];
    });
    const counts = await this.#countsOf(keys);
    const out: Array<ChannelCounts & { name: string }> = [];
    names.forEach((name, i) => {
      const c = counts[i];
      if (c) out.push({ name, ...c });
    });
    return out;
  }

  async openSession(app: AppRef, max: number | null): Promise<boolean> {
    const opened = await this.#run(this.#redis.relayOpenSession(this.#appKey(app, 's'), this.#nodeKey(this.#nodeId, 'apps'), this.#nodeId, max === null ? '' : String(max), `${app.org}:${app.appId}`));
    return opened === 1;
  }

  async closeSession(app: AppRef): Promise<void> {
    await this.#run(this.#redis.relayCloseSession(this.#appKey(app, 's'), this.#nodeId));
  }

  async cacheSet(app: AppRef, name: string, event: CachedEvent, ttlMs: number): Promise<void> {
    await this.#exec(
      this.#redis
        .multi()
        .set(`${this.#p}cache:${id(app, name)}`, JSON.stringify([event.event, event.data]), 'PX', ttlMs)
        .del(`${this.#p}miss:${id(app, name)}`),
    );
  }

  async cacheGet(app: AppRef, name: string): Promise<(CachedEvent & { ttlMs: number }) | null> {
    const got = await this.#run(this.#redis.relayCacheGet(`${this.#p}cache:${id(app, name)}`));
    if (!got || got[1] <= 0) return null;
    const [event, data] = JSON.parse(got[0]) as [string, string];
    return { event, data, ttlMs: got[1] };
  }

  async claimCacheMiss(app: AppRef, name: string, ttlMs: number): Promise<boolean> {
    return (await this.#run(this.#redis.set(`${this.#p}miss:${id(app, name)}`, '1', 'PX', ttlMs, 'NX'))) === 'OK';
  }

  async claimCountSend(app: AppRef, name: string, windowMs: number, force: boolean): Promise<number> {
    return this.#run(this.#redis.relayClaimCount(`${this.#p}ch:${id(app, name)}:cw`, windowMs, force ? '1' : '0'));
  }

  async dropNode(nodeId: string): Promise<DroppedShare[]> {
    const dropped: DroppedShare[] = [];
    const channels = this.#nodeKey(nodeId, 'ch');
    for (const channel of await this.#run(this.#redis.smembers(channels))) {
      const [org, appId, name] = splitId(channel);
      const app = { org, appId };
      const k = this.#channelKeys(app, name, nodeId);
      const [count, vacated, removed, had] = await this.#run(this.#redis.relayDrop(k.n, k.m, k.u, k.un, k.appch, k.nodech, nodeId, name, channel));
      if (had > 0 || removed.length > 0) dropped.push({ org, appId, channel: name, count, vacated: vacated === 1, membersRemoved: removed });
    }
    const apps = this.#nodeKey(nodeId, 'apps');
    for (const app of await this.#run(this.#redis.smembers(apps))) {
      const [org, appId] = app.split(':') as [string, string];
      await this.#run(this.#redis.hdel(this.#appKey({ org, appId }, 's'), nodeId));
    }
    await this.#run(this.#redis.del(channels, apps));
    return dropped;
  }

  async close(): Promise<void> {
    await quitRedis(this.#redis);
  }

  #channelKeys(app: AppRef, name: string, nodeId: string): { n: string; m: string; u: string; un: string; appch: string; nodech: string } {
    const base = `${this.#p}ch:${id(app, name)}`;
    return { n: `${base}:n`, m: `${base}:m`, u: `${base}:u`, un: `${base}:un:${nodeId}`, appch: this.#appKey(app, 'ch'), nodech: this.#nodeKey(nodeId, 'ch') };
  }

  #appKey(app: AppRef, what: 'ch' | 's'): string {
    return `${this.#p}app:${app.org}:${app.appId}:${what}`;
  }

  #nodeKey(nodeId: string, what: 'ch' | 'apps'): string {
    return `${this.#p}node:${nodeId}:${what}`;
  }

  /** Counts of channels given as pairs of keys (n, m), in one round trip; null where no node has a subscriber. */
  async #countsOf(keys: string[]): Promise<Array<ChannelCounts | null>> {
    const pipeline = this.#redis.pipeline();
    for (let i = 0; i < keys.length; i += 2) pipeline.hvals(keys[i] as string).hlen(keys[i + 1] as string);
    const results = await this.#exec(pipeline);
    const out: Array<ChannelCounts | null> = [];
    for (let i = 0; i < results.length; i += 2) {
      const subscriptionCount = total(results[i] as string[]);
      out.push(subscriptionCount > 0 ? { subscriptionCount, userCount: results[i + 1] as number } : null);
    }
    return out;
  }

  async #run<T>(command: Promise<T>): Promise<T> {
    try {
      return await command;
    } catch (err) {
      throw redisUnavailable('channel state', this.#target, err, this.#lastError);
    }
  }

  /** A pipeline or transaction's replies, failing as a whole on the first error. */
  async #exec(commands: ChainableCommander): Promise<unknown[]> {
    const replies = await this.#run(commands.exec());
    if (!replies) throw redisUnavailable('channel state', this.#target, new Error('transaction discarded'), this.#lastError);
    return replies.map(([err, reply]) => {
      if (err) throw redisUnavailable('channel state', this.#target, err, this.#lastError);
      return reply;
    });
  }
}

/** ORG:APP:NAME: org and app ids are slugs and channel names have no `:`. */
function splitId(channel: string): [string, string, string] {
  const first = channel.indexOf(':');
  const second = channel.indexOf(':', first + 1);
  return [channel.slice(0, first), channel.slice(first + 1, second), channel.slice(second + 1)];
}
