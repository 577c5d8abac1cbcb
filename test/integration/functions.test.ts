import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { RelayAgent, RelayApp, type AgentEvent } from '../../src/client/index.js';
import { relay, relayRunning } from '../helpers/cli.js';
import { startCluster } from '../helpers/cluster.js';
import { startSharedDaemon, tempDir, type Daemon } from '../helpers/daemon.js';
import { channelName, collect, connected, openRawSocket, registerChannelApp, subscribed, subscriberClient, type ChannelApp, type RawSocket } from '../helpers/pusher.js';
import { servicesFor } from '../helpers/services.js';
import { eventually } from '../helpers/ws.js';

/**
 * Edge functions, as a user meets them: deployed with the real CLI (or the public API), run by
 * the real relayd on real publishes (the public API, the pusher SDK), seen by real subscribers
 * (pusher-js) and agents (the client library). Every test brings its own app to one relayd.
 */

const clusterReady = await servicesFor(['postgres', 'redis'], 'the edge functions cluster test (several relayd on PostgreSQL + Redis)');

let daemon: Daemon;
beforeAll(async () => {
  daemon = await startSharedDaemon();
});

interface Deployed {
  function: { name: string; version: number; active: number; latest: number; trigger: string; order: number; stats: { calls: number; failures: number; timeouts: number; dropped: number } };
}

/** Deploys `source` as a function of `app` through the CLI; the envelope it printed. */
async function deploy(app: string, name: string, source: string, flags: string[], on: Daemon = daemon): Promise<Deployed> {
  const file = join(tempDir(), `${name}.js`);
  writeFileSync(file, source);
  const result = await relay(['functions', 'deploy', '--app', app, '--name', name, '--file', file, ...flags, '--json'], { daemon: on });
  expect(result.exitCode, result.stderr).toBe(0);
  return result.json<Deployed>();
}

