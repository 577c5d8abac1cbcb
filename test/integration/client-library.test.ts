import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { RelayAgent, RelayApp, RelayConnectionError, RelayFailure, type AgentEvent } from '../../src/client/index.js';
import type { Connection } from '../../src/shared/api.js';
import { relay } from '../helpers/cli.js';
import { ROOT, cleanEnv, deadUrl, startDaemon, startSharedDaemon, tempDir, type Daemon } from '../helpers/daemon.js';
import { connect, eventually } from '../helpers/ws.js';

/**
 * The relayd of the tests that need no restart, no setting and no fresh data dir: one start for
 * the file, each test with an app and an agent of its own.
 */
let shared: Daemon;
beforeAll(async () => {
  shared = await startSharedDaemon();
});

let pairs = 0;

/** An app and an agent (ids of their own) on `daemon`, the shared relayd unless given. */
async function setup(daemon: Daemon = shared) {
  const n = ++pairs;
  const appId = `acme-pm-${n}`;
  const agentId = `athena-${n}`;
  const [app, agent] = await Promise.all([
    relay(['apps', 'register', '--id', appId, '--name', 'Acme PM', '-q'], { daemon }),
    relay(['agents', 'register', '--id', agentId, '--name', 'Athena', '--timeout', '5s', '-q'], { daemon }),
  ]);
  expect(app.exitCode, app.stderr).toBe(0);
  expect(agent.exitCode, agent.stderr).toBe(0);
  return { daemon, appId, agentId, appToken: app.stdout.trim(), agentToken: agent.stdout.trim() };
}

const fast = { initialDelayMs: 20, maxDelayMs: 200 };

