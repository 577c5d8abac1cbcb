import { describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { channelName, openRawSocket, registerChannelApp, type ChannelApp, type Frame, type RawSocket } from '../helpers/pusher.js';

/**
 * Every close relayd makes on purpose sends the `pusher:error` with the code first, then the
 * close frame with the same code, as the handshake refusals do: a client that reads only
 * messages (older protocols, other libraries) learns why, pusher-js acts on the code.
 */

const connect = (daemon: Daemon, app: ChannelApp): Promise<RawSocket> => openRawSocket(daemon, `/app/${app.key}?protocol=7&client=js&version=8.6.0&flash=false`);

function errorData(frame: Frame): { code: number | null; message: string } {
  return (typeof frame.data === 'string' ? JSON.parse(frame.data) : frame.data) as { code: number | null; message: string };
}

/** Waits for the close; the last frame before it is a `pusher:error` with the same code. */
async function closedWithError(s: RawSocket, code: number): Promise<{ message: string }> {
  const closed = await s.closed;
  expect(closed.code).toBe(code);
  const last = s.frames[s.frames.length - 1] as Frame;
  expect(last.event, `the frames before the close: ${JSON.stringify(s.frames)}`).toBe('pusher:error');
  const data = errorData(last);
  expect(data.code).toBe(code);
  expect(data.message).not.toBe('');
  return data;
}

async function subscribe(s: RawSocket, name: string): Promise<void> {
  const ok = s.next((f) => f.event === 'pusher_internal:subscription_succeeded' && f.channel === name, `subscription_succeeded for ${name}`);
  s.send({ event: 'pusher:subscribe', data: { channel: name, auth: '' } });
  await ok;
}

async function signIn(s: RawSocket, app: ChannelApp, userId: string): Promise<void> {
  const { auth, user_data } = app.server.authenticateUser(s.socketId, { id: userId });
  const ok = s.next((f) => f.event === 'pusher:signin_success', 'pusher:signin_success');
  s.send({ event: 'pusher:signin', data: { auth, user_data } });
  await ok;
}

/** The relayd connection id of a subscriber, from its Pusher socket id. */
async function connectionId(daemon: Daemon, s: RawSocket): Promise<string> {
  const list = await relay(['connections', 'list', '--json'], { daemon });
  const found = list.json<{ connections: { id: string; socketId: string | null }[] }>().connections.find((c) => c.socketId === s.socketId);
  expect(found, list.stdout).toBeDefined();
  return (found as { id: string }).id;
}

describe('closing a channel socket on purpose: pusher:error, then the close, with one code', () => {
  it('a user terminated through the signed REST API (terminate_connections): 4009', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const alice = await connect(daemon, app);
    const bob = await connect(daemon, app);
    await signIn(alice, app, 'alice');
    await signIn(bob, app, 'bob');

    await app.server.terminateUserConnections('alice');
    const { message } = await closedWithError(alice, 4009);
    expect(message).toMatch(/terminated/);

    // Only alice's connection: bob's still answers.
    const pong = bob.next((f) => f.event === 'pusher:pong');
    bob.send({ event: 'pusher:ping', data: {} });
    await pong;
  });

  it('`relay connections close`: 4009', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const s = await connect(daemon, app);
    await subscribe(s, channelName());

    const closed = await relay(['connections', 'close', await connectionId(daemon, s), '--yes'], { daemon });
    expect(closed.exitCode, closed.stderr).toBe(0);
    expect((await closedWithError(s, 4009)).message).toMatch(/operator/);
  });

  it('DELETE /api/v1/apps/{appId}/connections/{id} with an API token: 4009', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const token = (await relay(['tokens', 'create', '--app', app.id, '--name', 'ops', '--scope', 'connections:manage', '-q'], { daemon })).stdout.trim();
    const s = await connect(daemon, app);

    const res = await fetch(`${daemon.url}/api/v1/apps/${app.id}/connections/${await connectionId(daemon, s)}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    await closedWithError(s, 4009);
  });

  it('deactivating an app with open channel subscribers: 4003', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    const subscribed = await connect(daemon, app);
    await subscribe(subscribed, channelName());
    const idle = await connect(daemon, app);

    const off = await relay(['apps', 'deactivate', app.id, '--yes'], { daemon });
    expect(off.exitCode, off.stderr).toBe(0);
    expect((await closedWithError(subscribed, 4003)).message).toMatch(/deactivated/);
    await closedWithError(idle, 4003);

    // The handshake refusal, as before: the same two frames.
    await closedWithError(await connect(daemon, app), 4003);
  });

  it('a key that does not decode (/app/%E0) is refused as unknown, 4001, and relayd keeps serving', async () => {
    const daemon = await startDaemon();
    const app = await registerChannelApp(daemon);
    await closedWithError(await openRawSocket(daemon, '/app/%E0?protocol=7'), 4001);
    expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
    const s = await connect(daemon, app);
    expect(s.frames[0]?.event).toBe('pusher:connection_established');
  });
});
