import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectFrame, sendEvent, showEvent } from '../helpers/agent-relay.js';
import { relay } from '../helpers/cli.js';
import { startDaemon, tempDir, type Daemon } from '../helpers/daemon.js';
import { connectOk } from '../helpers/ws.js';
import { startReceiver } from '../helpers/webhooks.js';
import { startCluster } from '../helpers/cluster.js';
import { servicesFor } from '../helpers/services.js';

const clusterReady = await servicesFor(['postgres', 'redis'], 'the event schema cluster test (several relayd on PostgreSQL + Redis)');

/** An order: an id, and items that each have a numeric price. */
const ORDER = {
  type: 'object',
  required: ['id', 'items'],
  properties: {
    id: { type: 'string' },
    items: { type: 'array', items: { type: 'object', required: ['price'], properties: { price: { type: 'number' } } } },
  },
};
/** Version 2 also wants a currency. */
const ORDER_V2 = { ...ORDER, required: ['id', 'items', 'currency'], properties: { ...ORDER.properties, currency: { type: 'string', minLength: 3, maxLength: 3 } } };

const SCHEMA_KEYS = ['name', 'appId', 'org', 'version', 'versions', 'createdAt', 'updatedAt', 'createdBy', 'usedBy', 'document'].sort();

function schemaFile(document: unknown): string {
  const path = join(tempDir('relay-schema-'), 'order.schema.json');
  writeFileSync(path, JSON.stringify(document));
  return path;
}

async function setUp(args: string[] = []): Promise<{ daemon: Daemon; appToken: string }> {
  const daemon = await startDaemon({ args });
  const app = await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon });
  expect(app.exitCode, app.stderr).toBe(0);
  return { daemon, appToken: app.stdout.trim() };
}

async function apiToken(daemon: Daemon, scopes: string[]): Promise<string> {
  const created = await relay(['tokens', 'create', '--app', 'acme-pm', '--name', `t-${scopes.join('-') || 'none'}`, ...scopes.flatMap((s) => ['--scope', s]), '-q'], { daemon });
  expect(created.exitCode, created.stderr).toBe(0);
  return created.stdout.trim();
}

function api(daemon: Daemon, token: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${daemon.url}/api/v1/apps/acme-pm${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

describe('event schemas through the public API', () => {
  it('reads with schemas:read, writes with schemas:manage, and refuses every route to a token without them (403)', async () => {
    const { daemon } = await setUp();
    const reader = await apiToken(daemon, ['schemas:read']);
    const manager = await apiToken(daemon, ['schemas:manage']);
    const publisher = await apiToken(daemon, ['events:publish', 'channels:*']);

    const empty = await api(daemon, reader, 'GET', '/schemas');
    expect(empty.status).toBe(200);
    expect(await empty.json()).toEqual({ schemas: [] });
    const refused = await api(daemon, reader, 'POST', '/schemas', { name: 'order', schema: ORDER });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: { code: 'insufficient_scope' } });

    const added = await api(daemon, manager, 'POST', '/schemas', { name: 'order', schema: ORDER });
    expect(added.status).toBe(201);
    const { schema } = (await added.json()) as { schema: Record<string, unknown> };
    expect(Object.keys(schema).sort()).toEqual(SCHEMA_KEYS);
    expect(schema).toMatchObject({ name: 'order', appId: 'acme-pm', version: 1, versions: 1, usedBy: [], document: ORDER, createdBy: expect.stringMatching(/^token:/) });

    const updated = await api(daemon, manager, 'POST', '/schemas/order/versions', { schema: ORDER_V2 });
    expect(updated.status).toBe(201);
    expect(await updated.json()).toMatchObject({ schema: { version: 2, versions: 2, document: ORDER_V2 } });
    expect(await (await api(daemon, reader, 'GET', '/schemas/order')).json()).toMatchObject({ schema: { version: 2, document: ORDER_V2 } });
    expect(await (await api(daemon, reader, 'GET', '/schemas/order/versions/1')).json()).toMatchObject({ schema: { version: 1, versions: 2, document: ORDER } });
    expect((await api(daemon, reader, 'GET', '/schemas/order/versions/3')).status).toBe(404);
    const listed = (await (await api(daemon, reader, 'GET', '/schemas')).json()) as { schemas: Record<string, unknown>[] };
    expect(listed.schemas).toEqual([expect.objectContaining({ name: 'order', version: 2, versions: 2, document: null })]);

    const invalid = await api(daemon, manager, 'POST', '/schemas', { name: 'broken', schema: { type: 'objekt' } });
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ error: { code: 'invalid_request', message: expect.stringContaining('invalid JSON Schema') } });

    const routes: [string, string, unknown?][] = [
      ['GET', '/schemas'],
      ['POST', '/schemas', { name: 'other', schema: ORDER }],
      ['GET', '/schemas/order'],
      ['POST', '/schemas/order/versions', { schema: ORDER }],
      ['GET', '/schemas/order/versions/1'],
      ['DELETE', '/schemas/order'],
    ];
    for (const [method, path, body] of routes) {
      const res = await api(daemon, publisher, method, path, body);
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(await res.json()).toMatchObject({ error: { code: 'insufficient_scope' } });
    }
    expect((await api(daemon, reader, 'DELETE', '/schemas/order')).status).toBe(403);
    // Nothing of those changed it.
    expect(await (await api(daemon, reader, 'GET', '/schemas/order')).json()).toMatchObject({ schema: { version: 2 } });
    const removed = await api(daemon, manager, 'DELETE', '/schemas/order');
    expect(removed.status).toBe(200);
    expect(await removed.json()).toMatchObject({ removed: true, unbound: [], schema: { name: 'order' } });
    expect((await api(daemon, reader, 'GET', '/schemas/order')).status).toBe(404);
  });
});

