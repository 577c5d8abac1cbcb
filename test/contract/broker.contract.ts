import { afterEach, describe, expect, it } from 'vitest';
import type { Broker, BrokerEventHandler } from '../../daemon/broker/broker.js';

/** What a node's handler received, and a way to wait for more without sleeping. */
export class Inbox implements BrokerEventHandler {
  readonly received: Array<{ channel: string; data: string }> = [];
  #waiters: Array<() => void> = [];

  handlePublication(channel: string, data: string): void {
    this.received.push({ channel, data });
    for (const wake of this.#waiters.splice(0)) wake();
  }

  on(channel: string): string[] {
    return this.received.filter((m) => m.channel === channel).map((m) => m.data);
  }

  /** Resolves with the channel's publications once there are `count`; fails after `ms`, saying what came. */
  async until(channel: string, count: number, ms = 5000): Promise<string[]> {
    const deadline = Date.now() + ms;
    while (this.on(channel).length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${count} publications on "${channel}", got ${this.on(channel).length}: ${JSON.stringify(this.received.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.on(channel);
  }
}

export interface BrokerContractOptions {
  /** Whether separate nodes share publications (every driver but memory). */
  crossNode: boolean;
}

/**
 * The Broker contract, run against every driver. `newNode` gives a broker as one more
 * relayd node would have it (for Redis: a new pair of connections on the same prefix).
 */
export function describeBroker(name: string, newNode: () => Promise<Broker>, { crossNode }: BrokerContractOptions): void {
  describe(`Broker contract: ${name}`, () => {
    const open: Broker[] = [];

    afterEach(async () => {
      await Promise.all(open.splice(0).map((node) => node.close()));
    });

    async function node(): Promise<{ broker: Broker; inbox: Inbox }> {
      const broker = await newNode();
      open.push(broker);
      const inbox = new Inbox();
      broker.registerEventHandler(inbox);
      return { broker, inbox };
    }

    it('is available once created, and names its driver', async () => {
      const { broker } = await node();
      expect(broker.available).toBe(true);
      expect(broker.driver).toBe(name);
    });

    it('delivers a publication to the subscribed channel, exactly as published', async () => {
      const { broker, inbox } = await node();
      await broker.subscribe('news');
      const text = 'héllo 🌍\n{"event":"a:b","data":"\\u0000"}';
      await broker.publish('news', () => text);
      expect(await inbox.until('news', 1)).toEqual([text]);
      expect(inbox.received).toEqual([{ channel: 'news', data: text }]);
    });

    it('delivers once to a channel subscribed twice', async () => {
      const { broker, inbox } = await node();
      await Promise.all([broker.subscribe('twice'), broker.subscribe('twice')]);
      await broker.subscribe('twice');
      await broker.publish('twice', () => 'one');
      await broker.publish('twice', () => 'end');
      expect(await inbox.until('twice', 2)).toEqual(['one', 'end']);
    });

    it('delivers nothing on a channel after unsubscribe (a later publication on another channel arrives)', async () => {
      const { broker, inbox } = await node();
      await broker.subscribe('gone');
      await broker.subscribe('control');
      await broker.unsubscribe('gone');
      await broker.publish('gone', () => 'lost');
      await broker.publish('control', () => 'after');
      expect(await inbox.until('control', 1)).toEqual(['after']);
      expect(inbox.on('gone')).toEqual([]);
    });

    it('keeps the order of 1000 publications on one channel', async () => {
      const { broker, inbox } = await node();
      await broker.subscribe('ordered');
      const sent = Array.from({ length: 1000 }, (_, i) => String(i));
      await Promise.all(sent.map((data) => broker.publish('ordered', () => data)));
      expect(await inbox.until('ordered', 1000)).toEqual(sent);
    });

    it('stops delivering once closed', async () => {
      const { broker, inbox } = await node();
      await broker.subscribe('closing');
      if (crossNode) {
        const publisher = await node();
        const control = await node();
        await control.broker.subscribe('closing');
        await broker.close();
        await publisher.broker.publish('closing', () => 'after close');
        expect(await control.inbox.until('closing', 1)).toEqual(['after close']);
      } else {
        await broker.close();
        // The memory driver delivers within publish: once it has returned, nothing can come.
        await broker.publish('closing', () => 'after close').catch(() => {});
      }
      expect(broker.available).toBe(false);
      expect(inbox.received).toEqual([]);
    });

    it.runIf(!crossNode)('(one node only) does not build a publication nobody subscribes to', async () => {
      const { broker, inbox } = await node();
      let built = 0;
      await broker.publish('nobody', () => {
        built++;
        return 'unused';
      });
      expect(built).toBe(0);
      await broker.subscribe('somebody');
      await broker.publish('somebody', () => {
        built++;
        return 'used';
      });
      expect(await inbox.until('somebody', 1)).toEqual(['used']);
      expect(built).toBe(1);
      expect(inbox.on('nobody')).toEqual([]);
    });

    describe.runIf(crossNode)('between nodes', () => {
      it("delivers node A's publication to node B's handler, and none to A, which did not subscribe", async () => {
        const a = await node();
        const b = await node();
        await b.broker.subscribe('shared');
        await a.broker.subscribe('a-control');
        await a.broker.publish('shared', () => 'from A');
        expect(await b.inbox.until('shared', 1)).toEqual(['from A']);
        await b.broker.publish('a-control', () => 'from B');
        expect(await a.inbox.until('a-control', 1)).toEqual(['from B']);
        expect(a.inbox.on('shared')).toEqual([]);
      });

      it('delivers to every subscribed node once each', async () => {
        const a = await node();
        const b = await node();
        const c = await node();
        await Promise.all([b.broker.subscribe('fan'), c.broker.subscribe('fan')]);
        await a.broker.publish('fan', () => 'one');
        await a.broker.publish('fan', () => 'end');
        expect(await b.inbox.until('fan', 2)).toEqual(['one', 'end']);
        expect(await c.inbox.until('fan', 2)).toEqual(['one', 'end']);
      });

      it("keeps the order of another node's 1000 publications", async () => {
        const a = await node();
        const b = await node();
        await b.broker.subscribe('ordered');
        const sent = Array.from({ length: 1000 }, (_, i) => `#${i}`);
        await Promise.all(sent.map((data) => a.broker.publish('ordered', () => data)));
        expect(await b.inbox.until('ordered', 1000)).toEqual(sent);
      });

      it("delivers nothing of another node's publications after unsubscribe", async () => {
        const a = await node();
        const b = await node();
        await b.broker.subscribe('gone');
        await b.broker.subscribe('control');
        await b.broker.unsubscribe('gone');
        await a.broker.publish('gone', () => 'lost');
        await a.broker.publish('control', () => 'after');
        expect(await b.inbox.until('control', 1)).toEqual(['after']);
        expect(b.inbox.on('gone')).toEqual([]);
      });
    });
  });
}
