import { execa } from 'execa';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { ROOT, cleanEnv, startDaemon, startSharedDaemon, tempDir, type Daemon } from '../helpers/daemon.js';
import { expectFrame, sendEvent, showEvent, type Frame } from '../helpers/agent-relay.js';
import { connectOk, eventually, type OpenSocket } from '../helpers/ws.js';


interface Setup {
  daemon: Daemon;
  appId: string;
  agentId: string;
  appToken: string;
  agentToken: string;
}

/**
 * The relayd of the tests that need no setting of their own, no restart and no stop: one start
 * for the file. Each test registers an app and an agent of its own (setup).
 */
let shared: Daemon;
beforeAll(async () => {
  shared = await startSharedDaemon();
});

let setups = 0;

/** An app and an agent of the test's own, on the shared relayd unless the test needs a relayd of its own (`own`, `args`, `dataDir`). */
async function setup(options: { timeout?: string; args?: string[]; dataDir?: string; own?: boolean } = {}): Promise<Setup> {
  const daemon =
    options.own || options.args || options.dataDir ? await startDaemon({ args: options.args ?? [], ...(options.dataDir ? { dataDir: options.dataDir } : {}) }) : shared;
  const n = ++setups;
  const appId = `acme-pm-${n}`;
  const agentId = `athena-${n}`;
  const [app, agent] = await Promise.all([
    relay(['apps', 'register', '--id', appId, '--name', 'Acme PM', '-q'], { daemon }),
    relay(['agents', 'register', '--id', agentId, '--name', 'Athena', '--timeout', options.timeout ?? '2m', '-q'], { daemon }),
  ]);
  expect(app.exitCode).toBe(0);
  expect(agent.exitCode).toBe(0);
  return { daemon, appId, agentId, appToken: app.stdout.trim(), agentToken: agent.stdout.trim() };
}

