import { createHmac, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { startDaemon, tempDir, type Daemon } from '../helpers/daemon.js';
import { channelName, collect, connected, next, openRawSocket, registerChannelApp, subscribed, subscriberClient, type ChannelApp, type Frame, type RawSocket } from '../helpers/pusher.js';

/**
 * Event schemas bound to channels by a rule: every way an event enters a channel (the public
 * API, a batch, the Pusher REST API, a client event) is checked, and nothing invalid reaches a
 * subscriber or history.
 */

/** A 3-property order: id (integer), total (number >= 0), currency (3 capital letters). */
const ORDER_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  required: ['id', 'total', 'currency'],
  properties: {
    id: { type: 'integer' },
    total: { type: 'number', minimum: 0 },
    currency: { type: 'string', pattern: '^[A-Z]{3}$' },
    items: { type: 'array', items: { type: 'object', required: ['sku'], properties: { sku: { type: 'string' }, qty: { type: 'integer', minimum: 1 } } } },
  },
};

/** A 422 body: the error's details (errors with JSON pointers, the schema and version, a batch's indexes) sit beside its code. */
interface Violation {
  error: { code: string; message: string; errors?: { pointer: string; message: string }[]; indexes?: number[]; schema?: string; version?: number };
}

interface Setup {
  daemon: Daemon;
  app: ChannelApp;
  token: string;
  api(method: string, path: string, body?: unknown): Promise<Response>;
}

