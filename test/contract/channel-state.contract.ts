import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppRef, ChannelState } from '../../daemon/channel-state/channel-state.js';

export interface ChannelStateContractOptions {
  /** A driver instance as the node with this id would have it (for Redis: a new connection on the same prefix). */
  newNode: (nodeId: string) => Promise<ChannelState>;
  /** Lets `ms` pass for the driver's expiries (a test clock for memory, real time for Redis). */
  elapse: (ms: number) => Promise<void>;
  /** Whether separate instances share state (every driver but memory). */
  crossNode: boolean;
}

/** Each test on apps and channels of its own, so that drivers sharing a prefix across tests see nothing of the others. */
const fresh = (what: string): string => `${what}-${randomBytes(4).toString('hex')}`;
const newApp = (): AppRef => ({ org: fresh('org'), appId: fresh('app') });
const member = (userId: string, info: unknown = undefined, maxMembers = 100) => ({ userId, info, maxMembers });

/**
 * The ChannelState contract, run against every driver: one node's bookkeeping for all of
 * them, and for drivers shared between nodes, what two nodes see of each other.
 */
export function describeChannelState(name: string, { newNode, elapse, crossNode }: ChannelStateContractOptions): void {
  describe(`ChannelState contract: ${name}`, () => {
    const open: ChannelState[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((node) => node.close()));
    });
    async function node(id = fresh('node')): Promise<ChannelState> {
      const state = await newNode(id);
      open.push(state);
      return state;
    }

    it('counts subscriptions, reporting occupied on the first join and vacated on the last leave only', async () => {
      const state = await node();
      const app = newApp();
      const joins = [await state.join(app, 'news', null), await state.join(app, 'news', null), await state.join(app, 'news', null)];
      expect(joins).toEqual([
        { full: false, count: 1, occupied: true, memberAdded: false, members: null },
        { full: false, count: 2, occupied: false, memberAdded: false, members: null },
        { full: false, count: 3, occupied: false, memberAdded: false, members: null },
      ]);
      expect(await state.counts(app, 'news')).toEqual({ subscriptionCount: 3, userCount: 0 });
      const leaves = [await state.leave(app, 'news', null), await state.leave(app, 'news', null), await state.leave(app, 'news', null)];
      expect(leaves).toEqual([
        { count: 2, vacated: false, memberRemoved: false },
        { count: 1, vacated: false, memberRemoved: false },
        { count: 0, vacated: true, memberRemoved: false },
      ]);
      expect(await state.counts(app, 'news')).toBeNull();
      expect(await state.occupied(app)).toEqual([]);
      // Occupied again: the next first join reports it again.
      expect(await state.join(app, 'news', null)).toMatchObject({ count: 1, occupied: true });
    });

    it('changes nothing on a leave without its join', async () => {
      const state = await node();
      const app = newApp();
      expect(await state.leave(app, 'never', null)).toEqual({ count: 0, vacated: false, memberRemoved: false });
      await state.join(app, 'once', null);
      await state.leave(app, 'once', null);
      expect(await state.leave(app, 'once', null)).toEqual({ count: 0, vacated: false, memberRemoved: false });
      expect(await state.counts(app, 'once')).toBeNull();
    });

    it('lists an app’s occupied channels by name with their counts, filtered by prefix, and keeps apps apart', async () => {
      const state = await node();
      const [app, other] = [newApp(), newApp()];
      await state.join(app, 'presence-room', member('u1'));
      await state.join(app, 'presence-room', member('u1'));
      await state.join(app, 'presence-room', member('u2'));
      await state.join(app, 'b-news', null);
      await state.join(app, 'a-news', null);
      await state.join(other, 'a-news', null);
      expect(await state.occupied(app)).toEqual([
        { name: 'a-news', subscriptionCount: 1, userCount: 0 },
        { name: 'b-news', subscriptionCount: 1, userCount: 0 },
        { name: 'presence-room', subscriptionCount: 3, userCount: 2 },
      ]);
      expect(await state.occupied(app, 'presence-')).toEqual([{ name: 'presence-room', subscriptionCount: 3, userCount: 2 }]);
      expect(await state.occupied(app, 'nothing-')).toEqual([]);
      expect(await state.occupied(other)).toEqual([{ name: 'a-news', subscriptionCount: 1, userCount: 0 }]);
      expect(await state.occupied(newApp())).toEqual([]);
    });

    it('adds a presence member on its user’s first socket and removes it after the last, keeping the first user_info', async () => {
      const state = await node();
      const app = newApp();
      const first = await state.join(app, 'presence-x', member('ann', { name: 'Ann' }));
      expect(first).toEqual({ full: false, count: 1, occupied: true, memberAdded: true, members: { ann: { name: 'Ann' } } });
      const again = await state.join(app, 'presence-x', member('ann', { name: 'Other' }));
      expect(again).toEqual({ full: false, count: 2, occupied: false, memberAdded: false, members: { ann: { name: 'Ann' } } });
      const bob = await state.join(app, 'presence-x', member('bob'));
      expect(bob).toEqual({ full: false, count: 3, occupied: false, memberAdded: true, members: { ann: { name: 'Ann' }, bob: null } });
      expect(await state.members(app, 'presence-x')).toEqual({ ann: { name: 'Ann' }, bob: null });
      expect(await state.counts(app, 'presence-x')).toEqual({ subscriptionCount: 3, userCount: 2 });

      expect(await state.leave(app, 'presence-x', 'ann')).toEqual({ count: 2, vacated: false, memberRemoved: false });
      expect(await state.leave(app, 'presence-x', 'ann')).toEqual({ count: 1, vacated: false, memberRemoved: true });
      expect(await state.members(app, 'presence-x')).toEqual({ bob: null });
      expect(await state.leave(app, 'presence-x', 'bob')).toEqual({ count: 0, vacated: true, memberRemoved: true });
      expect(await state.members(app, 'presence-x')).toEqual({});
    });

    it('refuses a new member of a full presence channel, recording nothing, and takes another socket of a member', async () => {
      const state = await node();
      const app = newApp();
      await state.join(app, 'presence-full', member('a', undefined, 2));
      await state.join(app, 'presence-full', member('b', undefined, 2));
      expect(await state.join(app, 'presence-full', member('c', undefined, 2))).toEqual({ full: true });
      expect(await state.counts(app, 'presence-full')).toEqual({ subscriptionCount: 2, userCount: 2 });
      expect(await state.join(app, 'presence-full', member('a', undefined, 2))).toMatchObject({ full: false, count: 3, memberAdded: false });
      expect(await state.join(app, 'presence-none', member('a', undefined, 0))).toEqual({ full: true });
      expect(await state.counts(app, 'presence-none')).toBeNull();
    });

    it('opens sessions up to the app’s limit, and again once one closes', async () => {
      const state = await node();
      const [app, other] = [newApp(), newApp()];
      expect([await state.openSession(app, 2), await state.openSession(app, 2), await state.openSession(app, 2)]).toEqual([true, true, false]);
      expect(await state.openSession(other, 2)).toBe(true);
      expect(await state.openSession(app, null)).toBe(true);
      await state.closeSession(app);
      await state.closeSession(app);
      expect(await state.openSession(app, 2)).toBe(true);
      expect(await state.openSession(app, 2)).toBe(false);
    });

    it('keeps a cache channel’s last event for its TTL', async () => {
      const state = await node();
      const app = newApp();
      expect(await state.cacheGet(app, 'cache-a')).toBeNull();
      await state.cacheSet(app, 'cache-a', { event: 'first', data: '1' }, 60_000);
      await state.cacheSet(app, 'cache-a', { event: 'second', data: 'héllo 🌍' }, 60_000);
      const cached = await state.cacheGet(app, 'cache-a');
      expect(cached).toMatchObject({ event: 'second', data: 'héllo 🌍' });
      expect(cached?.ttlMs).toBeGreaterThan(55_000);
      expect(cached?.ttlMs).toBeLessThanOrEqual(60_000);
      expect(await state.cacheGet(newApp(), 'cache-a')).toBeNull();

      await state.cacheSet(app, 'cache-short', { event: 'e', data: 'd' }, 200);
      await elapse(250);
      expect(await state.cacheGet(app, 'cache-short')).toBeNull();
      expect(await state.cacheGet(app, 'cache-a')).toMatchObject({ event: 'second' });
    });

    it('lets one caller claim a cache miss until its TTL passes or the cache is set', async () => {
      const state = await node();
      const app = newApp();
      expect(await state.claimCacheMiss(app, 'cache-m', 200)).toBe(true);
      expect(await state.claimCacheMiss(app, 'cache-m', 200)).toBe(false);
      expect(await state.claimCacheMiss(app, 'cache-other', 200)).toBe(true);
      await state.cacheSet(app, 'cache-m', { event: 'e', data: 'd' }, 100);
      expect(await state.claimCacheMiss(app, 'cache-m', 60_000)).toBe(true);
      expect(await state.claimCacheMiss(app, 'cache-m', 60_000)).toBe(false);
      expect(await state.claimCacheMiss(app, 'cache-other', 200)).toBe(false);
      await elapse(250);
      expect(await state.claimCacheMiss(app, 'cache-other', 200)).toBe(true);
    });

    it('gives a busy channel’s count one send per window, and a forced send at once', async () => {
      const state = await node();
      const app = newApp();
      await state.join(app, 'busy', null);
      expect(await state.claimCountSend(app, 'busy', 300, false)).toBe(0);
      const wait = await state.claimCountSend(app, 'busy', 300, false);
      expect(wait).toBeGreaterThan(0);
      expect(wait).toBeLessThanOrEqual(300);
      expect(await state.claimCountSend(app, 'busy', 300, true)).toBe(0);
      expect(await state.claimCountSend(app, 'busy', 300, false)).toBeGreaterThan(0);
      await elapse(350);
      expect(await state.claimCountSend(app, 'busy', 300, false)).toBe(0);
    });

    it('drops nothing for a node that is not there, and its own share when dropped', async () => {
      const id = fresh('node');
      const state = await node(id);
      const app = newApp();
      await state.join(app, 'news', null);
      await state.join(app, 'presence-p', member('ann'));
      expect(await state.dropNode(fresh('stranger'))).toEqual([]);
      expect(await state.counts(app, 'news')).toEqual({ subscriptionCount: 1, userCount: 0 });
      const dropped = await state.dropNode(id);
      expect(dropped.sort((a, b) => (a.channel < b.channel ? -1 : 1))).toEqual([
        { org: app.org, appId: app.appId, channel: 'news', count: 0, vacated: true, membersRemoved: [] },
        { org: app.org, appId: app.appId, channel: 'presence-p', count: 0, vacated: true, membersRemoved: ['ann'] },
      ]);
      expect(await state.occupied(app)).toEqual([]);
      expect(await state.members(app, 'presence-p')).toEqual({});
    });

    describe.runIf(crossNode)('between two nodes', () => {
      it('counts every node’s subscriptions, reporting occupied and vacated once for the cluster', async () => {
        const [a, b] = [await node(), await node()];
        const app = newApp();
        expect(await a.join(app, 'shared', null)).toMatchObject({ count: 1, occupied: true });
        expect(await b.join(app, 'shared', null)).toMatchObject({ count: 2, occupied: false });
        expect(await b.join(app, 'shared', null)).toMatchObject({ count: 3, occupied: false });
        expect(await a.counts(app, 'shared')).toEqual({ subscriptionCount: 3, userCount: 0 });
        expect(await a.occupied(app)).toEqual([{ name: 'shared', subscriptionCount: 3, userCount: 0 }]);
        expect(await a.leave(app, 'shared', null)).toEqual({ count: 2, vacated: false, memberRemoved: false });
        // A leave on a node that holds none of the channel's subscriptions changes nothing.
        expect(await a.leave(app, 'shared', null)).toEqual({ count: 2, vacated: false, memberRemoved: false });
        expect(await b.leave(app, 'shared', null)).toEqual({ count: 1, vacated: false, memberRemoved: false });
        expect(await b.leave(app, 'shared', null)).toEqual({ count: 0, vacated: true, memberRemoved: false });
        expect(await a.counts(app, 'shared')).toBeNull();
      });

      it('decides 0→1 once when nodes join at the same moment', async () => {
        const [a, b] = [await node(), await node()];
        const app = newApp();
        const joins = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).join(app, 'race', null)));
        expect(joins.filter((j) => !j.full && j.occupied)).toHaveLength(1);
        expect(joins.map((j) => (j.full ? 0 : j.count)).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
        const leaves = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).leave(app, 'race', null)));
        expect(leaves.filter((l) => l.vacated)).toHaveLength(1);
      });

      it('counts a presence user joined on both nodes once, added on the first socket and removed after the last', async () => {
        const [a, b] = [await node(), await node()];
        const app = newApp();
        expect(await a.join(app, 'presence-c', member('ann', { from: 'a' }))).toMatchObject({ memberAdded: true, members: { ann: { from: 'a' } } });
        expect(await b.join(app, 'presence-c', member('bob'))).toEqual({ full: false, count: 2, occupied: false, memberAdded: true, members: { ann: { from: 'a' }, bob: null } });
        expect(await b.join(app, 'presence-c', member('ann', { from: 'b' }))).toMatchObject({ memberAdded: false, members: { ann: { from: 'a' }, bob: null } });
        expect(await a.members(app, 'presence-c')).toEqual({ ann: { from: 'a' }, bob: null });
        expect(await a.counts(app, 'presence-c')).toEqual({ subscriptionCount: 3, userCount: 2 });
        expect(await a.leave(app, 'presence-c', 'ann')).toMatchObject({ memberRemoved: false });
        expect(await b.members(app, 'presence-c')).toEqual({ ann: { from: 'a' }, bob: null });
        expect(await b.leave(app, 'presence-c', 'ann')).toMatchObject({ memberRemoved: true });
        expect(await a.members(app, 'presence-c')).toEqual({ bob: null });
      });

      it('applies the presence limit and the connection limit to the whole cluster', async () => {
        const [a, b] = [await node(), await node()];
        const app = newApp();
        await a.join(app, 'presence-l', member('ann', undefined, 1));
        expect(await b.join(app, 'presence-l', member('bob', undefined, 1))).toEqual({ full: true });
        expect(await b.join(app, 'presence-l', member('ann', undefined, 1))).toMatchObject({ full: false, count: 2 });
        expect([await a.openSession(app, 2), await b.openSession(app, 2), await a.openSession(app, 2), await b.openSession(app, 2)]).toEqual([true, true, false, false]);
        await a.closeSession(app);
        expect(await b.openSession(app, 2)).toBe(true);
      });

      it('drops a dead node’s share alone, saying what it vacated and which members went with it', async () => {
        const [deadId, liveId] = [fresh('dead'), fresh('live')];
        const [dead, live] = [await node(deadId), await node(liveId)];
        const app = newApp();
        await dead.join(app, 'alone', null);
        await dead.join(app, 'alone', null);
        await dead.join(app, 'both', null);
        await live.join(app, 'both', null);
        await dead.join(app, 'presence-d', member('only-dead'));
        await dead.join(app, 'presence-d', member('on-both'));
        await live.join(app, 'presence-d', member('on-both'));
        await live.join(app, 'presence-d', member('only-live'));
        await live.join(app, 'live-only', null);
        expect([await dead.openSession(app, 3), await dead.openSession(app, 3), await live.openSession(app, 3), await live.openSession(app, 3)]).toEqual([true, true, true, false]);

        const dropped = await live.dropNode(deadId);
        expect(dropped.sort((x, y) => (x.channel < y.channel ? -1 : 1))).toEqual([
          { org: app.org, appId: app.appId, channel: 'alone', count: 0, vacated: true, membersRemoved: [] },
          { org: app.org, appId: app.appId, channel: 'both', count: 1, vacated: false, membersRemoved: [] },
          { org: app.org, appId: app.appId, channel: 'presence-d', count: 2, vacated: false, membersRemoved: ['only-dead'] },
        ]);
        expect(await live.occupied(app)).toEqual([
          { name: 'both', subscriptionCount: 1, userCount: 0 },
          { name: 'live-only', subscriptionCount: 1, userCount: 0 },
          { name: 'presence-d', subscriptionCount: 2, userCount: 2 },
        ]);
        expect(await live.members(app, 'presence-d')).toEqual({ 'on-both': null, 'only-live': null });
        // Its sessions went too: the live node has the app's limit to itself.
        expect([await live.openSession(app, 3), await live.openSession(app, 3), await live.openSession(app, 3)]).toEqual([true, true, false]);
        expect(await live.dropNode(deadId)).toEqual([]);
        // What the live node holds still counts and leaves as before.
        expect(await live.leave(app, 'presence-d', 'on-both')).toEqual({ count: 1, vacated: false, memberRemoved: true });
        expect(await live.leave(app, 'presence-d', 'only-live')).toEqual({ count: 0, vacated: true, memberRemoved: true });
      });

      it('shares cache channels: an event cached on one node is read on the other, and a miss is claimed once', async () => {
        const [a, b] = [await node(), await node()];
        const app = newApp();
        await a.cacheSet(app, 'cache-s', { event: 'e', data: '{"x":1}' }, 60_000);
        expect(await b.cacheGet(app, 'cache-s')).toMatchObject({ event: 'e', data: '{"x":1}' });
        const claims = await Promise.all([a, b, a, b].map((n) => n.claimCacheMiss(app, 'cache-miss', 60_000)));
        expect(claims.filter(Boolean)).toHaveLength(1);
        await b.cacheSet(app, 'cache-miss', { event: 'e', data: 'd' }, 60_000);
        expect(await a.claimCacheMiss(app, 'cache-miss', 60_000)).toBe(true);
      });

      it('shares the subscription-count window', async () => {
        const [a, b] = [await node(), await node()];
        const app = newApp();
        await a.join(app, 'busy', null);
        await b.join(app, 'busy', null);
        expect(await a.claimCountSend(app, 'busy', 5000, false)).toBe(0);
        expect(await b.claimCountSend(app, 'busy', 5000, false)).toBeGreaterThan(4000);
      });
    });
  });
}