describe('relay schemas', () => {
  it('adds, lists, updates to a new version, shows any version, and refuses what is not JSON Schema (exit 2) with the validator message', async () => {
    const { daemon } = await setUp();
    const add = await relay(['schemas', 'add', '--app', 'acme-pm', '--name', 'order', '--file', schemaFile(ORDER), '--json'], { daemon });
    expect(add.exitCode, add.stderr).toBe(0);
    const added = add.json<{ schema: Record<string, unknown> }>();
    expect(Object.keys(added)).toEqual(['schema']);
    expect(Object.keys(added.schema).sort()).toEqual(SCHEMA_KEYS);
    expect(added.schema).toMatchObject({ name: 'order', appId: 'acme-pm', version: 1, versions: 1, usedBy: [], document: ORDER, createdBy: expect.stringMatching(/^admin:/) });

    const again = await relay(['schemas', 'add', '--app', 'acme-pm', '--name', 'order', '--file', schemaFile(ORDER)], { daemon });
    expect(again.exitCode).toBe(5);
    expect(again.stderr).toContain('has a schema "order" already');

    const fromStdin = await relay(['schemas', 'add', '--app', 'acme-pm', '--name', 'invoice.v2', '--file', '-', '--json'], { daemon, input: JSON.stringify({ type: 'object' }) });
    expect(fromStdin.exitCode, fromStdin.stderr).toBe(0);

    const bad = await relay(['schemas', 'add', '--app', 'acme-pm', '--name', 'broken', '--file', schemaFile({ type: 'objekt' })], { daemon });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('invalid JSON Schema: schema is invalid: data/type must be equal to one of the allowed values');
    const typo = await relay(['schemas', 'add', '--app', 'acme-pm', '--name', 'broken', '--file', schemaFile({ type: 'object', requried: ['id'] })], { daemon });
    expect(typo.exitCode).toBe(2);
    expect(typo.stderr).toContain('unknown keyword: "requried"');
    const remote = await relay(['schemas', 'add', '--app', 'acme-pm', '--name', 'broken', '--file', schemaFile({ $ref: 'https://example.com/order.json' })], { daemon });
    expect(remote.exitCode).toBe(2);
    expect(remote.stderr).toContain('only local references');
    const notJson = await relay(['schemas', 'add', '--app', 'acme-pm', '--name', 'broken', '--file', '-'], { daemon, input: '{"type":' });
    expect(notJson.exitCode).toBe(2);
    expect(notJson.stderr).toContain('is not JSON');
    const badName = await relay(['schemas', 'add', '--app', 'acme-pm', '--name', 'Order', '--file', schemaFile(ORDER)], { daemon });
    expect(badName.exitCode).toBe(2);

    const update = await relay(['schemas', 'update', 'order', '--app', 'acme-pm', '--file', schemaFile(ORDER_V2), '--json'], { daemon });
    expect(update.exitCode, update.stderr).toBe(0);
    expect(update.json()).toMatchObject({ schema: { version: 2, versions: 2, document: ORDER_V2 } });

    const v1 = await relay(['schemas', 'show', 'order', '--app', 'acme-pm', '--version', '1'], { daemon });
    expect(v1.exitCode, v1.stderr).toBe(0);
    expect(JSON.parse(v1.stdout)).toEqual(ORDER);
    const latest = await relay(['schemas', 'show', 'order', '--app', 'acme-pm', '--json'], { daemon });
    expect(latest.json()).toMatchObject({ schema: { name: 'order', version: 2, versions: 2, document: ORDER_V2 } });
    expect((await relay(['schemas', 'show', 'order', '--app', 'acme-pm', '--version', '9'], { daemon })).exitCode).toBe(3);
    expect((await relay(['schemas', 'show', 'nope', '--app', 'acme-pm'], { daemon })).exitCode).toBe(3);

    const list = await relay(['schemas', 'list', '--app', 'acme-pm', '--json'], { daemon });
    expect(Object.keys(list.json())).toEqual(['schemas']);
    expect(list.json<{ schemas: { name: string; version: number; document: unknown }[] }>().schemas.map((s) => [s.name, s.version, s.document])).toEqual([
      ['invoice.v2', 1, null],
      ['order', 2, null],
    ]);
    const names = await relay(['schemas', 'list', '--app', 'acme-pm', '--jq', '.schemas[].name'], { daemon });
    expect(names.stdout).toBe('invoice.v2\norder\n');

    const audit = await relay(['audit', '--json'], { daemon });
    const actions = audit.json<{ entries: { action: string; targetId: string }[] }>().entries.filter((e) => e.action.startsWith('schema.'));
    expect(actions.map((e) => [e.action, e.targetId])).toEqual([
      ['schema.update', 'acme-pm/order'],
      ['schema.add', 'acme-pm/invoice.v2'],
      ['schema.add', 'acme-pm/order'],
    ]);

    const noYes = await relay(['schemas', 'remove', 'invoice.v2', '--app', 'acme-pm'], { daemon });
    expect(noYes.exitCode).toBe(2);
    expect(noYes.stderr).toContain('--yes');
    const removed = await relay(['schemas', 'remove', 'invoice.v2', '--app', 'acme-pm', '--yes', '--json'], { daemon });
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect(removed.json()).toMatchObject({ removed: true, unbound: [], schema: { name: 'invoice.v2' } });
  });
});

