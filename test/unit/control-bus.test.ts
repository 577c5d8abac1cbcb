import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CONTROL_CHANNEL, type Broker } from '../../daemon/broker/broker.js';
import { createBroker } from '../../daemon/broker/index.js';
import { ConnectionRegistry, type LocalConnection } from '../../daemon/core/connections.js';
import { usageOf } from '../../daemon/core/usage.js';
import { ControlBus, type ControlMessage } from '../../daemon/core/control.js';
import type { Logger } from '../../daemon/log.js';
import { RelayError } from '../../src/shared/errors.js';
import { REDIS_URL, createTestRedisPrefix, servicesFor } from '../helpers/services.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

const quiet: Logger = pino({ level: 'silent' });

/** One node: its broker, its bus, what its handlers saw and the errors it logged, and a way to wait for more without sleeping. */
class Node {
  readonly handled: ControlMessage[] = [];
  readonly errors: string[] = [];
  readonly control: ControlBus;
  readonly registry: ConnectionRegistry;
  readonly broker: Broker;
  #waiters: Array<() => void> = [];

  constructor(broker: Broker, nodeId: string, alive: number) {
    this.broker = broker;
    this.control = new ControlBus({ broker, nodeId, aliveNodes: async () => alive, onError: (_err, what) => this.#saw(() => this.errors.push(what)) });
    broker.registerEventHandler({ handlePublication: (channel, data) => this.control.owns(channel) && this.control.handlePublication(channel, data) });
    const record = (message: ControlMessage): void => this.#saw(() => this.handled.push(message));
    this.control.on('appChanged', record);
    this.control.on('tokenRevoked', record);
    this.control.on('agentChanged', record);
    this.registry = new ConnectionRegistry(this.control, usageOf([]));
  }

  #saw(record: () => void): void {
    record();
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Waits until `done` holds; fails after 5 s saying what was handled. */
  async until(done: () => boolean): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; handled ${JSON.stringify(this.handled)}, errors ${JSON.stringify(this.errors)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}

/** A socket as a transport registers it; `closed` is what the client would see. */
function socket(id: string, ownerId: string, openedAt: number, credentialId = 'atk_1'): LocalConnection & { closed: { code: number; reason: string } | null } {
  const s = {
    id,
    role: 'app' as const,
    org: 'default',
    ownerId,
    credentialId,
    openedAt,
    remoteAddress: '127.0.0.1',
    socketId: null,
    closed: null as { code: number; reason: string } | null,
    close(code: number, reason: string) {
      s.closed = { code, reason };
    },
  };
  return s;
}

const changed = (appId: string): ControlMessage => ({ type: 'appChanged', org: 'default', appId });

describe('ControlBus on one node (memory broker)', () => {
  it('handles a message once on the sender, not again when the broker brings it back', async () => {
    const node = new Node(await createBroker({ location: { driver: 'memory' }, log: quiet }), 'solo', 1);
    await node.control.start();
    await node.control.send(changed('acme-pm'));
    await node.control.send(changed('acme-ops'));
    expect(node.handled).toEqual([changed('acme-pm'), changed('acme-ops')]);
    expect(node.errors).toEqual([]);
  });

  it('answers a question from this node alone when it is the only one alive, and lists and closes its sockets as before', async () => {
    const node = new Node(await createBroker({ location: { driver: 'memory' }, log: quiet }), 'solo', 1);
    await node.control.start();
    const later = socket('conn_b', 'acme-pm', 2000);
    const earlier = socket('conn_a', 'acme-pm', 1000);
    node.registry.add(later);
    node.registry.add(earlier);
    expect((await node.registry.list()).map((c) => [c.id, c.node])).toEqual([
      ['conn_a', 'solo'],
      ['conn_b', 'solo'],
    ]);
    expect((await node.registry.counts()).of('app', 'default', 'acme-pm')).toBe(2);
    await expect(node.registry.closeOne('default', 'other-app', 'conn_a')).rejects.toMatchObject({ code: 'not_found' });
    expect(earlier.closed).toBeNull();
    expect(await node.registry.closeById('conn_a')).toMatchObject({ id: 'conn_a', node: 'solo' });
    expect(earlier.closed).toEqual({ code: 4009, reason: 'closed by an operator' });
    await expect(node.registry.closeById('conn_gone')).rejects.toMatchObject({ code: 'not_found' });
    expect(node.registry.size).toBe(1);
  });

  it('takes one handler per type', async () => {
    const node = new Node(await createBroker({ location: { driver: 'memory' }, log: quiet }), 'solo', 1);
    expect(() => node.control.on('appChanged', () => undefined)).toThrow(/registered already/);
  });

  it('logs and drops malformed control messages, and handles the next one', async () => {
    const node = new Node(await createBroker({ location: { driver: 'memory' }, log: quiet }), 'solo', 1);
    await node.control.start();
    await node.broker.publish(CONTROL_CHANNEL, () => 'not json');
    await node.broker.publish(CONTROL_CHANNEL, () => JSON.stringify({ kind: 'message', from: 'other', message: { type: 'appChanged', org: 'default' } }));
    await node.broker.publish(CONTROL_CHANNEL, () => JSON.stringify({ kind: 'question', from: 'other', id: 'q1', replyTo: '$relay:control', question: { type: 'listConnections' } }));
    await node.broker.publish(CONTROL_CHANNEL, () => JSON.stringify({ kind: 'message', from: 'other', message: changed('acme-pm') }));
    expect(node.errors).toEqual([
      'ignored a malformed control message on $relay:control',
      'ignored a malformed control message from node other',
      'ignored a malformed control message on $relay:control',
    ]);
    expect(node.handled).toEqual([changed('acme-pm')]);
  });
});

const redisUp = await servicesFor(['redis'], 'the ControlBus tests over Redis');

describe.runIf(redisUp)('ControlBus between two nodes (Redis broker)', () => {
  let redis: Awaited<ReturnType<typeof createTestRedisPrefix>>;
  const open: Array<{ close(): Promise<void> }> = [];
  beforeAll(async () => {
    redis = await createTestRedisPrefix();
  });
  afterEach(async () => {
    for (const thing of open.splice(0).reverse()) await thing.close();
  });
  afterAll(async () => {
    await redis?.drop();
  });

  async function node(id: string, alive = 2, url = redis.url): Promise<Node> {
    const broker = await createBroker({ location: { driver: 'redis', url }, log: quiet });
    open.push(broker);
    const n = new Node(broker, id, alive);
    await n.control.start();
    return n;
  }

  it('a message sent on A is handled once on A and once on B', async () => {
    const a = await node('a');
    const b = await node('b');
    await a.control.send(changed('acme-pm'));
    await a.control.send({ type: 'tokenRevoked', org: 'default', appId: 'acme-pm', tokenId: 'tok_1' });
    await b.until(() => b.handled.length === 2);
    // B answers after it has both; Redis delivers A's own copies to A before B's marker, so A would have handled them by then.
    await b.control.send({ type: 'agentChanged', org: 'default', agentId: 'marker' });
    await a.until(() => a.handled.length === 3);
    const expected = [changed('acme-pm'), { type: 'tokenRevoked', org: 'default', appId: 'acme-pm', tokenId: 'tok_1' }, { type: 'agentChanged', org: 'default', agentId: 'marker' }];
    expect(a.handled).toEqual(expected);
    expect(b.handled).toEqual(expected);
    expect([...a.errors, ...b.errors]).toEqual([]);
  });

  it('ask() with two nodes expected returns both answers, the asker first', async () => {
    const a = await node('a');
    const b = await node('b');
    a.registry.add(socket('conn_a1', 'acme-pm', 1000));
    b.registry.add(socket('conn_b1', 'acme-pm', 1000));
    b.registry.add(socket('conn_b2', 'acme-ops', 500));
    const started = performance.now();
    const answers = await a.control.ask({ type: 'countConnections' }, { expected: 2, timeoutMs: 5000 });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(answers.map((answer) => answer.total)).toEqual([1, 2]);
  });

  it('ask() with a node silent returns after the timeout with the answers it has', async () => {
    const a = await node('a', 3);
    const b = await node('b', 3);
    b.registry.add(socket('conn_b1', 'acme-pm', 1000));
    const started = performance.now();
    const answers = await a.control.ask({ type: 'countConnections' }, { timeoutMs: 300 });
    const took = performance.now() - started;
    expect(answers.map((answer) => answer.total)).toEqual([0, 1]);
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(1500);
  });

  it("lists both nodes' sockets with their node, oldest first, from either node, and closes a socket wherever it is", async () => {
    const a = await node('a');
    const b = await node('b');
    const onA = socket('conn_a1', 'acme-pm', 2000);
    const onB = socket('conn_b1', 'acme-pm', 1000);
    const sameTimeOnB = socket('conn_a0', 'acme-ops', 2000);
    a.registry.add(onA);
    b.registry.add(onB);
    b.registry.add(sameTimeOnB);
    for (const from of [a, b]) {
      expect((await from.registry.list()).map((c) => [c.id, c.node])).toEqual([
        ['conn_b1', 'b'],
        ['conn_a0', 'b'],
        ['conn_a1', 'a'],
      ]);
    }
    expect((await a.registry.list({ ownerId: 'acme-pm' })).map((c) => c.id)).toEqual(['conn_b1', 'conn_a1']);
    const counts = await a.registry.counts({ org: 'default' });
    expect([counts.total, counts.of('app', 'default', 'acme-pm'), counts.of('app', 'default', 'acme-ops')]).toEqual([3, 2, 1]);

    // Another app's socket on B is not found through this app's path; the admin's close finds it.
    await expect(a.registry.closeOne('default', 'acme-pm', 'conn_a0')).rejects.toMatchObject({ code: 'not_found' });
    expect(sameTimeOnB.closed).toBeNull();
    expect(await a.registry.closeOne('default', 'acme-pm', 'conn_b1')).toMatchObject({ id: 'conn_b1', node: 'b' });
    expect(onB.closed).toEqual({ code: 4009, reason: 'closed by an operator' });
    expect(await a.registry.closeById('conn_a0')).toMatchObject({ id: 'conn_a0', node: 'b' });
    const started = performance.now();
    await expect(a.registry.closeById('conn_nowhere')).rejects.toMatchObject({ code: 'not_found' });
    // Every node said no: not held until the timeout.
    expect(performance.now() - started).toBeLessThan(1000);
    expect((await b.registry.list()).map((c) => c.id)).toEqual(['conn_a1']);
  });

  it("closing an owner's sockets from A closes them on B too, sparing the credentials kept", async () => {
    const a = await node('a');
    const b = await node('b');
    const old = socket('conn_b1', 'acme-pm', 1000, 'atk_old');
    const current = socket('conn_b2', 'acme-pm', 1000, 'atk_new');
    b.registry.add(old);
    b.registry.add(current);
    await a.registry.closeOwner({ role: 'app', org: 'default', ownerId: 'acme-pm', keepCredentials: ['atk_new'], code: 4001, reason: 'token expired' });
    // The count question travels behind the close on the same channel, so B has closed by the time it answers.
    expect((await a.registry.counts()).total).toBe(1);
    expect(old.closed).toEqual({ code: 4001, reason: 'token expired' });
    expect(current.closed).toBeNull();
  });

  it('a broker that cannot be reached makes send and ask fail with unavailable, and neither leaves an unhandled rejection', async () => {
    const gate = await TcpProxy.start(REDIS_URL);
    open.push(gate);
    const cutOff = await node('cut', 2, gate.urlFor(redis.url));
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      gate.cut();
      await gate.refusedAtLeast(1);
      const sent = await cutOff.control.send(changed('acme-pm')).then(() => null, (err: unknown) => err);
      expect(sent).toBeInstanceOf(RelayError);
      expect(sent).toMatchObject({ code: 'unavailable' });
      expect((sent as Error).message).toMatch(/^could not tell the other relayd nodes \(appChanged\): the broker \(Redis at .*\) is (unreachable|closed)/);
      // This node dropped its own copy all the same.
      expect(cutOff.handled).toEqual([changed('acme-pm')]);
      const asked = await cutOff.control.ask({ type: 'listConnections' }).then(() => null, (err: unknown) => err);
      expect(asked).toMatchObject({ code: 'unavailable' });
      expect((asked as Error).message).toMatch(/^could not ask the other relayd nodes \(listConnections\)/);
      await expect(cutOff.registry.closeById('conn_elsewhere')).rejects.toMatchObject({ code: 'unavailable' });
      // One turn of the event loop for a stray rejection to be reported.
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
