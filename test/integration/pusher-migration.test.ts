import Pusher from 'pusher';
import { describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { channelName, connected, next, openRawSocket, port, subscribed, subscriberClient, type ChannelApp, type Frame } from '../helpers/pusher.js';
import { relayOnTty } from '../helpers/tty.js';
import { connect } from '../helpers/ws.js';

/**
 * Moving an app from Pusher or soketi: its numeric id, key and secret are kept, so that the
 * unmodified `pusher` server SDK and `pusher-js` clients configured with them work against
 * relayd as they are. Ids and credentials are Pusher's own format: 20 hex characters each.
 */
const PUSHER_APP_ID = '40000';
const PUSHER_KEY = '278d425bdf160c739803';
const PUSHER_SECRET = '7ad3773142a6692b25b8';

/** The `pusher` SDK as the app's backend already has it, only pointed at relayd. */
function pusherApp(daemon: Daemon, id: string, key: string, secret: string): ChannelApp {
  return { id, key, secret, server: new Pusher({ appId: id, key, secret, host: '127.0.0.1', port: String(port(daemon)), useTLS: false }) };
}

async function credentials(daemon: Daemon, id: string): Promise<{ appId: string; key: string; secret: string }> {
  const result = await relay(['apps', 'credentials', id, '--json'], { daemon });
  expect(result.exitCode, result.stderr).toBe(0);
  return result.json();
}

function errorData(frame: Frame): { code: number | null; message: string } {
  return (typeof frame.data === 'string' ? JSON.parse(frame.data) : frame.data) as { code: number | null; message: string };
}

describe('moving from Pusher or soketi', () => {
  it('registers a numeric app id with its key and a secret from stdin; the pusher SDK and pusher-js work unchanged', async () => {
    const daemon = await startDaemon();
    const registered = await relay(['apps', 'register', '--id', PUSHER_APP_ID, '--name', 'Legacy', '--key', PUSHER_KEY, '--secret', '-', '--json'], {
      daemon,
      input: `${PUSHER_SECRET}\n`,
    });
    expect(registered.exitCode, registered.stderr).toBe(0);
    const { app, secret: appToken } = registered.json<{ app: { id: string }; secret: string }>();
    expect(app.id).toBe(PUSHER_APP_ID);
    expect(appToken).toMatch(/^rlk_40000_[0-9A-Za-z]{44}$/);
    // Never shown again: not by register, on either stream.
    expect(registered.stdout + registered.stderr).not.toContain(PUSHER_SECRET);
    expect(await credentials(daemon, PUSHER_APP_ID)).toEqual({ appId: PUSHER_APP_ID, key: PUSHER_KEY, secret: PUSHER_SECRET });

    // The app token of a numeric id opens the relay protocol as that app.
    const handshake = await connect(daemon, appToken);
    expect(handshake.ok && handshake.socket.welcome).toMatchObject({ type: 'welcome', role: 'app', id: PUSHER_APP_ID });
    if (handshake.ok) handshake.socket.ws.close();

    // The SDKs with the Pusher credentials, as they were: a signed private subscription, a signed publish.
    const app40000 = pusherApp(daemon, PUSHER_APP_ID, PUSHER_KEY, PUSHER_SECRET);
    const client = subscriberClient(daemon, app40000);
    await connected(client);
    const name = channelName('private-');
    const channel = await subscribed(client, name);
    const got = next(channel, 'order.shipped');
    const res = await app40000.server.trigger(name, 'order.shipped', { id: 'ord_1' });
    expect(res.status).toBe(200);
    expect(await got).toEqual({ id: 'ord_1' });
    const info = (await (await app40000.server.get({ path: '/channels' })).json()) as { channels: Record<string, unknown> };
    expect(Object.keys(info.channels)).toEqual([name]);
  });

  it('never takes the secret on the command line, refuses malformed keys and secrets, and a taken key exits 5', async () => {
    const daemon = await startDaemon();
    const onArgv = await relay(['apps', 'register', '--id', PUSHER_APP_ID, '--name', 'Legacy', '--key', PUSHER_KEY, '--secret', PUSHER_SECRET], { daemon });
    expect(onArgv.exitCode).toBe(2);
    expect(onArgv.stderr).toMatch(/shell history/);
    expect(onArgv.stderr).toMatch(/--secret -/);
    expect(onArgv.stdout + onArgv.stderr).not.toContain(PUSHER_SECRET);

    // No terminal to ask on: a usage error that says how to pipe it in.
    const ask = await relay(['apps', 'register', '--id', PUSHER_APP_ID, '--name', 'Legacy', '--key', PUSHER_KEY, '--secret'], { daemon });
    expect(ask.exitCode).toBe(2);
    expect(ask.stderr).toMatch(/--secret -/);

    const empty = await relay(['apps', 'register', '--id', PUSHER_APP_ID, '--name', 'Legacy', '--key', PUSHER_KEY, '--secret', '-'], { daemon, input: '' });
    expect(empty.exitCode).toBe(2);
    expect(empty.stderr).toMatch(/nothing on stdin/);

    const weak = await relay(['apps', 'register', '--id', PUSHER_APP_ID, '--name', 'Legacy', '--secret', '-'], { daemon, input: 'hunter2' });
    expect(weak.exitCode).toBe(2);
    expect(weak.stderr).toMatch(/at least 8/);
    expect(weak.stderr).not.toContain('hunter2');

    const badKey = await relay(['apps', 'register', '--id', PUSHER_APP_ID, '--name', 'Legacy', '--key', 'app:key'], { daemon });
    expect(badKey.exitCode).toBe(2);
    expect(badKey.stderr).toMatch(/--key may not contain : \/ \? # or %/);
    expect((await relay(['apps', 'list', '--json'], { daemon })).json<{ apps: unknown[] }>().apps).toEqual([]);

    // Without a terminal, --key alone keeps the key and relayd makes the secret.
    const keyOnly = await relay(['apps', 'register', '--id', PUSHER_APP_ID, '--name', 'Legacy', '--key', PUSHER_KEY], { daemon });
    expect(keyOnly.exitCode, keyOnly.stderr).toBe(0);
    const made = await credentials(daemon, PUSHER_APP_ID);
    expect(made.key).toBe(PUSHER_KEY);
    expect(made.secret).toMatch(/^[0-9a-f]{40}$/);

    const taken = await relay(['apps', 'register', '--id', 'other', '--name', 'Other', '--key', PUSHER_KEY, '--secret', '-'], { daemon, input: PUSHER_SECRET });
    expect(taken.exitCode).toBe(5);
    expect(taken.stderr).toMatch(/channel key "278d425bdf160c739803" is already another app's/);
    expect(taken.stdout).toBe('');
    expect((await relay(['apps', 'list', '--json'], { daemon })).json<{ apps: { id: string }[] }>().apps.map((a) => a.id)).toEqual([PUSHER_APP_ID]);

    const other = await relay(['apps', 'register', '--id', 'other', '--name', 'Other'], { daemon });
    expect(other.exitCode, other.stderr).toBe(0);
    const takenOnUpdate = await relay(['apps', 'update', 'other', '--key', PUSHER_KEY], { daemon });
    expect(takenOnUpdate.exitCode).toBe(5);
    expect(takenOnUpdate.stderr).toMatch(/is already another app's/);

    // The admin API says the same, without the value of a refused secret.
    const api = await fetch(`${daemon.url}/admin/v1/orgs/default/apps/other`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${daemon.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channelSecret: 'short 1' }),
    });
    expect(api.status).toBe(400);
    const body = await api.text();
    expect(body).toMatch(/channelSecret/);
    expect(body).not.toContain('short 1');
  });

  it('apps update --key/--secret: sockets on the old key get pusher:error 4001 then close 4001; the SDKs with the new ones work', async () => {
    const daemon = await startDaemon();
    expect((await relay(['apps', 'register', '--id', PUSHER_APP_ID, '--name', 'Legacy', '-q'], { daemon })).exitCode).toBe(0);
    const old = await credentials(daemon, PUSHER_APP_ID);
    const onOldKey = await openRawSocket(daemon, `/app/${old.key}?protocol=7&client=js&version=8.6.0&flash=false`);
    const name = channelName();
    const ok = onOldKey.next((f) => f.event === 'pusher_internal:subscription_succeeded' && f.channel === name);
    onOldKey.send({ event: 'pusher:subscribe', data: { channel: name, auth: '' } });
    await ok;

    const updated = await relay(['apps', 'update', PUSHER_APP_ID, '--key', PUSHER_KEY, '--secret', '-', '--json'], { daemon, input: PUSHER_SECRET });
    expect(updated.exitCode, updated.stderr).toBe(0);
    expect(updated.stdout + updated.stderr).not.toContain(PUSHER_SECRET);

    const closed = await onOldKey.closed;
    expect(closed.code).toBe(4001);
    const last = onOldKey.frames[onOldKey.frames.length - 1] as Frame;
    expect(last.event).toBe('pusher:error');
    expect(errorData(last)).toEqual({ code: 4001, message: expect.stringMatching(/key changed/) });

    // The old key is gone (refused as unknown), the new one serves the SDKs.
    const refused = await openRawSocket(daemon, `/app/${old.key}?protocol=7`);
    expect((await refused.closed).code).toBe(4001);
    expect(await credentials(daemon, PUSHER_APP_ID)).toEqual({ appId: PUSHER_APP_ID, key: PUSHER_KEY, secret: PUSHER_SECRET });
    const app = pusherApp(daemon, PUSHER_APP_ID, PUSHER_KEY, PUSHER_SECRET);
    const client = subscriberClient(daemon, app);
    const channel = await subscribed(client, channelName('private-'));
    const got = next(channel, 'moved');
    await app.server.trigger(channel.name, 'moved', { ok: true });
    expect(await got).toEqual({ ok: true });
    // The old secret signs nothing any more.
    const stale = pusherApp(daemon, PUSHER_APP_ID, PUSHER_KEY, old.secret);
    await expect(stale.server.trigger(channel.name, 'moved', {})).rejects.toMatchObject({ status: 401 });

    // The audit log says what changed, never the secret.
    const audit = await relay(['audit', '--json'], { daemon });
    expect(audit.stdout).toContain(PUSHER_KEY);
    expect(audit.stdout).not.toContain(PUSHER_SECRET);
  });

  it('on a terminal, --key without --secret asks for the secret without echoing it', async () => {
    const daemon = await startDaemon();
    const tty = relayOnTty(['apps', 'register', '--id', PUSHER_APP_ID, '--name', 'Legacy', '--key', PUSHER_KEY], { daemon });
    await tty.waitFor(`Channel secret for key ${PUSHER_KEY}`);
    tty.type(`${PUSHER_SECRET}\r`);
    expect(await tty.exited).toBe(0);
    expect(tty.output()).toContain('rlk_40000_');
    expect(tty.output()).not.toContain(PUSHER_SECRET);
    expect(await credentials(daemon, PUSHER_APP_ID)).toEqual({ appId: PUSHER_APP_ID, key: PUSHER_KEY, secret: PUSHER_SECRET });
  });
});