async function setUp(schema: unknown = ORDER_SCHEMA, ruleFlags: string[] = []): Promise<Setup> {
  const daemon = await startDaemon();
  const app = await registerChannelApp(daemon);
  const token = (await relay(['tokens', 'create', '--app', app.id, '--name', 'publisher', '-q'], { daemon })).stdout.trim();
  const file = join(tempDir(), 'order.schema.json');
  writeFileSync(file, JSON.stringify(schema));
  const added = await relay(['schemas', 'add', '--app', app.id, '--name', 'order', '--file', file, '--json'], { daemon });
  expect(added.exitCode, added.stderr).toBe(0);
  const rule = await relay(['channels', 'rules', 'add', '--app', app.id, '--pattern', 'orders-*', '--schema', 'order', ...ruleFlags, '--json'], { daemon });
  expect(rule.exitCode, rule.stderr).toBe(0);
  const api = (method: string, path: string, body?: unknown): Promise<Response> =>
    fetch(`${daemon.url}/api/v1/apps/${app.id}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  return { daemon, app, token, api };
}

const ordersChannel = (): string => `orders-${randomBytes(4).toString('hex')}`;

async function historyNames(s: Setup): Promise<string[]> {
  const res = await s.api('GET', '/history?limit=100');
  expect(res.status).toBe(200);
  return ((await res.json()) as { events: { name: string }[] }).events.map((e) => e.name);
}

describe('event schemas on channels', () => {
  it('refuses a public API publish that breaks the bound schema with 422 and JSON pointers; a valid one arrives, the invalid one never does', async () => {
    const s = await setUp();
    const client = subscriberClient(s.daemon, s.app);
    await connected(client);
    const name = ordersChannel();
    const channel = await subscribed(client, name);
    const got = collect<Record<string, unknown>>(channel, 'order-placed');

    const bad = await s.api('POST', '/events', { name: 'order-placed', channel: name, data: { id: 1.5, total: -3, currency: 'eur', items: [{ qty: 0 }] } });
    expect(bad.status).toBe(422);
    const violation = (await bad.json()) as Violation;
    expect(violation.error.code).toBe('schema_violation');
    expect(violation.error.message).toMatch(/order/);
    expect(violation.error).toMatchObject({ schema: 'acme-pm/order', version: 1 });
    const pointers = (violation.error.errors ?? []).map((e) => e.pointer).sort();
    expect(pointers).toEqual(expect.arrayContaining(['/currency', '/id', '/items/0', '/items/0/qty', '/total']));
    for (const e of violation.error.errors ?? []) expect(e.message.length).toBeGreaterThan(0);

    // A string that holds JSON is checked as the JSON it holds (what Pusher SDKs send).
    const badString = await s.api('POST', '/events', { name: 'order-placed', channel: name, data: JSON.stringify({ id: 2 }) });
    expect(badString.status).toBe(422);

    const good = await s.api('POST', '/events', { name: 'order-placed', channel: name, data: { id: 3, total: 9.5, currency: 'EUR' } });
    expect(good.status).toBe(200);
    await expect.poll(() => got.length).toBe(1);
    expect(got).toEqual([{ id: 3, total: 9.5, currency: 'EUR' }]);
    expect(await historyNames(s)).toEqual(['order-placed']);

    // Channels no rule binds are not checked.
    const free = await s.api('POST', '/events', { name: 'anything', channel: 'news', data: { id: 'x' } });
    expect(free.status).toBe(200);
  });

  it('takes a batch whole or not at all, naming every failing item', async () => {
    const s = await setUp();
    const client = subscriberClient(s.daemon, s.app);
    await connected(client);
    const name = ordersChannel();
    const channel = await subscribed(client, name);
    const got = collect<{ id: number }>(channel, 'order-placed');

    const bad = await s.api('POST', '/batch_events', {
      batch: [
        { name: 'order-placed', channel: name, data: { id: 1, total: 1, currency: 'EUR' } },
        { name: 'order-placed', channel: name, data: { id: 2, total: 'free', currency: 'EUR' } },
        { name: 'order-placed', channel: 'news', data: { anything: true } },
        { name: 'order-placed', channel: name, data: { id: 4, total: 1 } },
      ],
    });
    expect(bad.status).toBe(422);
    const violation = (await bad.json()) as Violation;
    expect(violation.error.code).toBe('schema_violation');
    expect(violation.error.indexes).toEqual([1, 3]);
    expect(violation.error.message).toMatch(/batch item 1/);

    const good = await s.api('POST', '/batch_events', { batch: [{ name: 'order-placed', channel: name, data: { id: 5, total: 1, currency: 'EUR' } }] });
    expect(good.status).toBe(200);
    await expect.poll(() => got.length).toBe(1);
    expect(got.map((o) => o.id)).toEqual([5]);
    expect(await historyNames(s)).toEqual(['order-placed']);
  });

  it('refuses the same through the Pusher REST API, so the pusher SDK sees a 4xx', async () => {
    const s = await setUp();
    const name = ordersChannel();
    const refused = await s.app.server.trigger(name, 'order-placed', { id: 'one' }).then(
      () => null,
      (err: { status?: number; body?: string }) => err,
    );
    expect(refused?.status).toBe(422);
    expect(String(refused?.body)).toMatch(/schema_violation|\/id/);
    const ok = await s.app.server.trigger(name, 'order-placed', { id: 1, total: 0, currency: 'USD' });
    expect(ok.status).toBe(200);
  });

  it('checks only the event the rule names, when it names one', async () => {
    const s = await setUp(ORDER_SCHEMA, ['--schema-event', 'order-placed']);
    const name = ordersChannel();
    expect((await s.api('POST', '/events', { name: 'order-placed', channel: name, data: { id: 'x' } })).status).toBe(422);
    expect((await s.api('POST', '/events', { name: 'order-viewed', channel: name, data: { id: 'x' } })).status).toBe(200);
  });

  it('applies a new version of the schema to the next publish, and keeps the old one readable', async () => {
    const s = await setUp();
    const name = ordersChannel();
    expect((await s.api('POST', '/events', { name: 'e', channel: name, data: { id: 1, total: 1, currency: 'EUR' } })).status).toBe(200);
    const file = join(tempDir(), 'order-v2.schema.json');
    writeFileSync(file, JSON.stringify({ ...ORDER_SCHEMA, required: [...ORDER_SCHEMA.required, 'customer'] }));
    const updated = await relay(['schemas', 'update', 'order', '--app', s.app.id, '--file', file, '--json'], { daemon: s.daemon });
    expect(updated.exitCode, updated.stderr).toBe(0);
    const bad = await s.api('POST', '/events', { name: 'e', channel: name, data: { id: 1, total: 1, currency: 'EUR' } });
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as Violation).error.message).toMatch(/customer/);
    const v1 = await relay(['schemas', 'show', 'order', '--app', s.app.id, '--version', '1', '--json'], { daemon: s.daemon });
    expect(v1.exitCode, v1.stderr).toBe(0);
    expect(JSON.stringify(v1.json())).not.toMatch(/customer/);
  });

  it('drops a client event that breaks the schema: its sender gets pusher:error, the other subscriber never sees it', async () => {
    const s = await setUp(ORDER_SCHEMA, ['--client-events', 'on']);
    const name = `private-${ordersChannel()}`;
    // The rule above covers orders-*; private-orders-* needs its own.
    const rule = await relay(['channels', 'rules', 'add', '--app', s.app.id, '--pattern', 'private-orders-*', '--schema', 'order', '--client-events', 'on', '--json'], { daemon: s.daemon });
    expect(rule.exitCode, rule.stderr).toBe(0);
    const connect = (): Promise<RawSocket> => openRawSocket(s.daemon, `/app/${s.app.key}?protocol=7&client=js&version=8.6.0`);
    const subscribe = async (socket: RawSocket): Promise<void> => {
      const auth = `${s.app.key}:${createHmac('sha256', s.app.secret).update(`${socket.socketId}:${name}`).digest('hex')}`;
      const ok = socket.next((f) => f.event === 'pusher_internal:subscription_succeeded' && f.channel === name);
      socket.send({ event: 'pusher:subscribe', data: { channel: name, auth } });
      await ok;
    };
    const sender = await connect();
    const receiver = await connect();
    await subscribe(sender);
    await subscribe(receiver);

    const error = sender.next((f: Frame) => f.event === 'pusher:error', 'pusher:error');
    sender.send({ event: 'client-order', channel: name, data: { id: 'nope', total: 1, currency: 'EUR' } });
    const refusal = (await error).data;
    expect(JSON.stringify(refusal)).toMatch(/against schema \\"order\\".*\/id must be integer/);

    const valid = receiver.next((f) => f.event === 'client-order');
    sender.send({ event: 'client-order', channel: name, data: { id: 7, total: 1, currency: 'EUR' } });
    expect((await valid).data).toEqual({ id: 7, total: 1, currency: 'EUR' });
    expect(receiver.frames.filter((f) => f.event === 'client-order')).toHaveLength(1);
  });

  it('refuses a rule naming a schema that does not exist, and a schema removal while a rule uses it', async () => {
    const s = await setUp();
    const missing = await relay(['channels', 'rules', 'add', '--app', s.app.id, '--pattern', 'invoices-*', '--schema', 'invoice'], { daemon: s.daemon });
    expect(missing.exitCode).toBe(3);
    expect(missing.stderr).toMatch(/invoice/);
    const removal = await relay(['schemas', 'remove', 'order', '--app', s.app.id, '--yes'], { daemon: s.daemon });
    expect(removal.exitCode).toBe(5);
    expect(removal.stderr).toMatch(/orders-\*/);

    // Forced, it unbinds the rule in the same write: its channels are checked against nothing from the next publish.
    const forced = await relay(['schemas', 'remove', 'order', '--app', s.app.id, '--force', '--yes', '--json'], { daemon: s.daemon });
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(forced.json<{ unbound: string[] }>().unbound).toEqual([expect.stringMatching(/^rule:chr_.*orders-\*/)]);
    const rules = (await relay(['channels', 'rules', 'list', '--app', s.app.id, '--json'], { daemon: s.daemon })).json<{ rules: { pattern: string; schema: string | null }[] }>().rules;
    expect(rules).toEqual([expect.objectContaining({ pattern: 'orders-*', schema: null })]);
    expect((await s.api('POST', '/events', { name: 'order-placed', channel: ordersChannel(), data: { id: 'x' } })).status).toBe(200);
  });

  it('checks what the backend sent to an encrypted channel before relayd encrypts it', async () => {
    const s = await setUp();
    const key = await relay(['keys', 'create', '--app', s.app.id, '-q'], { daemon: s.daemon });
    expect(key.exitCode, key.stderr).toBe(0);
    const rule = await relay(['channels', 'rules', 'add', '--app', s.app.id, '--pattern', 'private-encrypted-orders-*', '--schema', 'order'], { daemon: s.daemon });
    expect(rule.exitCode, rule.stderr).toBe(0);
    const name = `private-encrypted-${ordersChannel()}`;
    const bad = await s.api('POST', '/events', { name: 'order-placed', channel: name, data: { id: 1, total: 1, currency: 'euro' } });
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as Violation).error.errors).toEqual([expect.objectContaining({ pointer: '/currency' })]);
    expect((await s.api('POST', '/events', { name: 'order-placed', channel: name, data: { id: 1, total: 1, currency: 'EUR' } })).status).toBe(200);
  });
});