describe('the agent relay', () => {
  it('takes an event to the agent and its reply back, and records it delivered with its latency and timeline', async () => {
    const { daemon, agentId, appId, appToken, agentToken } = await setup();
    const app = await connectOk(daemon, appToken);
    const agent = await connectOk(daemon, agentToken);
    const eventId = await sendEvent(app, { ref: 'r1', agent: agentId, thread: 'task-42', name: 'task.created', payload: { title: 'Ship it' } });
    expect(eventId).toMatch(/^evt_[0-9A-Z]{26}$/);

    const delivered = await expectFrame(agent, 'event');
    expect(delivered).toEqual({ type: 'event', eventId, appId, thread: 'task-42', name: 'task.created', payload: { title: 'Ship it' }, attempt: 1 });
    agent.send({ type: 'reply', eventId, payload: { summary: 'done' } });

    const reply = await expectFrame(app, 'reply');
    expect(reply).toMatchObject({ eventId, ref: 'r1', agent: agentId, thread: 'task-42', payload: { summary: 'done' } });
    expect(reply.latencyMs).toEqual(expect.any(Number));
    app.send({ type: 'ack', eventId });

    const event = await eventually(async () => {
      const e = await showEvent(daemon, eventId);
      return e.timeline.some((t) => t.type === 'acked') ? e : undefined;
    }, 10_000, 'the ack in the timeline');
    expect(event).toMatchObject({ id: eventId, kind: 'agent', appId, agent: agentId, thread: 'task-42', status: 'delivered', attempt: 1, payload: { title: 'Ship it' }, reply: { summary: 'done' }, error: null });
    expect(event.timeline.map((t) => t.type)).toEqual(['accepted', 'dispatched', 'replied', 'sent', 'acked']);

    const list = await relay(['events', 'list', '--app', appId, '--json'], { daemon });
    expect(list.json<{ events: Frame[] }>().events).toEqual([expect.objectContaining({ id: eventId, status: 'delivered', latencyMs: reply.latencyMs })]);
    const shown = await relay(['apps', 'show', appId, '--json'], { daemon });
    expect(shown.json<{ recentEvents: Frame[] }>().recentEvents[0]).toMatchObject({ id: eventId, status: 'delivered' });
  });

  it('shows every change made before a read at once: the ack and the delivered status, with no wait', async () => {
    const { daemon, agentId, appId, appToken, agentToken } = await setup();
    const app = await connectOk(daemon, appToken);
    const agent = await connectOk(daemon, agentToken);
    const eventId = await sendEvent(app, { agent: agentId, thread: 't', payload: 1 });
    await expectFrame(agent, 'event');
    agent.send({ type: 'reply', eventId, payload: 2 });
    await expectFrame(app, 'reply');
    app.send({ type: 'ack', eventId });
    // Frames of one socket are taken in order: the pong means the ack has been taken.
    app.send({ type: 'ping' });
    await expectFrame(app, 'pong');
    // The admin API straight away (a CLI run would take longer than relayd holds such changes).
    const [shown, appShown] = await Promise.all([
      daemon.admin<{ event: { status: string; timeline: { type: string }[] } }>('GET', `/admin/v1/events/${eventId}`),
      daemon.admin<{ recentEvents: { id: string; status: string }[] }>('GET', `/admin/v1/orgs/default/apps/${appId}`),
    ]);
    expect(shown.body.event.timeline.map((t) => t.type)).toEqual(['accepted', 'dispatched', 'replied', 'sent', 'acked']);
    expect(shown.body.event.status).toBe('delivered');
    expect(appShown.body.recentEvents[0]).toMatchObject({ id: eventId, status: 'delivered' });
  });

  it('rejects events for agents that are unknown, not allowed, or malformed, with a reason', async () => {
    const { daemon, agentId, appId, appToken } = await setup();
    const hermesId = `hermes-${setups}`;
    await relay(['agents', 'register', '--id', hermesId, '--name', 'Hermes', '-q'], { daemon });
    expect((await relay(['apps', 'allow', appId, agentId], { daemon })).exitCode).toBe(0);
    const app = await connectOk(daemon, appToken);

    app.send({ type: 'event', ref: 'a', agent: hermesId, thread: 't', payload: 1 });
    const notAllowed = await expectFrame(app, 'rejected');
    expect(notAllowed).toMatchObject({ ref: 'a', eventId: expect.stringMatching(/^evt_/), error: { code: 'agent_not_allowed' } });
    expect((notAllowed.error as { message: string }).message).toContain(`relay apps allow ${appId} ${hermesId}`);

    app.send({ type: 'event', ref: 'b', agent: 'ghost', thread: 't', payload: 1 });
    expect(await expectFrame(app, 'rejected')).toMatchObject({ ref: 'b', error: { code: 'agent_not_found' } });

    app.send({ type: 'event', ref: 'c', agent: agentId, payload: 1 });
    const malformed = await expectFrame(app, 'rejected');
    expect(malformed).toMatchObject({ ref: 'c', eventId: null, error: { code: 'invalid_request', message: 'invalid "event" frame: thread is required (a string)' } });

    await sendEvent(app, { ref: 'd', agent: agentId, thread: 't', payload: 1 });

    const rejected = await relay(['events', 'list', '--app', appId, '--status', 'rejected', '--json'], { daemon });
    expect(rejected.json<{ events: Frame[] }>().events.map((e) => e.agent)).toEqual(['ghost', hermesId]);
    const pending = await relay(['events', 'list', '--agent', agentId, '--json'], { daemon });
    expect(pending.json<{ events: Frame[] }>().events).toEqual([expect.objectContaining({ status: 'pending' })]);

    expect((await relay(['apps', 'disallow', appId, agentId], { daemon })).exitCode).toBe(0);
    await sendEvent(app, { agent: hermesId, thread: 't', payload: 1 });

    // A change of the agent takes effect on the very next event.
    expect((await relay(['agents', 'deactivate', hermesId, '--yes'], { daemon })).exitCode).toBe(0);
    app.send({ type: 'event', ref: 'e', agent: hermesId, thread: 't', payload: 1 });
    expect(await expectFrame(app, 'rejected')).toMatchObject({ ref: 'e', error: { code: 'agent_inactive' } });
    expect((await relay(['agents', 'activate', hermesId], { daemon })).exitCode).toBe(0);
    await sendEvent(app, { agent: hermesId, thread: 't', payload: 1 });
  });

  it('keeps events for an offline agent pending and sends them, thread by thread in order, when it connects', async () => {
    const { daemon, agentId, appId, appToken, agentToken } = await setup();
    const app = await connectOk(daemon, appToken);
    const t1 = [await sendEvent(app, { agent: agentId, thread: 't1', payload: 1 }), await sendEvent(app, { agent: agentId, thread: 't1', payload: 2 })];
    const t2 = await sendEvent(app, { agent: agentId, thread: 't2', payload: 3 });
    const pending = await relay(['events', 'list', '--app', appId, '--status', 'pending', '--json'], { daemon });
    expect(pending.json<{ events: Frame[] }>().events).toHaveLength(3);

    const agent = await connectOk(daemon, agentToken);
    const first = [await expectFrame(agent, 'event'), await expectFrame(agent, 'event')];
    // The heads of both threads, not the second event of t1 before the first has its reply.
    expect(first.map((f) => f.eventId).sort()).toEqual([t1[0], t2].sort());
    agent.send({ type: 'reply', eventId: t1[0], payload: 'one' });
    expect(await expectFrame(agent, 'event')).toMatchObject({ eventId: t1[1], payload: 2, attempt: 1 });
    expect((await expectFrame(app, 'reply')).eventId).toBe(t1[0]);
  });

  it('fails an event the agent does not answer within its timeout, and one it answers with an error', async () => {
    const { daemon, agentId, appId, appToken, agentToken } = await setup({ timeout: '1s' });
    const app = await connectOk(daemon, appToken);
    const agent = await connectOk(daemon, agentToken);

    const slow = await sendEvent(app, { ref: 'slow', agent: agentId, thread: 't1', payload: {} });
    await expectFrame(agent, 'event');
    const failed = await expectFrame(app, 'failed', 5_000);
    expect(failed).toMatchObject({ eventId: slow, ref: 'slow', error: { code: 'timeout', message: 'the agent did not reply within 1s' } });
    expect(failed.latencyMs as number).toBeGreaterThanOrEqual(1000);
    agent.send({ type: 'reply', eventId: slow, payload: 'too late' });
    expect(await expectFrame(agent, 'error')).toMatchObject({ eventId: slow, error: { code: 'invalid_request' } });

    const broken = await sendEvent(app, { ref: 'broken', agent: agentId, thread: 't2', payload: {} });
    await expectFrame(agent, 'event');
    agent.send({ type: 'error', eventId: broken, error: { message: 'model overloaded' } });
    expect(await expectFrame(app, 'failed')).toMatchObject({ eventId: broken, ref: 'broken', error: { code: 'agent_error', message: 'model overloaded' } });

    const failedList = await relay(['events', 'list', '--app', appId, '--status', 'failed', '--json'], { daemon });
    expect(failedList.json<{ events: Frame[] }>().events.map((e) => e.id).sort()).toEqual([slow, broken].sort());
    expect(await showEvent(daemon, broken)).toMatchObject({ status: 'failed', error: { code: 'agent_error', message: 'model overloaded' } });
  });

  it('gives the event again, attempt 2, when the agent drops mid-work, and fails it after the last attempt', async () => {
    const { daemon, agentId, appToken, agentToken } = await setup({ args: ['--max-attempts', '2'] });
    const app = await connectOk(daemon, appToken);
    const first = await connectOk(daemon, agentToken);
    const eventId = await sendEvent(app, { agent: agentId, thread: 't1', payload: 'work' });
    expect(await expectFrame(first, 'event')).toMatchObject({ eventId, attempt: 1 });
    first.ws.terminate();

    const second = await connectOk(daemon, agentToken);
    expect(await expectFrame(second, 'event')).toMatchObject({ eventId, attempt: 2 });
    second.ws.terminate();
    expect(await expectFrame(app, 'failed')).toMatchObject({ eventId, error: { code: 'too_many_attempts' } });
    const timeline = (await showEvent(daemon, eventId)).timeline.map((t) => t.type);
    expect(timeline).toEqual(['accepted', 'dispatched', 'interrupted', 'dispatched', 'failed', 'sent']);
  });

  it('shares the work among an agent\'s connections and redelivers to another when one drops', async () => {
    const { daemon, agentId, appToken, agentToken } = await setup();
    const app = await connectOk(daemon, appToken);
    const a = await connectOk(daemon, agentToken);
    const b = await connectOk(daemon, agentToken);
    const e1 = await sendEvent(app, { agent: agentId, thread: 't1', payload: 1 });
    const e2 = await sendEvent(app, { agent: agentId, thread: 't2', payload: 2 });
    const onA = await expectFrame(a, 'event');
    const onB = await expectFrame(b, 'event');
    expect([onA.eventId, onB.eventId].sort()).toEqual([e1, e2].sort());
    a.ws.terminate();
    const again = await expectFrame(b, 'event');
    expect(again).toMatchObject({ eventId: onA.eventId, attempt: 2 });
    b.send({ type: 'reply', eventId: again.eventId, payload: 'ok' });
    b.send({ type: 'reply', eventId: onB.eventId, payload: 'ok' });
    const replies = [await expectFrame(app, 'reply'), await expectFrame(app, 'reply')];
    expect(replies.map((r) => r.eventId).sort()).toEqual([e1, e2].sort());
  });

  it('keeps each of 20 interleaved threads in order while threads run in parallel', async () => {
    const { daemon, agentId, appToken, agentToken } = await setup();
    const app = await connectOk(daemon, appToken);
    const agents = [await connectOk(daemon, agentToken), await connectOk(daemon, agentToken)];
    const THREADS = 20;
    const PER_THREAD = 5;
    const seen = new Map<string, number[]>();
    const busy = new Set<string>();
    let maxParallel = 0;
    let overlap = false;
    let replied = 0;
    for (const agent of agents) {
      agent.ws.on('message', (data) => {
        const frame = JSON.parse(data.toString()) as { type: string; eventId: string; thread: string; payload: { seq: number } };
        if (frame.type !== 'event') return;
        if (busy.has(frame.thread)) overlap = true;
        busy.add(frame.thread);
        maxParallel = Math.max(maxParallel, busy.size);
        seen.set(frame.thread, [...(seen.get(frame.thread) ?? []), frame.payload.seq]);
        setTimeout(() => {
          busy.delete(frame.thread);
          replied++;
          agent.send({ type: 'reply', eventId: frame.eventId, payload: frame.payload });
        }, Math.random() * 20);
      });
    }
    for (let seq = 0; seq < PER_THREAD; seq++) {
      for (let t = 0; t < THREADS; t++) app.send({ type: 'event', agent: agentId, thread: `thread-${t}`, payload: { seq } });
    }
    await eventually(async () => replied === THREADS * PER_THREAD, 20_000, 'every reply');
    expect(overlap).toBe(false);
    expect(maxParallel).toBeGreaterThan(1);
    for (let t = 0; t < THREADS; t++) expect(seen.get(`thread-${t}`)).toEqual([0, 1, 2, 3, 4]);
  });

  it('holds a reply for an app that is gone and sends it again on every reconnect until acked', async () => {
    const { daemon, agentId, appToken, agentToken } = await setup();
    const sender = await connectOk(daemon, appToken);
    const agent = await connectOk(daemon, agentToken);
    const eventId = await sendEvent(sender, { ref: 'r', agent: agentId, thread: 't', payload: 'q' });
    await expectFrame(agent, 'event');
    sender.ws.close();
    await sender.closed;
    agent.send({ type: 'reply', eventId, payload: 'answer' });
    await eventually(async () => (await showEvent(daemon, eventId)).timeline.some((t) => t.type === 'replied'), 10_000, 'the reply stored');
    expect((await showEvent(daemon, eventId)).status).toBe('pending');

    const again = await connectOk(daemon, appToken);
    expect(await expectFrame(again, 'reply')).toMatchObject({ eventId, ref: 'r', payload: 'answer' });
    again.ws.close();
    await again.closed;

    const third = await connectOk(daemon, appToken);
    expect(await expectFrame(third, 'reply')).toMatchObject({ eventId });
    third.send({ type: 'ack', eventId });
    await eventually(async () => (await showEvent(daemon, eventId)).timeline.some((t) => t.type === 'acked'), 10_000, 'the ack');
    third.ws.close();

    const fourth = await connectOk(daemon, appToken);
    fourth.send({ type: 'ping' });
    expect(await fourth.nextFrame()).toEqual({ type: 'pong' });
    expect((await showEvent(daemon, eventId)).status).toBe('delivered');
  });

  it('loses nothing accepted when killed with SIGKILL: pending and in-flight events reach the agent after a restart', async () => {
    const dataDir = tempDir('relayd-kill-');
    const { daemon, agentId, appToken, agentToken } = await setup({ dataDir });
    const app = await connectOk(daemon, appToken);
    const agent = await connectOk(daemon, agentToken);
    const inflight = await sendEvent(app, { agent: agentId, thread: 'busy', payload: 0 });
    await expectFrame(agent, 'event');
    agent.ws.close();
    await agent.closed;
    const accepted = new Set<string>([inflight]);
    for (let i = 0; i < 20; i++) accepted.add(await sendEvent(app, { agent: agentId, thread: `t${i % 4}`, payload: i }));
    await daemon.kill();

    const restarted = await startDaemon({ dataDir });
    // Frames that came with the welcome are queued by the helper: read them all through nextFrame.
    const again = await connectOk(restarted, agentToken);
    const received = new Set<string>();
    const agentDone = (async () => {
      while (received.size < accepted.size) {
        const frame = await expectFrame(again, 'event');
        received.add(frame.eventId as string);
        again.send({ type: 'reply', eventId: frame.eventId, payload: 'ok' });
      }
    })();
    const app2 = await connectOk(restarted, appToken);
    const replies = new Set<string>();
    while (replies.size < accepted.size) replies.add((await expectFrame(app2, 'reply')).eventId as string);
    await agentDone;
    expect([...received].sort()).toEqual([...accepted].sort());
    expect([...replies].sort()).toEqual([...accepted].sort());
    expect((await showEvent(restarted, inflight)).attempt).toBe(2);
  });

  it('answers bad frames with a clear error, keeps the connection, and affects no other event', async () => {
    const { daemon, agentId, appToken, agentToken } = await setup();
    const app = await connectOk(daemon, appToken);
    const agent = await connectOk(daemon, agentToken);
    const eventId = await sendEvent(app, { agent: agentId, thread: 't', payload: 'keep me' });
    await expectFrame(agent, 'event');

    app.ws.send('not json');
    expect(await expectFrame(app, 'error')).toMatchObject({ error: { code: 'invalid_request', message: 'a frame must be one JSON object' } });
    app.send({ type: 'teleport' });
    expect(((await expectFrame(app, 'error')).error as { message: string }).message).toContain('unknown frame type "teleport" for an app');
    app.send({ type: 'reply', eventId, payload: 'an app cannot reply' });
    expect(await expectFrame(app, 'error')).toMatchObject({ error: { code: 'invalid_request' } });
    app.send({ type: 'ack', eventId: 'evt_01ARZ3NDEKTSV4RRFFQ69G5FAV' });
    expect(await expectFrame(app, 'error')).toMatchObject({ eventId: 'evt_01ARZ3NDEKTSV4RRFFQ69G5FAV', error: { code: 'invalid_request' } });
    app.send({ type: 'event', ref: 'big', agent: agentId, thread: 't', payload: 'x'.repeat(1024 * 1024 + 10) });
    expect(await expectFrame(app, 'rejected')).toMatchObject({ ref: 'big', eventId: null, error: { code: 'payload_too_large' } });
    app.send({ type: 'event', ref: 'extra', agent: agentId, thread: 't', payload: 1, priority: 'high' });
    expect(await expectFrame(app, 'rejected')).toMatchObject({ ref: 'extra', error: { code: 'invalid_request' } });

    agent.send({ type: 'reply', eventId: 'evt_01ARZ3NDEKTSV4RRFFQ69G5FAV', payload: 'not mine' });
    expect(await expectFrame(agent, 'error')).toMatchObject({ error: { code: 'invalid_request' } });
    agent.send({ type: 'reply', payload: 'no id' });
    expect(((await expectFrame(agent, 'error')).error as { message: string }).message).toBe('invalid "reply" frame: eventId is required (a string)');

    // The event in flight is untouched by all of that.
    agent.send({ type: 'reply', eventId, payload: 'kept' });
    expect(await expectFrame(app, 'reply')).toMatchObject({ eventId, payload: 'kept' });
    expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
  });
});

