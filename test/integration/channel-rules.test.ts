import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { startCluster } from '../helpers/cluster.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { channelName, openRawSocket, registerChannelApp, type ChannelApp, type Frame, type RawSocket } from '../helpers/pusher.js';
import { servicesFor } from '../helpers/services.js';

/**
 * Channel rules through the real CLI, the public API with scoped tokens, and real Pusher
 * subscribers: what a rule changes is seen where a user would see it.
 */

const RULE_KEYS = ['id', 'appId', 'pattern', 'schema', 'schemaEvent', 'clientEvents', 'history', 'retentionMs', 'maxMembers', 'createdAt', 'updatedAt'].sort();

interface Rule {
  id: string;
  pattern: string;
  [key: string]: unknown;
}

async function addRule(daemon: Daemon, app: string, pattern: string, ...flags: string[]): Promise<Rule> {
  const added = await relay(['channels', 'rules', 'add', '--app', app, '--pattern', pattern, ...flags, '--json'], { daemon });
  expect(added.exitCode, added.stderr).toBe(0);
  return added.json<{ rule: Rule }>().rule;
}

async function token(daemon: Daemon, app: string, ...scopes: string[]): Promise<string> {
  const created = await relay(['tokens', 'create', '--app', app, '--name', `t-${scopes.join('-') || 'all'}`, ...scopes.flatMap((s) => ['--scope', s]), '-q'], { daemon });
  expect(created.exitCode, created.stderr).toBe(0);
  return created.stdout.trim();
}