/** A token of the app with every scope, and a fetch of its public API. */
async function publicApi(app: string, on: Daemon = daemon, scopes: string[] = []): Promise<(method: string, path: string, body?: unknown) => Promise<Response>> {
  const created = await relay(['tokens', 'create', '--app', app, '--name', `t-${scopes.join('-') || 'all'}`, ...scopes.flatMap((s) => ['--scope', s]), '-q'], { daemon: on });
  expect(created.exitCode, created.stderr).toBe(0);
  const token = created.stdout.trim();
  return (method, path, body) =>
    fetch(`${on.url}/api/v1/apps/${app}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
}

async function subscribe(app: ChannelApp, name: string, on: Daemon = daemon): Promise<Awaited<ReturnType<typeof subscribed>>> {
  const client = subscriberClient(on, app);
  await connected(client);
  return subscribed(client, name);
}

describe('edge functions on channels', () => {
  it('a before-publish filter drops matching events: the subscriber never gets them, the publisher is told which function dropped it', async () => {
    const app = await registerChannelApp(daemon, 'fn-filter');
    const api = await publicApi(app.id);
    const deployed = await deploy(
      app.id,
      'spam-filter',
      `// Drops what the spam rule matches.
export default function (event) {
  if (event.data && event.data.spam === true) return null;
  return event;
}
`,
      ['--trigger', 'before-publish', '--channels', 'chat-*'],
    );
    expect(deployed.function).toMatchObject({ name: 'spam-filter', version: 1, active: 1, trigger: 'before-publish', order: 1 });
    const name = channelName('chat-');
    const channel = await subscribe(app, name);
    const got = collect<Record<string, unknown>>(channel, 'message');

    const dropped = await api('POST', '/events', { name: 'message', channel: name, data: { spam: true, text: 'buy now' } });
    expect(dropped.status).toBe(200);
    expect(await dropped.json()).toMatchObject({ dropped: { function: 'spam-filter', version: 1 } });
    // The pusher SDK's publish is filtered the same way, and a batch drops only the matching items.
    expect((await app.server.trigger(name, 'message', { spam: true, text: 'cheap pills' })).status).toBe(200);
    const batch = await api('POST', '/batch_events', {
      batch: [
        { name: 'message', channel: name, data: { spam: true } },
        { name: 'message', channel: name, data: { text: 'first' } },
      ],
    });
    expect(batch.status).toBe(200);
    expect(await batch.json()).toMatchObject({ dropped: [{ index: 0, function: 'spam-filter' }] });
    expect((await api('POST', '/events', { name: 'message', channel: name, data: { text: 'second' } })).status).toBe(200);

    await expect.poll(() => got.length).toBe(2);
    expect(got).toEqual([{ text: 'first' }, { text: 'second' }]);
    const history = (await (await api('GET', '/history?limit=10')).json()) as { events: { name: string }[] };
    expect(history.events).toHaveLength(2);
    // Counted on every node and written in the background: calls and drops show up in the list.
    await eventually(async () => {
      const listed = (await relay(['functions', 'list', '--app', app.id, '--json'], { daemon })).json<{ functions: Deployed['function'][] }>();
      const stats = listed.functions[0]?.stats;
      return stats !== undefined && stats.calls >= 5 && stats.dropped === 3;
    }, 10_000, 'the counts of spam-filter');
  });

  it("an enrichment function's added field arrives, through the pusher SDK and the public API", async () => {
    const app = await registerChannelApp(daemon, 'fn-enrich');
    const api = await publicApi(app.id);
    await deploy(
      app.id,
      'enrich',
      `export default async function (event, ctx) {
  const data = { ...event.data, enrichedBy: ctx.app, total: event.data.items.reduce((sum, i) => sum + i.price, 0) };
  return { ...event, data };
}
`,
      ['--trigger', 'before-publish', '--channels', 'orders-*', '--event', 'order.created'],
    );
    const name = channelName('orders-');
    const channel = await subscribe(app, name);
    const created = collect<Record<string, unknown>>(channel, 'order.created');
    const other = collect<Record<string, unknown>>(channel, 'order.paid');

    expect((await app.server.trigger(name, 'order.created', { id: 1, items: [{ price: 2 }, { price: 3 }] })).status).toBe(200);
    expect((await api('POST', '/events', { name: 'order.created', channel: name, data: { id: 2, items: [{ price: 10 }] } })).status).toBe(200);
    // Another event name is not the function's: it goes as published.
    expect((await api('POST', '/events', { name: 'order.paid', channel: name, data: { id: 2 } })).status).toBe(200);
    await expect.poll(() => created.length + other.length).toBe(3);
    expect(created).toEqual([
      { id: 1, items: [{ price: 2 }, { price: 3 }], enrichedBy: 'fn-enrich', total: 5 },
      { id: 2, items: [{ price: 10 }], enrichedBy: 'fn-enrich', total: 10 },
    ]);
    expect(other).toEqual([{ id: 2 }]);
  });

  it('runs several functions on one trigger oldest first, each on what the one before returned', async () => {
    const app = await registerChannelApp(daemon, 'fn-chain');
    const api = await publicApi(app.id);
    const step = (tag: string): string => `export default function (event) { return { ...event, data: { ...event.data, steps: [...(event.data.steps ?? []), '${tag}'] } }; }\n`;
    // Deployed in this order: "zeta" first although its name sorts last.
    await deploy(app.id, 'zeta', step('zeta'), ['--trigger', 'before-publish']);
    await deploy(app.id, 'alpha', step('alpha'), ['--trigger', 'before-publish']);
    await deploy(app.id, 'stop', 'export default function (event) { return event.data.steps.length > 1 && event.event === "halt" ? null : event; }\n', ['--trigger', 'before-publish']);
    const listed = (await relay(['functions', 'list', '--app', app.id, '--json'], { daemon })).json<{ functions: Deployed['function'][] }>();
    expect(listed.functions.map((f) => [f.name, f.order])).toEqual([
      ['zeta', 1],
      ['alpha', 2],
      ['stop', 3],
    ]);
    const channel = await subscribe(app, 'steps');
    const got = collect<{ steps: string[] }>(channel, 'go');
    const halted = await api('POST', '/events', { name: 'halt', channel: 'steps', data: {} });
    expect(await halted.json()).toMatchObject({ dropped: { function: 'stop' } });
    expect((await api('POST', '/events', { name: 'go', channel: 'steps', data: {} })).status).toBe(200);
    await expect.poll(() => got.length).toBe(1);
    expect(got[0]).toEqual({ steps: ['zeta', 'alpha'] });
  });

  it('an after-publish function fans an event into a second channel, and what it publishes runs no after-publish function again', async () => {
    const app = await registerChannelApp(daemon, 'fn-fanout');
    const api = await publicApi(app.id);
    await deploy(
      app.id,
      'copy',
      `export default function (event, ctx) {
  ctx.publish('copy-' + event.channel, 'copied', { from: event.channel, event: event.event, data: event.data });
}
`,
      ['--trigger', 'after-publish'],
    );
    const name = channelName('orders-');
    const original = collect<unknown>(await subscribe(app, name), 'order.created');
    const copies = collect<unknown>(await subscribe(app, `copy-${name}`), 'copied');
    const copiesOfCopies = await subscribe(app, `copy-copy-${name}`);
    const second = collect<unknown>(copiesOfCopies, 'copied');
    const markers = collect<unknown>(copiesOfCopies, 'marker');

    expect((await api('POST', '/events', { name: 'order.created', channel: name, data: { id: 7 } })).status).toBe(200);
    await expect.poll(() => copies.length).toBe(1);
    expect(original).toEqual([{ id: 7 }]);
    expect(copies).toEqual([{ from: name, event: 'order.created', data: { id: 7 } }]);
    // A marker behind it: had the copy run the function again, its copy would have come first.
    expect((await api('POST', '/events', { name: 'marker', channel: `copy-copy-${name}`, data: {} })).status).toBe(200);
    await expect.poll(() => markers.length).toBe(1);
    expect(second).toEqual([]);
  });

  it('runs on client events too: a dropped one reaches nobody, a changed one arrives changed, a failing one is refused to its sender', async () => {
    const app = await registerChannelApp(daemon, 'fn-client');
    expect((await relay(['apps', 'update', app.id, '--client-events', 'on'], { daemon })).exitCode).toBe(0);
    await deploy(
      app.id,
      'moderate',
      `export default function (event) {
  if (event.data.text === 'spam') return null;
  if (event.data.text === 'boom') throw new Error('cannot moderate that');
  return { ...event, data: { ...event.data, moderated: true } };
}
`,
      ['--trigger', 'before-publish', '--channels', 'private-chat-*'],
    );
    const name = channelName('private-chat-');
    const connect = (): Promise<RawSocket> => openRawSocket(daemon, `/app/${app.key}?protocol=7&client=js&version=8.6.0`);
    const join = async (socket: RawSocket): Promise<void> => {
      const ok = socket.next((f) => f.event === 'pusher_internal:subscription_succeeded' && f.channel === name);
      socket.send({ event: 'pusher:subscribe', data: { channel: name, auth: app.server.authorizeChannel(socket.socketId, name).auth } });
      await ok;
    };
    const sender = await connect();
    const receiver = await connect();
    await join(sender);
    await join(receiver);

    sender.send({ event: 'client-msg', channel: name, data: { text: 'spam' } });
    const refused = sender.next((f) => f.event === 'pusher:error', 'pusher:error');
    sender.send({ event: 'client-msg', channel: name, data: { text: 'boom' } });
    expect(JSON.stringify((await refused).data)).toMatch(/moderate.*cannot moderate that/);
    const arrived = receiver.next((f) => f.event === 'client-msg');
    sender.send({ event: 'client-msg', channel: name, data: { text: 'hello' } });
    expect((await arrived).data).toEqual({ text: 'hello', moderated: true });
    expect(receiver.frames.filter((f) => f.event === 'client-msg')).toHaveLength(1);
  });

  it('a function that loops forever or allocates 1 GB fails its call within its limits; relayd keeps serving other apps', async () => {
    const app = await registerChannelApp(daemon, 'fn-limits');
    const other = await registerChannelApp(daemon, 'fn-bystander');
    const api = await publicApi(app.id);
    const otherApi = await publicApi(other.id);
    await deploy(app.id, 'spin', 'export default function (event) { while (true) {} }\n', ['--trigger', 'before-publish', '--channels', 'spin-*', '--timeout', '50ms']);
    await deploy(app.id, 'hog', 'export default function (event) { const gigabyte = new Uint8Array(1024 * 1024 * 1024); return { ...event, data: gigabyte.length }; }\n', ['--trigger', 'before-publish', '--channels', 'hog-*', '--memory', '32MB']);
    await deploy(app.id, 'grow', "export default function (event) { const all = []; for (;;) all.push('x'.repeat(1024 * 1024) + all.length); }\n", ['--trigger', 'before-publish', '--channels', 'grow-*']);
    const bystander = collect<unknown>(await subscribe(other, 'news'), 'update');

    const spun = await api('POST', '/events', { name: 'e', channel: 'spin-1', data: {} });
    expect(spun.status).toBe(422);
    expect(await spun.json()).toMatchObject({ error: { code: 'function_failed', function: 'spin', kind: 'timeout' } });
    const hogged = await api('POST', '/events', { name: 'e', channel: 'hog-1', data: {} });
    expect(hogged.status).toBe(422);
    expect(await hogged.json()).toMatchObject({ error: { code: 'function_failed', function: 'hog', kind: 'memory' } });
    const grown = await api('POST', '/events', { name: 'e', channel: 'grow-1', data: {} });
    expect(grown.status).toBe(422);
    // Near its limit QuickJS collects garbage on every allocation, which no interrupt stops: the thread's watchdog may end it first.
    expect(await grown.json()).toMatchObject({ error: { code: 'function_failed', function: 'grow', kind: expect.stringMatching(/^(memory|timeout)$/) } });

    // The other app, and this app's other channels, are served as ever.
    expect((await otherApi('POST', '/events', { name: 'update', channel: 'news', data: { n: 1 } })).status).toBe(200);
    await expect.poll(() => bystander.length).toBe(1);

    // A built-in that runs long is not stopped by QuickJS between its steps: its thread is, and relayd's event loop never waits for it.
    await deploy(app.id, 'search', "export default function (event) { const s = 'x'.repeat(1000000) + '!'; while (true) s.indexOf('y'); }\n", ['--trigger', 'before-publish', '--channels', 'search-*']);
    const searching = api('POST', '/events', { name: 'e', channel: 'search-1', data: {} });
    expect((await otherApi('POST', '/events', { name: 'update', channel: 'news', data: { n: 2 } })).status).toBe(200);
    await expect.poll(() => bystander.length).toBe(2);
    const searched = await searching;
    expect(searched.status).toBe(422);
    expect(await searched.json()).toMatchObject({ error: { code: 'function_failed', function: 'search', kind: 'timeout' } });
    expect((await api('POST', '/events', { name: 'e', channel: 'plain', data: {} })).status).toBe(200);

    // With --on-error pass, a failing call lets the event through unchanged.
    await deploy(app.id, 'spin', 'export default function (event) { while (true) {} }\n', ['--trigger', 'before-publish', '--channels', 'spin-*', '--on-error', 'pass']);
    const through = collect<unknown>(await subscribe(app, 'spin-2'), 'e');
    expect((await api('POST', '/events', { name: 'e', channel: 'spin-2', data: { kept: true } })).status).toBe(200);
    await expect.poll(() => through.length).toBe(1);
    expect(through).toEqual([{ kept: true }]);
    await eventually(async () => {
      const shown = (await relay(['functions', 'show', 'spin', '--app', app.id, '--json'], { daemon })).json<Deployed>();
      return shown.function.stats.timeouts >= 2;
    }, 10_000, 'the timeouts of spin');
  }, 60_000); // Two calls wait out the thread's watchdog (2 s each) and its restart.

  it('has no require, process, fetch or timers; `functions test` runs a function on an event without publishing it', async () => {
    const app = await registerChannelApp(daemon, 'fn-sandbox');
    await deploy(
      app.id,
      'probe',
      `export default function (event) {
  return { ...event, data: { require: typeof require, process: typeof process, fetch: typeof fetch, setTimeout: typeof setTimeout, globalThis: Object.keys(globalThis).filter((k) => !k.startsWith('__')).sort() } };
}
`,
      ['--trigger', 'before-publish'],
    );
    const channel = collect<unknown>(await subscribe(app, 'probe'), 'e');
    const tested = await relay(['functions', 'test', 'probe', '--app', app.id, '--event', JSON.stringify({ channel: 'probe', event: 'e', data: {} }), '--json'], { daemon });
    expect(tested.exitCode, tested.stderr).toBe(0);
    const result = tested.json<{ outcome: string; result: { data: Record<string, unknown> } }>();
    expect(result.outcome).toBe('changed');
    expect(result.result.data).toMatchObject({ require: 'undefined', process: 'undefined', fetch: 'undefined', setTimeout: 'undefined' });

    await deploy(app.id, 'fs', "export default function (event) { const fs = require('fs'); return { ...event, data: fs.readFileSync('/etc/passwd', 'utf8') }; }\n", ['--trigger', 'before-publish']);
    const failed = await relay(['functions', 'test', 'fs', '--app', app.id, '--event', JSON.stringify({ channel: 'probe', event: 'e', data: {} }), '--json'], { daemon });
    expect(failed.exitCode).toBe(1);
    expect(failed.json()).toMatchObject({ outcome: 'failed', error: { kind: 'error', message: expect.stringMatching(/require/) } });
    // Nothing was published by either test.
    const api = await publicApi(app.id);
    const history = (await (await api('GET', '/history?limit=10')).json()) as { events: unknown[] };
    expect(history.events).toEqual([]);
    expect(channel).toEqual([]);
  });

  it("`functions logs` shows what a function printed, and --follow prints new lines as they come", async () => {
    const app = await registerChannelApp(daemon, 'fn-logs');
    const api = await publicApi(app.id);
    await deploy(app.id, 'chatty', "export default function (event) { console.log('saw', event.event, event.data.n); console.warn('careful'); return event; }\n", ['--trigger', 'before-publish']);
    for (const n of [1, 2]) expect((await api('POST', '/events', { name: 'tick', channel: 'clock', data: { n } })).status).toBe(200);
    await eventually(async () => {
      const logs = await relay(['functions', 'logs', 'chatty', '--app', app.id], { daemon });
      return logs.exitCode === 0 && logs.stdout.includes('saw tick 1') && logs.stdout.includes('saw tick 2') && logs.stdout.includes('careful');
    }, 10_000, 'the lines of chatty');
    const json = (await relay(['functions', 'logs', 'chatty', '--app', app.id, '--json'], { daemon })).json<{ logs: { level: string; message: string; version: number }[] }>();
    expect(json.logs.map((l) => `${l.level} ${l.message}`)).toEqual(['log saw tick 1', 'warn careful', 'log saw tick 2', 'warn careful']);

    const following = relayRunning(['functions', 'logs', 'chatty', '--app', app.id, '--limit', '1', '--follow'], { daemon });
    await following.waitFor('stderr', /Ctrl-C/);
    expect((await api('POST', '/events', { name: 'tick', channel: 'clock', data: { n: 3 } })).status).toBe(200);
    await following.waitFor('stdout', 'saw tick 3');
    // The newest line first (--limit 1), then only what came after it.
    expect(following.stdout()).not.toContain('saw tick 1');
    expect(following.stdout()).not.toContain('saw tick 2');
    expect((await following.interrupt()).exitCode).toBe(0);
  });

  it('rollback restores the previous version; show and list say which runs', async () => {
    const app = await registerChannelApp(daemon, 'fn-rollback');
    const api = await publicApi(app.id);
    const tag = (v: string): string => `export default function (event) { return { ...event, data: { ...event.data, by: '${v}' } }; }\n`;
    await deploy(app.id, 'tagger', tag('v1'), ['--trigger', 'before-publish']);
    const second = await deploy(app.id, 'tagger', tag('v2'), ['--trigger', 'before-publish']);
    expect(second.function).toMatchObject({ version: 2, active: 2, latest: 2 });
    const got = collect<{ by: string }>(await subscribe(app, 'tags'), 'e');
    expect((await api('POST', '/events', { name: 'e', channel: 'tags', data: {} })).status).toBe(200);
    await expect.poll(() => got.length).toBe(1);

    const rolled = await relay(['functions', 'rollback', 'tagger', '--app', app.id, '--to', '1'], { daemon });
    expect(rolled.exitCode, rolled.stderr).toBe(0);
    expect(rolled.stdout + rolled.stderr).toMatch(/Rolled back tagger to version 1 \(was 2\)/);
    expect((await api('POST', '/events', { name: 'e', channel: 'tags', data: {} })).status).toBe(200);
    await expect.poll(() => got.length).toBe(2);
    expect(got.map((d) => d.by)).toEqual(['v2', 'v1']);
    const shown = (await relay(['functions', 'show', 'tagger', '--app', app.id, '--json'], { daemon })).json<Deployed & { function: { source: string } }>();
    expect(shown.function).toMatchObject({ version: 1, active: 1, latest: 2 });
    expect(shown.function.source).toContain("by: 'v1'");
    const v2 = (await relay(['functions', 'show', 'tagger', '--app', app.id, '--version', '2', '--json'], { daemon })).json<Deployed & { function: { source: string } }>();
    expect(v2.function.source).toContain("by: 'v2'");
    expect((await relay(['functions', 'rollback', 'tagger', '--app', app.id, '--to', '9'], { daemon })).exitCode).toBe(3);

    const removed = await relay(['functions', 'remove', 'tagger', '--app', app.id, '--yes'], { daemon });
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect((await api('POST', '/events', { name: 'e', channel: 'tags', data: {} })).status).toBe(200);
    await expect.poll(() => got.length).toBe(3);
    expect(got[2]).toEqual({});
    expect((await relay(['functions', 'show', 'tagger', '--app', app.id], { daemon })).exitCode).toBe(3);
  });

  it('refuses a source that does not compile or has no handler, naming the line and column', async () => {
    const app = await registerChannelApp(daemon, 'fn-deploy-errors');
    const file = join(tempDir(), 'broken.js');
    writeFileSync(file, 'export default function (event) {\n  return { ...event,, };\n}\n');
    const broken = await relay(['functions', 'deploy', '--app', app.id, '--name', 'broken', '--file', file, '--trigger', 'before-publish'], { daemon });
    expect(broken.exitCode).toBe(2);
    expect(broken.stderr).toMatch(/line 2/);
    expect(broken.stderr).toMatch(/column \d+/);
    writeFileSync(file, 'export const handler = (event) => event;\n');
    const noDefault = await relay(['functions', 'deploy', '--app', app.id, '--name', 'broken', '--file', file, '--trigger', 'before-publish'], { daemon });
    expect(noDefault.exitCode).toBe(2);
    expect(noDefault.stderr).toMatch(/default export/);
    expect((await relay(['functions', 'list', '--app', app.id, '--json'], { daemon })).json()).toEqual({ functions: [] });
  });

  it('needs functions:manage on the public API: a token without it gets 403 on every route', async () => {
    const app = await registerChannelApp(daemon, 'fn-scopes');
    const allowed = await publicApi(app.id, daemon, ['functions:manage']);
    const refused = await publicApi(app.id, daemon, ['events:publish', 'schemas:manage', 'channels:manage']);
    const source = 'export default (event) => event;\n';
    const created = await allowed('POST', '/functions', { name: 'noop', source, trigger: 'before-publish' });
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({ function: { name: 'noop', version: 1, source } });
    expect((await allowed('GET', '/functions')).status).toBe(200);
    const routes: [string, string, unknown?][] = [
      ['GET', '/functions'],
      ['POST', '/functions', { name: 'noop', source, trigger: 'before-publish' }],
      ['GET', '/functions/noop'],
      ['GET', '/functions/noop/versions/1'],
      ['POST', '/functions/noop/rollback', { version: 1 }],
      ['GET', '/functions/noop/logs'],
      ['GET', '/functions/noop/logs/stream'],
      ['POST', '/functions/noop/test', { event: { channel: 'x', event: 'e', data: {} } }],
      ['DELETE', '/functions/noop'],
    ];
    for (const [method, path, body] of routes) {
      const res = await refused(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(await res.json()).toMatchObject({ error: { code: 'insufficient_scope' } });
    }
    expect((await allowed('DELETE', '/functions/noop')).status).toBe(200);
  });
});

describe('edge functions on agent events', () => {
  it('a before-dispatch function redacts a field before the agent sees it (and before it is stored), or rejects the event', async () => {
    const registered = await relay(['apps', 'register', '--id', 'fn-agents', '--name', 'Agents', '-q'], { daemon });
    const appToken = registered.stdout.trim();
    const agentToken = (await relay(['agents', 'register', '--id', 'redacted', '--name', 'Redacted', '-q'], { daemon })).stdout.trim();
    await deploy(
      'fn-agents',
      'redact',
      `export default function (event) {
  if (event.payload.blocked) return null;
  const { ssn, ...rest } = event.payload;
  return { ...event, payload: { ...rest, redacted: ssn !== undefined } };
}
`,
      ['--trigger', 'before-dispatch', '--agent', 'redacted'],
    );
    const seen: AgentEvent[] = [];
    const agent = new RelayAgent({ url: daemon.url, token: agentToken, handler: (event) => (seen.push(event), 'ok') });
    const app = new RelayApp({ url: daemon.url, token: appToken });
    await Promise.all([agent.connect(), app.connect()]);
    try {
      expect(await app.send('redacted', 'case-1', { name: 'Ada', ssn: '123-45-6789' })).toBe('ok');
      expect(seen.map((e) => e.payload)).toEqual([{ name: 'Ada', redacted: true }]);
      const rejected = await app.send('redacted', 'case-1', { blocked: true }).catch((err: unknown) => err);
      expect(rejected).toMatchObject({ code: 'function_rejected' });
      expect(seen).toHaveLength(1);
      const listed = (await relay(['events', 'list', '--app', 'fn-agents', '--json'], { daemon })).json<{ events: { id: string; status: string }[] }>();
      const delivered = listed.events.find((e) => e.status !== 'rejected') as { id: string };
      const shown = (await relay(['events', 'show', delivered.id, '--json'], { daemon })).json<{ event: { payload: unknown } }>();
      expect(JSON.stringify(shown.event.payload)).not.toContain('123-45-6789');
    } finally {
      await Promise.all([app.close(), agent.close()]);
    }
  });
});

describe.skipIf(!clusterReady)('edge functions across nodes', () => {
  it('a function deployed and rolled back through node A runs, as it is now, on publishes through node B', async () => {
    const { nodes } = await startCluster();
    const [a, b] = nodes as [Daemon, Daemon];
    const app = await registerChannelApp(a, 'fn-cluster');
    const apiB = await publicApi(app.id, b);
    const tag = (v: string): string => `export default function (event) { return { ...event, data: { by: '${v}' } }; }\n`;
    await deploy(app.id, 'tagger', tag('v1'), ['--trigger', 'before-publish'], a);
    const got = collect<{ by: string }>(await subscribe(app, 'tags', b), 'e');
    expect((await apiB('POST', '/events', { name: 'e', channel: 'tags', data: {} })).status).toBe(200);
    await expect.poll(() => got.length).toBe(1);
    // B has v1 cached now; the deploy through A reaches it at once.
    await deploy(app.id, 'tagger', tag('v2'), ['--trigger', 'before-publish'], a);
    expect((await apiB('POST', '/events', { name: 'e', channel: 'tags', data: {} })).status).toBe(200);
    await expect.poll(() => got.length).toBe(2);
    expect((await relay(['functions', 'rollback', 'tagger', '--app', app.id, '--to', '1'], { daemon: a })).exitCode).toBe(0);
    expect((await apiB('POST', '/events', { name: 'e', channel: 'tags', data: {} })).status).toBe(200);
    await expect.poll(() => got.length).toBe(3);
    expect(got.map((d) => d.by)).toEqual(['v1', 'v2', 'v1']);
  });
});