describe('the client library', () => {
  it('RelayApp.send resolves with the reply of a RelayAgent handler, and rejects with its failure', async () => {
    const { daemon, appId, agentId, appToken, agentToken } = await setup();
    const seen: AgentEvent[] = [];
    const agent = new RelayAgent({
      url: daemon.url,
      token: agentToken,
      handler: async (event) => {
        seen.push(event);
        if ((event.payload as { fail?: boolean }).fail) throw new Error('cannot do that');
        return { echo: event.payload, thread: event.thread };
      },
    });
    const app = new RelayApp({ url: daemon.url, token: appToken });
    await Promise.all([agent.connect(), app.connect()]);

    expect(await app.send(agentId, 'task-1', { title: 'hello' }, { name: 'task.created' })).toEqual({ echo: { title: 'hello' }, thread: 'task-1' });
    expect(seen[0]).toMatchObject({ appId, thread: 'task-1', name: 'task.created', attempt: 1 });

    const failure = await app.send(agentId, 'task-2', { fail: true }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(RelayFailure);
    expect(failure).toMatchObject({ code: 'agent_error', message: 'cannot do that' });
    const rejected = await app.send('ghost', 't', {}).catch((err: unknown) => err);
    expect(rejected).toMatchObject({ code: 'agent_not_found' });

    // Every outcome was acknowledged: nothing is left owed to the app.
    await eventually(async () => {
      const list = await relay(['events', 'list', '--app', appId, '--json'], { daemon });
      const events = list.json<{ events: { id: string }[] }>().events;
      const shown = await Promise.all(events.map(async (e) => (await relay(['events', 'show', e.id, '--json'], { daemon })).json<{ event: { timeline: { type: string }[]; status: string } }>().event));
      return shown.filter((e) => e.status !== 'rejected').every((e) => e.timeline.some((t) => t.type === 'acked'));
    }, 10_000, 'every outcome acked');
    await Promise.all([app.close(), agent.close()]);
  });

  it('reconnects by itself after its connection is closed, and after relayd restarts', async () => {
    const dataDir = tempDir('relayd-client-');
    const { daemon, agentId, appToken, agentToken } = await setup(await startDaemon({ dataDir }));
    const agent = new RelayAgent({ url: daemon.url, token: agentToken, reconnect: fast, handler: (event) => event.payload });
    const app = new RelayApp({ url: daemon.url, token: appToken, reconnect: fast });
    await Promise.all([agent.connect(), app.connect()]);
    expect(await app.send(agentId, 't', 1)).toBe(1);

    const before = app.connectionId;
    expect((await relay(['connections', 'close', before as string, '--yes'], { daemon })).exitCode).toBe(0);
    await eventually(async () => app.connected && app.connectionId !== before, 10_000, 'the app to reconnect');
    expect(await app.send(agentId, 't', 2)).toBe(2);

    // Sent while relayd is down: the event goes out once it is back, on the same address.
    const port = new URL(daemon.url).port;
    await daemon.kill();
    const pending = app.send(agentId, 't', 3);
    await startDaemon({ dataDir, args: ['--port', port] });
    expect(await pending).toBe(3);
    await Promise.all([app.close(), agent.close()]);
  });

  it('RelayApp rejects at once when its token is refused', async () => {
    const { daemon, appId, agentId } = await setup();
    const app = new RelayApp({ url: daemon.url, token: `rlk_${appId}_notavalidtokenatallnotvalid00` });
    await expect(app.connect()).rejects.toMatchObject({ code: 'unauthorized' });
    await expect(app.send(agentId, 't', 1)).rejects.toMatchObject({ code: 'unauthorized' });
  });
});

/** The error a promise rejects with. */
const rejection = (promise: Promise<unknown>): Promise<unknown> => promise.then(() => new Error('resolved instead of rejecting'), (err: unknown) => err);

/** The open connections of these apps and agents (the relayd may be shared with other tests). */
async function openConnections(daemon: Daemon, ...owners: string[]): Promise<Connection[]> {
  const list = await relay(['connections', 'list', '--json'], { daemon });
  expect(list.exitCode, list.stderr).toBe(0);
  return list.json<{ connections: Connection[] }>().connections.filter((c) => owners.includes(c.ownerId));
}

describe('the client library at its edges', () => {
  it('against a port nobody listens on, connect() and closed reject with unreachable once connectTimeoutMs has passed', async () => {
    const url = await deadUrl();
    const app = new RelayApp({ url, token: 'rlk_acme-pm_0123456789abcdefghijABCDEFGHIJ0123456789', connectTimeoutMs: 800, reconnect: fast });
    const closed = rejection(app.closed);
    const started = Date.now();
    const err = await rejection(app.connect());
    const elapsed = Date.now() - started;
    expect(err).toBeInstanceOf(RelayConnectionError);
    expect(err).toMatchObject({ code: 'unreachable', message: expect.stringContaining(`cannot reach relayd at ${url}: connection refused (ECONNREFUSED)`) });
    expect((err as Error).message).not.toContain('0123456789abcdefghij');
    expect(elapsed).toBeGreaterThanOrEqual(750);
    expect(elapsed).toBeLessThan(5_000);
    expect(await closed).toBe(err);
    await expect(app.send('athena', 't', 1)).rejects.toBe(err);
  });

  it('after relayd goes away, it reconnects within reconnect.giveUpAfterMs, then errors with unreachable', async () => {
    const { daemon, agentId, appToken } = await setup(await startDaemon());
    const app = new RelayApp({ url: daemon.url, token: appToken, reconnect: { ...fast, giveUpAfterMs: 800 } });
    const disconnects: [number, boolean][] = [];
    app.on('disconnected', (code, reconnecting) => disconnects.push([code, reconnecting]));
    const errors: RelayConnectionError[] = [];
    app.on('error', (err) => errors.push(err));
    await app.connect();
    const pending = rejection(app.send(agentId, 't', 1));
    await daemon.kill();
    const err = await rejection(app.closed);
    expect(err).toMatchObject({ code: 'unreachable', message: expect.stringContaining('(reconnect.giveUpAfterMs)') });
    expect(errors).toEqual([err]);
    expect(disconnects).toEqual([[1006, true]]);
    expect(await pending).toBe(err);
  });

  it('a token of the other role is refused before connecting, with wrong_token', async () => {
    const { daemon, appId, agentId, appToken, agentToken } = await setup();
    const app = new RelayApp({ url: daemon.url, token: agentToken });
    const agent = new RelayAgent({ url: daemon.url, token: appToken, handler: () => null });
    const appErr = await rejection(app.connect());
    const agentErr = await rejection(agent.connect());
    expect(appErr).toBeInstanceOf(RelayConnectionError);
    expect(appErr).toMatchObject({ code: 'wrong_token', message: expect.stringContaining('RelayApp needs an app token (rlk_...), but this is an agent token (rla_...)') });
    expect(agentErr).toMatchObject({ code: 'wrong_token', message: expect.stringContaining('RelayAgent needs an agent token (rla_...), but this is an app token (rlk_...)') });
    for (const err of [appErr, agentErr]) {
      expect((err as Error).message).not.toContain(appToken.slice(-20));
      expect((err as Error).message).not.toContain(agentToken.slice(-20));
    }
    await expect(app.closed).rejects.toBe(appErr);
    await expect(new RelayApp({ url: daemon.url, token: 'rly_notanapptoken' }).connect()).rejects.toMatchObject({ code: 'wrong_token', message: expect.stringContaining('an API token') });
    expect(await openConnections(daemon, appId, agentId)).toEqual([]);
  });

  it("when a rotation's grace ends (4001), closed rejects with token_expired and disconnected says it does not reconnect", async () => {
    const { daemon, appId, agentId, appToken, agentToken } = await setup();
    const app = new RelayApp({ url: daemon.url, token: appToken, reconnect: fast });
    const agent = new RelayAgent({ url: daemon.url, token: agentToken, reconnect: fast, handler: () => null });
    await Promise.all([app.connect(), agent.connect()]);
    const disconnects: [number, boolean][] = [];
    agent.on('disconnected', (code, reconnecting) => disconnects.push([code, reconnecting]));
    const appClosed = rejection(app.closed);
    const agentClosed = rejection(agent.closed);

    expect((await relay(['agents', 'rotate', agentId, '--grace', '0s', '-q'], { daemon })).exitCode).toBe(0);
    const err = await agentClosed;
    expect(err).toBeInstanceOf(RelayConnectionError);
    expect(err).toMatchObject({ code: 'token_expired', status: 4001, message: expect.stringContaining('relayd closed the connection (4001)') });
    expect(disconnects).toEqual([[4001, false]]);
    expect(agent.connected).toBe(false);

    expect((await relay(['apps', 'rotate', appId, '--grace', '0s', '-q'], { daemon })).exitCode).toBe(0);
    expect(await appClosed).toMatchObject({ code: 'token_expired', status: 4001 });
    await eventually(async () => (await openConnections(daemon, appId, agentId)).length === 0, 10_000, 'no connection left');

    // The old token is refused at the handshake from now on.
    await expect(new RelayApp({ url: daemon.url, token: appToken }).connect()).rejects.toMatchObject({ code: 'unauthorized', status: 401 });
  });

  it('a deactivated agent: its socket closes (4003) and its handshakes get 403, both deactivated', async () => {
    const { daemon, agentId, agentToken } = await setup();
    const agent = new RelayAgent({ url: daemon.url, token: agentToken, reconnect: fast, handler: () => null });
    await agent.connect();
    const errors: RelayConnectionError[] = [];
    agent.on('error', (err) => errors.push(err));
    expect((await relay(['agents', 'deactivate', agentId, '--yes'], { daemon })).exitCode).toBe(0);
    await expect(agent.closed).rejects.toMatchObject({ code: 'deactivated', status: 4003 });
    expect(errors).toHaveLength(1);
    const again = new RelayAgent({ url: daemon.url, token: agentToken, handler: () => null });
    await expect(again.connect()).rejects.toMatchObject({ code: 'deactivated', status: 403, message: expect.stringContaining(`relay agents activate ${agentId}`) });
  });

  it('waits at least the Retry-After of a 429 before trying again', async () => {
    const daemon = await startDaemon({ args: ['--failed-handshake-limit', '60/min,burst=1'] });
    const appToken = (await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon })).stdout.trim();
    const counters = async (): Promise<number> => (await relay(['status', '--json'], { daemon })).json<{ counters: { handshakesRateLimited: number } }>().counters.handshakesRateLimited;
    // One refused credential spends the address's burst: its next handshake gets 429 with Retry-After.
    const refused = await connect(daemon, 'rlk_acme-pm_0000000000000000000000000000000000000000000');
    expect(refused.ok).toBe(false);
    const before = await counters();
    // Retries every 10-20 ms would hit the limit dozens of times in the second Retry-After asks for.
    const app = new RelayApp({ url: daemon.url, token: appToken, connectTimeoutMs: 10_000, reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
    await app.connect();
    expect((await counters()) - before).toBe(1);
    await app.close();
  });

  it('close() resolves closed, rejects a pending connect() and later sends with closed', async () => {
    const { daemon, agentId, appToken } = await setup();
    const app = new RelayApp({ url: daemon.url, token: appToken });
    const connecting = rejection(app.connect());
    const closed = app.closed;
    await app.close();
    await expect(closed).resolves.toBeUndefined();
    expect(await connecting).toMatchObject({ code: 'closed' });
    await expect(app.send(agentId, 't', 1)).rejects.toMatchObject({ code: 'closed' });
  });

  it('a fatal error that nobody handles is an unhandled rejection: the process exits non-zero, saying why', async () => {
    const { daemon, agentId, agentToken } = await setup();
    // Listens to nothing but `connected`: no error listener, no closed, no connect().
    const script = `import { RelayAgent } from 'relay';
      const agent = new RelayAgent({ url: process.env.RELAY_URL, token: process.env.RELAY_AGENT_TOKEN, handler: () => null });
      agent.on('connected', () => console.log('connected'));`;
    const child = execa(process.execPath, ['--input-type=module', '-e', script], {
      cwd: ROOT,
      env: { ...cleanEnv(), RELAY_URL: daemon.url, RELAY_AGENT_TOKEN: agentToken },
      extendEnv: false,
      reject: false,
      timeout: 20_000,
    });
    await new Promise<void>((resolve) => child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('connected') && resolve()));
    expect((await relay(['agents', 'deactivate', agentId, '--yes'], { daemon })).exitCode).toBe(0);
    const result = await child;
    expect(result.exitCode).toBe(1);
    expect(String(result.stderr)).toContain(`RelayConnectionError: relayd closed the connection (4003): agent ${agentId} was deactivated`);
  });
});