describe('relay events tail and relay connections', () => {
  it('tail prints one JSON object a line as events change, live', async () => {
    const { daemon, agentId, appToken, agentToken } = await setup();
    const tail = execa(process.execPath, [join(ROOT, 'bin/relay.js'), 'events', 'tail', '--json', '--agent', agentId], {
      env: { ...cleanEnv(), RELAY_URL: daemon.url, RELAY_DATA_DIR: daemon.dataDir, RELAY_CONFIG_DIR: tempDir('relay-config-') },
      extendEnv: false,
      reject: false,
    });
    const lines: { type: string; event: { id: string; status: string; latencyMs: number | null } }[] = [];
    tail.stdout?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as (typeof lines)[number]);
    });
    let stderr = '';
    tail.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // tail says on stderr when the stream is open; an event before that would not be seen.
    await eventually(async () => stderr.includes('Watching events'), 10_000, 'tail to be watching');
    const app = await connectOk(daemon, appToken);
    const agent = await connectOk(daemon, agentToken);
    const eventId = await sendEvent(app, { agent: agentId, thread: 'watched', payload: 1 });
    const frame = await expectFrame(agent, 'event');
    agent.send({ type: 'reply', eventId: frame.eventId, payload: 'ok' });
    await expectFrame(app, 'reply');
    await eventually(async () => lines.some((l) => l.event.id === eventId && l.type === 'sent'), 10_000, 'the delivered line');
    const mine = lines.filter((l) => l.event.id === eventId);
    expect(mine.map((l) => l.type)).toEqual(['accepted', 'dispatched', 'replied', 'sent']);
    expect(mine.at(-1)?.event).toMatchObject({ status: 'delivered', latencyMs: expect.any(Number) });
    tail.kill('SIGINT');
    expect((await tail).exitCode).toBe(0);
  });

  it('lists connections of apps and agents and closes one', async () => {
    const { daemon, agentId, appId, appToken, agentToken } = await setup();
    const app = await connectOk(daemon, appToken);
    const agent = await connectOk(daemon, agentToken);
    const list = await relay(['connections', 'list', '--json'], { daemon });
    expect(list.exitCode, list.stderr).toBe(0);
    // The relayd is shared: the connections of this test's app and agent.
    const connections = list.json<{ connections: Frame[] }>().connections.filter((c) => c.ownerId === appId || c.ownerId === agentId);
    expect(connections.map((c) => [c.id, c.role, c.ownerId]).sort()).toEqual(
      [
        [app.welcome.connectionId, 'app', appId],
        [agent.welcome.connectionId, 'agent', agentId],
      ].sort(),
    );
    const onlyApp = await relay(['connections', 'list', '--app', appId, '--json'], { daemon });
    expect(onlyApp.json<{ connections: Frame[] }>().connections.map((c) => c.id)).toEqual([app.welcome.connectionId]);

    const refused = await relay(['connections', 'close', app.welcome.connectionId as string], { daemon });
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain('--yes');
    const closed = await relay(['connections', 'close', app.welcome.connectionId as string, '--yes'], { daemon });
    expect(closed.exitCode, closed.stderr).toBe(0);
    expect((await app.closed).code).toBe(4009);
    expect((await relay(['connections', 'close', 'conn_nothere12345678', '--yes'], { daemon })).exitCode).toBe(3);
  });
});