describe('an agent with a schema', () => {
  it('gets only payloads that match; an invalid one is rejected with its JSON pointers and recorded as rejected', async () => {
    const { daemon, appToken } = await setUp(['--webhook-allow-private']);
    const receiver = await startReceiver();
    expect((await relay(['webhooks', 'add', '--app', 'acme-pm', '--url', receiver.url, '--event', 'event_rejected', '--event', 'event_delivered'], { daemon })).exitCode).toBe(0);
    const agentReg = await relay(['agents', 'register', '--id', 'athena', '--name', 'Athena', '-q'], { daemon });
    const agentToken = agentReg.stdout.trim();
    expect((await relay(['schemas', 'add', '--app', 'acme-pm', '--name', 'order', '--file', schemaFile(ORDER)], { daemon })).exitCode).toBe(0);

    const missing = await relay(['agents', 'update', 'athena', '--schema', 'acme-pm/nope'], { daemon });
    expect(missing.exitCode).toBe(3);
    const malformed = await relay(['agents', 'update', 'athena', '--schema', 'order'], { daemon });
    expect(malformed.exitCode).toBe(2);
    const bound = await relay(['agents', 'update', 'athena', '--schema', 'acme-pm/order', '--timeout', '30s', '--json'], { daemon });
    expect(bound.exitCode, bound.stderr).toBe(0);
    expect(bound.json()).toMatchObject({ agent: { id: 'athena', schema: 'acme-pm/order', timeoutMs: 30_000 } });
    expect((await relay(['agents', 'show', 'athena', '--json'], { daemon })).json()).toMatchObject({ agent: { schema: 'acme-pm/order' } });
    expect((await relay(['schemas', 'list', '--app', 'acme-pm', '--json'], { daemon })).json()).toMatchObject({ schemas: [{ name: 'order', usedBy: ['agent:athena'] }] });

    const app = await connectOk(daemon, appToken);
    const agent = await connectOk(daemon, agentToken);
    app.send({ type: 'event', ref: 'bad', agent: 'athena', thread: 't1', payload: { id: 'o-1', items: [{ price: 'ten' }, { price: 3 }, {}] } });
    const rejected = await expectFrame(app, 'rejected');
    expect(rejected).toMatchObject({
      ref: 'bad',
      eventId: expect.stringMatching(/^evt_/),
      error: {
        code: 'schema_violation',
        schema: 'acme-pm/order',
        version: 1,
        errors: [
          { pointer: '/items/0/price', message: 'must be number' },
          { pointer: '/items/2', message: "must have required property 'price'" },
        ],
      },
    });
    expect((rejected.error as { message: string }).message).toBe('2 errors against schema "order" (version 1): /items/0/price must be number (and 1 more)');
    const good = await sendEvent(app, { ref: 'good', agent: 'athena', thread: 't1', payload: { id: 'o-2', items: [{ price: 10 }] } });
    // The agent's first event is the valid one: the invalid one never reached it.
    const delivered = await expectFrame(agent, 'event');
    expect(delivered).toMatchObject({ eventId: good, payload: { id: 'o-2', items: [{ price: 10 }] } });

    agent.send({ type: 'reply', eventId: good, payload: 'ok' });
    expect(await expectFrame(app, 'reply')).toMatchObject({ eventId: good });
    expect(await receiver.waitFor((e) => e.name === 'event_rejected')).toMatchObject({
      event_id: rejected.eventId,
      error: { code: 'schema_violation', errors: [{ pointer: '/items/0/price', message: 'must be number' }, { pointer: '/items/2' }], schema: 'acme-pm/order', version: 1 },
    });
    // The valid one's webhook comes after the rejection's: by then, nothing else was raised for the rejected one.
    await receiver.waitFor((e) => e.name === 'event_delivered' && e.event_id === good);
    expect(receiver.events().filter((e) => e.event_id === rejected.eventId).map((e) => e.name)).toEqual(['event_rejected']);

    const shown = await showEvent(daemon, rejected.eventId as string);
    expect(shown).toMatchObject({ status: 'rejected', payload: { id: 'o-1' }, error: { code: 'schema_violation', errors: [{ pointer: '/items/0/price' }, { pointer: '/items/2' }] } });
    const human = await relay(['events', 'show', rejected.eventId as string], { daemon });
    expect(human.stdout).toContain('rejected');
    expect(human.stdout).toContain('/items/0/price must be number');

    // Updated: version 2 wants a currency, from the next event on.
    expect((await relay(['schemas', 'update', 'order', '--app', 'acme-pm', '--file', schemaFile(ORDER_V2)], { daemon })).exitCode).toBe(0);
    app.send({ type: 'event', ref: 'v2', agent: 'athena', thread: 't2', payload: { id: 'o-3', items: [] } });
    expect(await expectFrame(app, 'rejected')).toMatchObject({ ref: 'v2', error: { code: 'schema_violation', version: 2, errors: [{ pointer: '', message: "must have required property 'currency'" }] } });

    const inUse = await relay(['schemas', 'remove', 'order', '--app', 'acme-pm', '--yes'], { daemon });
    expect(inUse.exitCode).toBe(5);
    expect(inUse.stderr).toContain('in use by agent:athena');
    const forced = await relay(['schemas', 'remove', 'order', '--app', 'acme-pm', '--force', '--yes', '--json'], { daemon });
    expect(forced.exitCode, forced.stderr).toBe(0);
    expect(forced.json()).toMatchObject({ removed: true, unbound: ['agent:athena'] });
    expect((await relay(['agents', 'show', 'athena', '--json'], { daemon })).json()).toMatchObject({ agent: { schema: null } });
    // Unbound: what the schema refused goes through now.
    await sendEvent(app, { ref: 'free', agent: 'athena', thread: 't3', payload: { anything: true } });
  });

  it('is unbound with --schema none', async () => {
    const { daemon } = await setUp();
    await relay(['agents', 'register', '--id', 'athena', '--name', 'Athena', '-q'], { daemon });
    await relay(['schemas', 'add', '--app', 'acme-pm', '--name', 'order', '--file', schemaFile(ORDER)], { daemon });
    expect((await relay(['agents', 'update', 'athena', '--schema', 'acme-pm/order'], { daemon })).exitCode).toBe(0);
    const cleared = await relay(['agents', 'update', 'athena', '--schema', 'none', '--json'], { daemon });
    expect(cleared.json()).toMatchObject({ agent: { schema: null } });
    expect((await relay(['schemas', 'remove', 'order', '--app', 'acme-pm', '--yes'], { daemon })).exitCode).toBe(0);
    const nothing = await relay(['agents', 'update', 'athena'], { daemon });
    expect(nothing.exitCode).toBe(2);
  });
});