const api = (daemon: Daemon, secret: string, method: string, path: string, body?: unknown): Promise<Response> =>
  fetch(`${daemon.url}/api/v1/apps/${path}`, {
    method,
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

/** A raw subscriber of `name`, authorized as the app's auth endpoint would (private and presence channels). */
async function subscribe(daemon: Daemon, app: ChannelApp, name: string, userId?: string): Promise<{ socket: RawSocket; answer: Frame }> {
  const socket = await openRawSocket(daemon, `/app/${app.key}?protocol=7`);
  const data: Record<string, string> = { channel: name };
  if (name.startsWith('private-') || name.startsWith('presence-')) {
    const channelData = name.startsWith('presence-') ? JSON.stringify({ user_id: userId ?? socket.socketId }) : undefined;
    const signed = channelData === undefined ? `${socket.socketId}:${name}` : `${socket.socketId}:${name}:${channelData}`;
    data['auth'] = `${app.key}:${createHmac('sha256', app.secret).update(signed).digest('hex')}`;
    if (channelData !== undefined) data['channel_data'] = channelData;
  }
  const answer = socket.next((f) => f.channel === name && (f.event === 'pusher_internal:subscription_succeeded' || f.event === 'pusher:error' || f.event === 'pusher:subscription_error'), `the answer to subscribing to ${name}`);
  socket.send({ event: 'pusher:subscribe', data });
  return { socket, answer: await answer };
}

async function subscribed(daemon: Daemon, app: ChannelApp, name: string, userId?: string): Promise<RawSocket> {
  const { socket, answer } = await subscribe(daemon, app, name, userId);
  expect(answer.event, JSON.stringify(answer)).toBe('pusher_internal:subscription_succeeded');
  return socket;
}

const historyOf = async (daemon: Daemon, app: string): Promise<{ id: string; channels: string[] }[]> => {
  const listed = await relay(['events', 'list', '--app', app, '--json'], { daemon });
  expect(listed.exitCode, listed.stderr).toBe(0);
  return listed.json<{ events: { id: string; channels: string[] }[] }>().events;
};

describe('channel rules', () => {
  it('are added, listed, shown, updated and removed through the CLI, with fixed JSON shapes, exit codes and the audit log', async () => {
    const daemon = await startDaemon();
    await registerChannelApp(daemon);

    const rule = await addRule(daemon, 'acme-pm', 'orders-*', '--history', 'off', '--retention', '7d');
    expect(Object.keys(rule).sort()).toEqual(RULE_KEYS);
    expect(rule).toMatchObject({ id: expect.stringMatching(/^chr_[0-9A-Z]{26}$/), appId: 'acme-pm', pattern: 'orders-*', schema: null, schemaEvent: null, clientEvents: null, history: false, retentionMs: 7 * 86_400_000, maxMembers: null });
    expect(new Date(rule.createdAt as string).toISOString()).toBe(rule.createdAt);

    // The same pattern again: a conflict (exit 5); bad patterns and values: usage errors (exit 2).
    const duplicate = await relay(['channels', 'rules', 'add', '--app', 'acme-pm', '--pattern', 'orders-*'], { daemon });
    expect(duplicate.exitCode).toBe(5);
    expect(duplicate.stderr).toMatch(/pattern "orders-\*" already/);
    for (const pattern of ['orders-*-eu*', 'a**', 'or ders', '*orders', '']) {
      const bad = await relay(['channels', 'rules', 'add', '--app', 'acme-pm', '--pattern', pattern], { daemon });
      expect(bad.exitCode, `${pattern}: ${bad.stderr}`).toBe(2);
      expect(bad.stderr).toMatch(/pattern/);
    }
    for (const flags of [['--history', 'maybe'], ['--retention', 'forever'], ['--max-members', 'many'], ['--max-members', '0'], ['--retention', '10s']]) {
      const bad = await relay(['channels', 'rules', 'add', '--app', 'acme-pm', '--pattern', 'x', ...flags], { daemon });
      expect(bad.exitCode, `${flags.join(' ')}: ${bad.stderr}`).toBe(2);
    }
    expect((await relay(['channels', 'rules', 'add', '--app', 'nope', '--pattern', 'x'], { daemon })).exitCode).toBe(3);
    expect((await relay(['channels', 'rules', 'add', '--pattern', 'x'], { daemon })).exitCode).toBe(2);

    const listed = await relay(['channels', 'rules', 'list', '--app', 'acme-pm', '--json'], { daemon });
    expect(listed.json()).toEqual({ rules: [rule] });
    const plain = await relay(['channels', 'rules', 'list', '--app', 'acme-pm'], { daemon });
    expect(plain.stdout).toBe(`${rule.id}\torders-*\t-\t-\toff\t7d\t-\n`);
    expect((await relay(['channels', 'rules', 'show', rule.id, '--json'], { daemon })).json()).toEqual({ rule });
    expect((await relay(['channels', 'rules', 'show', rule.id, '--jq', '.rule.pattern'], { daemon })).stdout.trim()).toBe('orders-*');

    // `default` resets a setting to inherit; the others stay.
    // A rule binds only a schema the app has.
    expect((await relay(['channels', 'rules', 'update', rule.id, '--schema', 'order'], { daemon })).exitCode).toBe(3);
    const schema = await relay(['schemas', 'add', '--app', 'acme-pm', '--name', 'order', '--file', '-'], { daemon, input: JSON.stringify({ type: 'object' }) });
    expect(schema.exitCode, schema.stderr).toBe(0);
    const updated = await relay(['channels', 'rules', 'update', rule.id, '--history', 'default', '--max-members', '5', '--schema', 'order', '--schema-event', 'created', '--json'], { daemon });
    expect(updated.exitCode, updated.stderr).toBe(0);
    expect(updated.json<{ rule: Rule }>().rule).toMatchObject({ history: null, maxMembers: 5, retentionMs: 7 * 86_400_000, schema: 'order', schemaEvent: 'created' });
    // An event name for the schema without a schema says nothing: refused.
    expect((await relay(['channels', 'rules', 'update', rule.id, '--schema', 'none'], { daemon })).exitCode).toBe(2);
    const cleared = await relay(['channels', 'rules', 'update', rule.id, '--schema', 'none', '--schema-event', 'none', '--json'], { daemon });
    expect(cleared.json<{ rule: Rule }>().rule).toMatchObject({ schema: null, schemaEvent: null });
    expect((await relay(['channels', 'rules', 'update', rule.id], { daemon })).exitCode).toBe(2);

    const unknown = 'chr_00000000000000000000000000';
    for (const verb of [['show', unknown], ['update', unknown, '--history', 'on'], ['remove', unknown, '--yes']]) {
      const missing = await relay(['channels', 'rules', ...verb], { daemon });
      expect(missing.exitCode, `${verb.join(' ')}: ${missing.stderr}`).toBe(3);
      expect(missing.stderr).toMatch(/channel rule chr_0+ not found/);
    }
    expect((await relay(['channels', 'rules', 'show', 'wh_nope'], { daemon })).exitCode).toBe(2);

    // Destructive: --yes without a TTY.
    const unconfirmed = await relay(['channels', 'rules', 'remove', rule.id], { daemon });
    expect(unconfirmed.exitCode).toBe(2);
    expect(unconfirmed.stderr).toMatch(/--yes/);
    const removed = await relay(['channels', 'rules', 'remove', rule.id, '--yes', '--json'], { daemon });
    expect(removed.exitCode, removed.stderr).toBe(0);
    expect(removed.json<{ rule: Rule }>().rule.id).toBe(rule.id);
    expect((await relay(['channels', 'rules', 'show', rule.id], { daemon })).exitCode).toBe(3);
    expect((await relay(['channels', 'rules', 'list', '--app', 'acme-pm', '--json'], { daemon })).json()).toEqual({ rules: [] });

    const audit = (await relay(['audit', '--json'], { daemon })).json<{ entries: { action: string; targetId: string; details: Record<string, unknown> }[] }>();
    const actions = audit.entries.filter((e) => e.action.startsWith('channel_rule.')).map((e) => e.action);
    expect(actions.sort()).toEqual(['channel_rule.add', 'channel_rule.remove', 'channel_rule.update', 'channel_rule.update']);
    expect(audit.entries.find((e) => e.action === 'channel_rule.add')).toMatchObject({ targetId: 'acme-pm', details: { ruleId: rule.id, pattern: 'orders-*', history: false } });
  }, 60_000); // About 40 CLI calls in a row: 15 s alone, twice that on a busy CI machine.

  it('rules test says which rule applies and why: an exact name beats any prefix, a longer prefix a shorter one', async () => {
    const daemon = await startDaemon();
    await registerChannelApp(daemon);
    const test = async (channel: string) => {
      const tested = await relay(['channels', 'rules', 'test', '--app', 'acme-pm', channel, '--json'], { daemon });
      expect(tested.exitCode, tested.stderr).toBe(0);
      return tested.json<{ channel: string; rule: Rule | null; reason: string; considered: { ruleId: string; pattern: string; matches: boolean; why: string }[]; effective: Record<string, unknown> }>();
    };

    const none = await test('orders-eu-1');
    expect(Object.keys(none).sort()).toEqual(['channel', 'considered', 'effective', 'reason', 'rule']);
    expect(none).toMatchObject({ channel: 'orders-eu-1', rule: null, considered: [] });
    expect(none.reason).toMatch(/no rule matches/);
    // Inherited: the app's switch and limit, relayd's retention, history on.
    expect(none.effective).toEqual({ schema: null, schemaEvent: null, clientEvents: false, history: true, retentionMs: 30 * 86_400_000, maxMembers: 100 });

    const short = await addRule(daemon, 'acme-pm', 'orders-*', '--history', 'off');
    const long = await addRule(daemon, 'acme-pm', 'orders-eu-*', '--client-events', 'on');
    const exact = await addRule(daemon, 'acme-pm', 'orders-eu-1', '--max-members', '3');

    const onExact = await test('orders-eu-1');
    expect(onExact.rule?.id).toBe(exact.id);
    expect(onExact.reason).toMatch(/exact/);
    expect(onExact.considered).toHaveLength(3);
    expect(onExact.considered.every((c) => c.matches)).toBe(true);
    expect(onExact.considered.find((c) => c.ruleId === short.id)?.why).toMatch(/exact rule "orders-eu-1" wins/);
    // The exact rule sets only the member limit: the rest is the app's.
    expect(onExact.effective).toMatchObject({ maxMembers: 3, history: true, clientEvents: false });

    const onLong = await test('orders-eu-2');
    expect(onLong.rule?.id).toBe(long.id);
    expect(onLong.reason).toMatch(/longest of 2 matching prefixes/);
    expect(onLong.considered.find((c) => c.ruleId === exact.id)).toMatchObject({ matches: false });
    expect(onLong.considered.find((c) => c.ruleId === short.id)).toMatchObject({ matches: true, why: expect.stringMatching(/longer prefix "orders-eu-\*" wins/) });
    expect(onLong.effective).toMatchObject({ clientEvents: true, history: true });

    const onShort = await test('orders-us-1');
    expect(onShort.rule?.id).toBe(short.id);
    expect(onShort.effective).toMatchObject({ history: false });

    const human = await relay(['channels', 'rules', 'test', '--app', 'acme-pm', 'orders-eu-2'], { daemon });
    expect(human.exitCode).toBe(0);
    expect(human.stdout).toMatch(/orders-eu-\*/);
    expect((await relay(['channels', 'rules', 'test', '--app', 'acme-pm', 'bad channel'], { daemon })).exitCode).toBe(2);
  });

  it('are read with channels:read and changed with channels:manage through the public API; other tokens get 403', async () => {
    const daemon = await startDaemon();
    await registerChannelApp(daemon);
    await registerChannelApp(daemon, 'billing');
    const reader = await token(daemon, 'acme-pm', 'channels:read');
    const manager = await token(daemon, 'acme-pm', 'channels:manage');
    const publisher = await token(daemon, 'acme-pm', 'events:publish');

    const refused = await api(daemon, reader, 'POST', 'acme-pm/channel-rules', { pattern: 'orders-*' });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'insufficient_scope', message: expect.stringMatching(/channels:manage/) });
    expect((await api(daemon, publisher, 'GET', 'acme-pm/channel-rules')).status).toBe(403);

    const created = await api(daemon, manager, 'POST', 'acme-pm/channel-rules', { pattern: 'orders-*', history: false, retentionMs: 86_400_000 });
    expect(created.status).toBe(201);
    const { rule } = (await created.json()) as { rule: Rule };
    expect(rule).toMatchObject({ appId: 'acme-pm', pattern: 'orders-*', history: false, retentionMs: 86_400_000, clientEvents: null });
    expect((await api(daemon, manager, 'POST', 'acme-pm/channel-rules', { pattern: 'orders-*' })).status).toBe(409);
    const bad = await api(daemon, manager, 'POST', 'acme-pm/channel-rules', { pattern: 'a*b', history: 'no' });
    expect(bad.status).toBe(400);

    const list = await api(daemon, reader, 'GET', 'acme-pm/channel-rules');
    expect(list.status).toBe(200);
    expect(await list.json()).toEqual({ rules: [rule] });
    expect(await (await api(daemon, reader, 'GET', `acme-pm/channel-rules/${rule.id}`)).json()).toEqual({ rule });
    expect((await api(daemon, reader, 'PATCH', `acme-pm/channel-rules/${rule.id}`, { history: null })).status).toBe(403);
    expect((await api(daemon, reader, 'DELETE', `acme-pm/channel-rules/${rule.id}`)).status).toBe(403);
    // A token with neither channels scope is refused on every route.
    for (const [method, path] of [['GET', `acme-pm/channel-rules/${rule.id}`], ['POST', 'acme-pm/channel-rules'], ['PATCH', `acme-pm/channel-rules/${rule.id}`], ['DELETE', `acme-pm/channel-rules/${rule.id}`]] as const) {
      expect((await api(daemon, publisher, method, path, method === 'GET' || method === 'DELETE' ? undefined : { pattern: 'x-*' })).status).toBe(403);
    }

    const patched = await api(daemon, manager, 'PATCH', `acme-pm/channel-rules/${rule.id}`, { history: null, maxMembers: 10 });
    expect(patched.status).toBe(200);
    expect(((await patched.json()) as { rule: Rule }).rule).toMatchObject({ history: null, maxMembers: 10, retentionMs: 86_400_000 });

    // Another app's rule is not this token's to see or change; another app's path is forbidden.
    const theirs = await addRule(daemon, 'billing', 'invoices-*');
    const both = await token(daemon, 'acme-pm', 'channels:*');
    const foreign = await api(daemon, both, 'GET', `acme-pm/channel-rules/${theirs.id}`);
    expect(foreign.status, await foreign.clone().text()).toBe(404);
    expect((await api(daemon, both, 'DELETE', `acme-pm/channel-rules/${theirs.id}`)).status).toBe(404);
    expect((await api(daemon, both, 'GET', 'billing/channel-rules')).status).toBe(403);
    expect((await api(daemon, both, 'GET', 'acme-pm/channel-rules/chr_nope')).status).toBe(400);

    const deleted = await api(daemon, manager, 'DELETE', `acme-pm/channel-rules/${rule.id}`);
    expect(deleted.status).toBe(200);
    expect((await api(daemon, both, 'GET', `acme-pm/channel-rules/${rule.id}`)).status).toBe(404);
    const audit = (await relay(['audit', '--json'], { daemon })).json<{ entries: { action: string; actor: string }[] }>();
    expect(audit.entries.filter((e) => e.action === 'channel_rule.remove')).toEqual([expect.objectContaining({ actor: expect.stringMatching(/^token:/) })]);
  });

  it("turn client events on where the app has them off, and off where it has them on, naming the rule", async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    await addRule(daemon, app.id, 'private-chat-*', '--client-events', 'on');
    const chat = channelName('private-chat-');
    const other = channelName('private-');

    const sender = await subscribed(daemon, app, chat);
    const receiver = await subscribed(daemon, app, chat);
    const got = receiver.next((f) => f.event === 'client-typing', 'the client event');
    sender.send({ event: 'client-typing', channel: chat, data: { who: 'ann' } });
    expect(await got).toMatchObject({ event: 'client-typing', channel: chat, data: { who: 'ann' } });

    // Elsewhere the app's switch (off) holds.
    const elsewhere = await subscribed(daemon, app, other);
    const refusal = elsewhere.next((f) => f.event === 'pusher:error', 'the refusal');
    elsewhere.send({ event: 'client-typing', channel: other, data: {} });
    expect((await refusal).data).toMatchObject({ message: expect.stringMatching(/client events are off for app "acme-pm"/) });

    // The app turns them on; a rule turns them off for its channels, and says so.
    expect((await relay(['apps', 'update', app.id, '--client-events', 'on'], { daemon })).exitCode).toBe(0);
    const quiet = await addRule(daemon, app.id, 'private-quiet-*', '--client-events', 'off');
    const quietName = channelName('private-quiet-');
    const hushed = await subscribed(daemon, app, quietName);
    const listener = await subscribed(daemon, app, quietName);
    const refused = hushed.next((f) => f.event === 'pusher:error', 'the refusal');
    hushed.send({ event: 'client-typing', channel: quietName, data: {} });
    expect((await refused).data).toMatchObject({ message: expect.stringContaining(`client events are off on ${quietName} by channel rule ${quiet.id}`) });
    // Nothing reached the other subscriber: a client event on an open channel behind it arrives, and is the only one.
    const openName = channelName('private-');
    const a = await subscribed(daemon, app, openName);
    const b = await subscribed(daemon, app, openName);
    const marker = b.next((f) => f.event === 'client-marker', 'the marker');
    a.send({ event: 'client-marker', channel: openName, data: {} });
    await marker;
    hushed.send({ event: 'client-typing', channel: quietName, data: {} });
    await hushed.next((f) => f.event === 'pusher:error', 'the second refusal');
    expect(listener.frames.filter((f) => f.event.startsWith('client-'))).toEqual([]);
  });

  it("limit a presence channel's members below the app's limit, refused as the app's limit is", async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const rule = await addRule(daemon, app.id, 'presence-small-*', '--max-members', '1');
    const small = channelName('presence-small-');
    await subscribed(daemon, app, small, 'ann');
    const { answer } = await subscribe(daemon, app, small, 'bob');
    expect(answer.event).toBe('pusher:error');
    expect(answer.data).toMatchObject({ code: 4004, message: expect.stringContaining(`presence channel ${small} is full: it has 1 members, the limit of channel rule ${rule.id}`) });
    // Another presence channel keeps the app's limit.
    const big = channelName('presence-');
    await subscribed(daemon, app, big, 'ann');
    await subscribed(daemon, app, big, 'bob');
    // Raised: the next subscription gets in.
    expect((await relay(['channels', 'rules', 'update', rule.id, '--max-members', '2'], { daemon })).exitCode).toBe(0);
    await subscribed(daemon, app, small, 'bob');
  });

  it('with history off, deliver publishes (public API, batch, Pusher REST) and answer them, but keep nothing in history', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    await addRule(daemon, app.id, 'ticks-*', '--history', 'off');
    const secret = await token(daemon, app.id, 'events:*');
    const ticks = channelName('ticks-');
    const kept = channelName('orders-');
    const subscriber = await subscribed(daemon, app, ticks);

    const got = subscriber.next((f) => f.event === 'tick' && f.data === '1', 'the tick');
    const published = await api(daemon, secret, 'POST', `${app.id}/events`, { name: 'tick', channel: ticks, data: '1' });
    expect(published.status).toBe(200);
    const { id } = (await published.json()) as { id: string };
    expect(id).toMatch(/^evt_/);
    await got;
    expect((await relay(['events', 'show', id], { daemon })).exitCode).toBe(3);

    const batched = subscriber.next((f) => f.event === 'tick' && f.data === '2', 'the batched tick');
    const batch = await api(daemon, secret, 'POST', `${app.id}/batch_events`, { batch: [{ name: 'tick', channel: ticks, data: '2' }, { name: 'order', channel: kept, data: 'o' }] });
    expect(batch.status).toBe(200);
    const { ids } = (await batch.json()) as { ids: string[] };
    expect(ids).toHaveLength(2);
    await batched;

    const viaSdk = subscriber.next((f) => f.event === 'tick' && f.data === '3', 'the SDK tick');
    expect((await app.server.trigger(ticks, 'tick', '3')).status).toBe(200);
    await viaSdk;
    // An event to a recorded channel as well as a ticks- one is recorded.
    const both = await api(daemon, secret, 'POST', `${app.id}/events`, { name: 'both', channels: [ticks, kept], data: 'b' });
    const bothId = ((await both.json()) as { id: string }).id;

    const history = await historyOf(daemon, app.id);
    expect(history.map((e) => e.id)).toEqual([bothId, ids[1]]);
    expect(history.flatMap((e) => e.channels)).not.toContain(undefined);
  });

  it('relay scopes says what channels:read and channels:manage grant', async () => {
    const scopes = await relay(['scopes', '--json']);
    expect(JSON.stringify(scopes.json())).toMatch(/channel rules/);
  });
});