describe('events list paging', () => {
  it('pages with --before, and a full page prints the next page\'s command on stderr', async () => {
    // A relayd of its own: the test stops it.
    const { daemon, agentId, appToken } = await setup({ own: true });
    const app = await connectOk(daemon, appToken);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await sendEvent(app, { agent: agentId, thread: 'paging', payload: i }));
    const [oldest, middle, newest] = ids as [string, string, string];

    const first = await relay(['events', 'list', '--thread', 'paging', '--limit', '2'], { daemon });
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stdout).toContain(newest);
    expect(first.stdout).toContain(middle);
    expect(first.stdout).not.toContain(oldest);
    expect(first.stderr).toContain(`more: relay events list --thread paging --limit 2 --before ${middle}`);

    const command = /more: relay (.*)/.exec(first.stderr)?.[1]?.split(' ') ?? [];
    const second = await relay(command, { daemon });
    expect(second.exitCode, second.stderr).toBe(0);
    expect(second.stdout).toContain(oldest);
    expect(second.stdout).not.toContain(middle);
    expect(second.stderr).not.toContain('more:');

    const json = await relay(['events', 'list', '--before', newest, '--json'], { daemon });
    expect(json.exitCode, json.stderr).toBe(0);
    expect(json.json<{ events: { id: string }[]; next: string | null }>()).toEqual({ events: [expect.objectContaining({ id: middle }), expect.objectContaining({ id: oldest })], next: null });
    expect(json.stderr).toBe('');

    const bad = await relay(['events', 'list', '--before', 'yesterday'], { daemon });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('invalid --before "yesterday"');
    await daemon.stop();
  });
});
