import { createServer, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createBroker } from '../../daemon/broker/index.js';
import type { Broker } from '../../daemon/broker/broker.js';
import type { Logger } from '../../daemon/log.js';
import { StartupError } from '../../daemon/startup-error.js';
import { RelayError } from '../../src/shared/errors.js';
import { REDIS_URL, createTestRedisPrefix, servicesFor } from '../helpers/services.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { Inbox, describeBroker } from './broker.contract.js';

const quiet: Logger = pino({ level: 'silent' });

describeBroker('memory', () => createBroker({ location: { driver: 'memory' }, log: quiet }), { crossNode: false });

const redisUp = await servicesFor(['redis'], 'the Redis broker tests');

describe.runIf(redisUp)('Redis broker', () => {
  let redis: Awaited<ReturnType<typeof createTestRedisPrefix>>;
  beforeAll(async () => {
    redis = await createTestRedisPrefix();
  });
  afterAll(async () => {
    await redis?.drop();
  });

  describeBroker('redis', () => createBroker({ location: { driver: 'redis', url: redis.url }, log: quiet }), { crossNode: true });

  describe('failure and recovery', () => {
    const open: Array<{ close(): Promise<void> }> = [];
    afterEach(async () => {
      for (const thing of open.splice(0).reverse()) await thing.close();
    });

    async function node(url: string, log: Logger = quiet): Promise<{ broker: Broker; inbox: Inbox; statuses: boolean[]; status(value: boolean): Promise<void> }> {
      const broker = await createBroker({ location: { driver: 'redis', url }, log });
      open.push(broker);
      const inbox = new Inbox();
      broker.registerEventHandler(inbox);
      const statuses: boolean[] = [];
      const waiters: Array<() => void> = [];
      broker.onStatus((available) => {
        statuses.push(available);
        for (const wake of waiters.splice(0)) wake();
      });
      const status = async (value: boolean): Promise<void> => {
        while (broker.available !== value) await new Promise<void>((resolve) => waiters.push(resolve));
      };
      return { broker, inbox, statuses, status };
    }

    async function proxy(): Promise<TcpProxy> {
      const started = await TcpProxy.start(REDIS_URL);
      open.push(started);
      return started;
    }

    it('resubscribes by itself after Redis drops its subscriber connection (CLIENT KILL)', async () => {
      const a = await node(redis.url);
      const b = await node(redis.url);
      await b.broker.subscribe('survives');
      await b.broker.subscribe('also');
      await a.broker.publish('survives', () => 'before');
      expect(await b.inbox.until('survives', 1)).toEqual(['before']);

      const { Redis } = await import('ioredis');
      const admin = new Redis(REDIS_URL, { lazyConnect: true });
      await admin.connect();
      try {
        const list = (await admin.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
        const ids = list
          .split('\n')
          .filter((line) => line.includes(` name=relayd-subscriber:${redis.prefix} `))
          .map((line) => /\bid=(\d+)/.exec(line)?.[1] as string);
        expect(ids.length).toBeGreaterThan(0);
        for (const id of ids) await admin.client('KILL', 'ID', id);
      } finally {
        admin.disconnect();
      }
      await b.status(false);
      await b.status(true);
      expect(b.statuses).toEqual([false, true]);

      await a.broker.publish('survives', () => 'after');
      await a.broker.publish('also', () => 'after too');
      expect(await b.inbox.until('survives', 2)).toEqual(['before', 'after']);
      expect(await b.inbox.until('also', 1)).toEqual(['after too']);
    });

    it('rejects publish and subscribe at once with unavailable while Redis is unreachable, logs it once, and delivers again when it is back', async () => {
      const lines: Array<{ level: number; msg: string; broker?: string }> = [];
      const log = pino(
        { level: 'info' },
        new Writable({
          write(chunk: Buffer, _encoding, done) {
            lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
            done();
          },
        }),
      );
      const gate = await proxy();
      const cutOff = await node(gate.urlFor(redis.url), log);
      const other = await node(redis.url);
      await cutOff.broker.subscribe('outage');

      gate.cut();
      await cutOff.status(false);
      // Several reconnection attempts fail (they come a second apart by then); the outage is logged once all the same.
      await gate.refusedAtLeast(3);
      const started = performance.now();
      const publish = await cutOff.broker.publish('outage', () => 'during').then(() => null, (err: unknown) => err);
      const subscribe = await cutOff.broker.subscribe('new').then(() => null, (err: unknown) => err);
      // At once: not held until the next reconnection attempt.
      expect(performance.now() - started).toBeLessThan(250);
      for (const err of [publish, subscribe]) {
        expect(err).toBeInstanceOf(RelayError);
        expect(err).toMatchObject({ code: 'unavailable' });
        expect((err as Error).message).toMatch(/^the broker \(Redis at redis:\/\/127\.0\.0\.1:\d+\) is unreachable: connection lost( \(.+\))?, reconnecting$/);
      }
      gate.restore();
      await cutOff.status(true);
      expect(cutOff.statuses).toEqual([false, true]);
      expect(lines.map((line) => line.msg)).toEqual(['broker connection lost: publications fail (503) until it is back', 'broker connection restored']);
      expect(lines[0]).toMatchObject({ level: 40, broker: `redis://127.0.0.1:${gate.port}` });

      // Its channel was resubscribed; the one whose subscribe failed was not.
      await other.broker.publish('new', () => 'not held');
      await other.broker.publish('outage', () => 'after');
      expect(await cutOff.inbox.until('outage', 1)).toEqual(['after']);
      expect(cutOff.inbox.on('new')).toEqual([]);
      await cutOff.broker.publish('outage', () => 'from the node itself');
      expect(await cutOff.inbox.until('outage', 2)).toEqual(['after', 'from the node itself']);
    });

    it('rejects a publish with unavailable within about a second when Redis stops answering', async () => {
      const gate = await proxy();
      const hung = await node(gate.urlFor(redis.url));
      gate.stall();
      const started = performance.now();
      const err = await hung.broker.publish('hang', () => 'x').then(() => null, (e: unknown) => e);
      const took = performance.now() - started;
      expect(err).toMatchObject({ code: 'unavailable' });
      expect((err as Error).message).toMatch(/unreachable: no answer within 1000 ms$/);
      expect(took).toBeGreaterThan(900);
      expect(took).toBeLessThan(2000);
      gate.restore();
    });

    it('does not start on an unreachable Redis: a StartupError naming the URL, without its password', async () => {
      const dead = createServer();
      await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
      const port = (dead.address() as AddressInfo).port;
      await new Promise<void>((resolve) => dead.close(() => resolve()));
      const err = await createBroker({ location: { driver: 'redis', url: `redis://relay:s3cret@127.0.0.1:${port}/2?prefix=x:` }, log: quiet }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(StartupError);
      expect((err as Error).message).toBe(`cannot reach the broker: Redis at redis://relay@127.0.0.1:${port}/2 is unreachable (connect ECONNREFUSED 127.0.0.1:${port}); start Redis or check the URL`);
      expect((err as Error).message).not.toContain('s3cret');
    });

    it('refuses a URL that is not Redis', async () => {
      await expect(createBroker({ location: { driver: 'redis', url: 'http://127.0.0.1:6379' }, log: quiet })).rejects.toThrow(StartupError);
    });
  });
});