const ready = await servicesFor(['postgres', 'redis'], 'the cluster channel rule tests (two relayd on PostgreSQL + Redis)');

describe.skipIf(!ready)('channel rules across two relayd nodes', () => {
  it('a rule added through node A applies to the next publish and subscription on node B', async () => {
    const cluster = await startCluster(['node-a', 'node-b']);
    const [a, b] = cluster.nodes as [Daemon, Daemon];
    const app = await registerChannelApp(a);
    const secret = await token(a, app.id, 'events:publish');
    const ticks = channelName('ticks-');
    const room = channelName('presence-room-');

    // Node B reads (and caches) the app's rules: none yet.
    const subscriber = await subscribed(b, app, ticks);
    const first = subscriber.next((f) => f.event === 'tick' && f.data === 'recorded', 'the first tick');
    const recorded = await api(b, secret, 'POST', `${app.id}/events`, { name: 'tick', channel: ticks, data: 'recorded' });
    const recordedId = ((await recorded.json()) as { id: string }).id;
    await first;
    await subscribed(b, app, room, 'ann');

    await addRule(a, app.id, 'ticks-*', '--history', 'off');
    await addRule(a, app.id, 'presence-room-*', '--max-members', '1');

    // The very next publish on B is delivered and not recorded; the next member is refused.
    const second = subscriber.next((f) => f.event === 'tick' && f.data === 'dropped', 'the second tick');
    const dropped = await api(b, secret, 'POST', `${app.id}/events`, { name: 'tick', channel: ticks, data: 'dropped' });
    expect(dropped.status).toBe(200);
    await second;
    expect((await historyOf(b, app.id)).map((e) => e.id)).toEqual([recordedId]);
    const { answer } = await subscribe(b, app, room, 'bob');
    expect(answer).toMatchObject({ event: 'pusher:error', data: { code: 4004 } });
  });
});