describe.skipIf(!clusterReady)('event schemas across nodes', () => {
  it("enforces a binding and a schema update made through node A on node B's next event", async () => {
    const { nodes } = await startCluster();
    const [a, b] = nodes as [Daemon, Daemon];
    const app = await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon: a });
    const agentReg = await relay(['agents', 'register', '--id', 'athena', '--name', 'Athena', '-q'], { daemon: a });
    expect((await relay(['schemas', 'add', '--app', 'acme-pm', '--name', 'order', '--file', schemaFile(ORDER)], { daemon: a })).exitCode).toBe(0);
    const appSocket = await connectOk(b, app.stdout.trim());
    await connectOk(a, agentReg.stdout.trim());
    // B reads the agent (unbound) and caches it.
    await sendEvent(appSocket, { agent: 'athena', thread: 't', payload: { free: true } });

    expect((await relay(['agents', 'update', 'athena', '--schema', 'acme-pm/order'], { daemon: a })).exitCode).toBe(0);
    appSocket.send({ type: 'event', ref: 'r1', agent: 'athena', thread: 't', payload: { free: true } });
    expect(await expectFrame(appSocket, 'rejected')).toMatchObject({ ref: 'r1', error: { code: 'schema_violation', version: 1 } });
    // B has version 1 compiled and cached now.
    await sendEvent(appSocket, { agent: 'athena', thread: 't', payload: { id: 'o-1', items: [] } });

    expect((await relay(['schemas', 'update', 'order', '--app', 'acme-pm', '--file', schemaFile(ORDER_V2)], { daemon: a })).exitCode).toBe(0);
    appSocket.send({ type: 'event', ref: 'r2', agent: 'athena', thread: 't', payload: { id: 'o-2', items: [] } });
    expect(await expectFrame(appSocket, 'rejected')).toMatchObject({ ref: 'r2', error: { code: 'schema_violation', version: 2, errors: [{ pointer: '', message: "must have required property 'currency'" }] } });
    await sendEvent(appSocket, { agent: 'athena', thread: 't', payload: { id: 'o-3', items: [], currency: 'EUR' } });
  });
});
