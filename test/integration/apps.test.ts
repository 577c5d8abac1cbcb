import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { startDaemon, startSharedDaemon, type Daemon } from '../helpers/daemon.js';
import { connect, connectOk, eventually } from '../helpers/ws.js';

interface AppJson {
  id: string;
  name: string;
  description: string | null;
  org: string;
  status: string;
  createdAt: string;
  connected: boolean;
  connections: number;
  lastConnectedAt: string | null;
  allowedAgents: string[];
}

/**
 * The relayd of the tests that look at one app of their own and need no restart, no stop and no
 * list of every app: one start for the file.
 */
let shared: Daemon;
beforeAll(async () => {
  shared = await startSharedDaemon();
});

let apps = 0;

/** An app id of the test's own, for the shared relayd. */
const ownId = (): string => `acme-pm-${++apps}`;

async function register(daemon: Daemon, id = 'acme-pm', name = 'Acme PM'): Promise<{ app: AppJson; secret: string }> {
  const result = await relay(['apps', 'register', '--id', id, '--name', name, '--json'], { daemon });
  expect(result.exitCode, result.stderr).toBe(0);
  return result.json();
}

async function show(daemon: Daemon, id = 'acme-pm'): Promise<AppJson> {
  const result = await relay(['apps', 'show', id, '--json'], { daemon });
  expect(result.exitCode, result.stderr).toBe(0);
  return result.json<{ app: AppJson }>().app;
}

describe('apps register', () => {
  it('prints the app and its token once, and keeps no plain secret in the data dir', async () => {
    const daemon = await startDaemon();
    const result = await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '--json'], { daemon });
    expect(result.exitCode, result.stderr).toBe(0);
    const body = result.json<{ app: AppJson; secret: string }>();
    expect(Object.keys(body).sort()).toEqual(['app', 'secret']);
    expect(body.secret).toMatch(/^rlk_acme-pm_[0-9A-Za-z]{44}$/);
    expect(body.app).toMatchObject({
      id: 'acme-pm',
      name: 'Acme PM',
      description: null,
      org: 'default',
      status: 'active',
      connected: false,
      connections: 0,
      lastConnectedAt: null,
      allowedAgents: [],
    });
    expect(new Date(body.app.createdAt).toISOString()).toBe(body.app.createdAt);

    const credentials = await relay(['apps', 'credentials', 'acme-pm', '--json'], { daemon });
    expect(credentials.exitCode, credentials.stderr).toBe(0);
    const { key, secret: channelSecret } = credentials.json<{ appId: string; key: string; secret: string }>();
    expect(credentials.json()).toMatchObject({ appId: 'acme-pm' });
    expect(channelSecret.length).toBeGreaterThanOrEqual(40);

    await daemon.stop();
    for (const file of readdirSync(daemon.dataDir)) {
      const content = readFileSync(join(daemon.dataDir, file));
      expect(content.includes(body.secret), `${file} holds the app token`).toBe(false);
      expect(content.includes(body.secret.slice(12)), `${file} holds the app token's random part`).toBe(false);
      expect(content.includes(channelSecret), `${file} holds the channel secret`).toBe(false);
    }
    expect(key).toMatch(/^[0-9a-f]{20}$/);
  });

  it('refuses a taken id with exit 5 and a bad id with exit 2 naming the rule', async () => {
    const daemon = await startDaemon();
    await register(daemon);
    const again = await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Other'], { daemon });
    expect(again.exitCode).toBe(5);
    expect(again.stderr).toMatch(/exists already/);
    expect(again.stdout).toBe('');

    const bads = ['Acme', '-abc', 'abc-', 'a_b', 'x'.repeat(41)];
    // Each refusal stands alone: asked all at once.
    const results = await Promise.all(bads.map((bad) => relay(['apps', 'register', '--id', bad, '--name', 'X'], { daemon })));
    for (const [i, bad] of bads.entries()) {
      const result = results[i]!;
      expect(result.exitCode, `${bad}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(/lowercase letters, digits and hyphens/);
    }
    const list = await relay(['apps', 'list', '--json'], { daemon });
    expect(list.json<{ apps: AppJson[] }>().apps.map((a) => a.id)).toEqual(['acme-pm']);
  });

  it('without a TTY, a missing --id is a usage error, not a prompt', async () => {
    const daemon = shared;
    const result = await relay(['apps', 'register', '--name', 'Acme PM'], { daemon });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/--id/);
  });
});

describe('connections and the app lifecycle', () => {
  it('a handshake with the token gets welcome, and the app shows as connected', async () => {
    const daemon = shared;
    const id = ownId();
    const { secret } = await register(daemon, id);
    const socket = await connectOk(daemon, secret);
    expect(socket.welcome).toMatchObject({ type: 'welcome', role: 'app', id });
    expect(socket.welcome.connectionId).toMatch(/^conn_/);
    const app = await show(daemon, id);
    expect(app).toMatchObject({ connected: true, connections: 1 });
    expect(app.lastConnectedAt).not.toBeNull();

    socket.ws.close();
    await eventually(async () => (await show(daemon, id)).connections === 0, 5000, 'the connection to be gone');
    expect((await show(daemon, id)).connected).toBe(false);
  });

  it('refuses bad tokens at the handshake with 401', async () => {
    const daemon = shared;
    const id = ownId();
    const { secret } = await register(daemon, id);
    const changed = secret.slice(0, -1) + (secret.endsWith('a') ? 'b' : 'a');
    for (const token of [changed, `rlk_${id}_short`, 'nonsense', `rlk_other-app_${secret.slice(-44)}`]) {
      const result = await connect(daemon, token);
      expect(result.ok, token).toBe(false);
      if (!result.ok) expect(result.status).toBe(401);
    }
  });

  it('deactivate closes sockets with 4003 and refuses handshakes with 403; activate lets the same token in', async () => {
    const daemon = shared;
    const id = ownId();
    const { secret } = await register(daemon, id);
    const socket = await connectOk(daemon, secret);

    const deactivated = await relay(['apps', 'deactivate', id, '--yes', '--json'], { daemon });
    expect(deactivated.exitCode, deactivated.stderr).toBe(0);
    expect(deactivated.json<{ app: AppJson }>().app.status).toBe('inactive');
    expect((await socket.closed).code).toBe(4003);

    const refused = await connect(daemon, secret);
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.status).toBe(403);

    const again = await relay(['apps', 'deactivate', id, '--yes'], { daemon });
    expect(again.exitCode).toBe(0);
    expect(again.stderr).toMatch(/already inactive/);

    const activated = await relay(['apps', 'activate', id, '--json'], { daemon });
    expect(activated.exitCode, activated.stderr).toBe(0);
    expect(activated.json<{ app: AppJson }>().app.status).toBe('active');
    expect((await connectOk(daemon, secret)).welcome).toMatchObject({ type: 'welcome', id });
  });

  it('deactivate without --yes and without a TTY is a usage error and changes nothing', async () => {
    const daemon = shared;
    const id = ownId();
    await register(daemon, id);
    const result = await relay(['apps', 'deactivate', id], { daemon });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/--yes/);
    expect((await show(daemon, id)).status).toBe('active');
  });

  it('rotate: the new token works at once, the old one until the grace ends, then 401 and its socket closed with 4001', async () => {
    const daemon = shared;
    const id = ownId();
    const { secret: old } = await register(daemon, id);
    const oldSocket = await connectOk(daemon, old);

    const rotated = await relay(['apps', 'rotate', id, '--grace', '2s', '-q'], { daemon });
    expect(rotated.exitCode, rotated.stderr).toBe(0);
    const fresh = rotated.stdout.trim();
    expect(rotated.stdout).toBe(`${fresh}\n`);
    expect(fresh).toMatch(new RegExp(`^rlk_${id}_[0-9A-Za-z]{44}$`));
    expect(fresh).not.toBe(old);

    const newSocket = await connectOk(daemon, fresh);
    const oldAgain = await connectOk(daemon, old);
    expect(oldAgain.welcome.type).toBe('welcome');

    const [first, second] = await Promise.all([oldSocket.closed, oldAgain.closed]);
    expect(first.code).toBe(4001);
    expect(second.code).toBe(4001);
    const refused = await connect(daemon, old);
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.status).toBe(401);

    // The new token's socket stays open and answers.
    newSocket.ws.send(JSON.stringify({ type: 'ping' }));
    expect(await newSocket.nextFrame()).toEqual({ type: 'pong' });
    expect((await show(daemon, id)).connections).toBe(1);
  });

  it('rotate --json gives the new secret and when the old one stops working', async () => {
    const daemon = shared;
    const id = ownId();
    await register(daemon, id);
    const before = Date.now();
    const result = await relay(['apps', 'rotate', id, '--json'], { daemon });
    expect(result.exitCode, result.stderr).toBe(0);
    const body = result.json<{ app: AppJson; secret: string; previousValidUntil: string }>();
    expect(body.secret).toMatch(new RegExp(`^rlk_${id}_`));
    const until = Date.parse(body.previousValidUntil);
    expect(until - before).toBeGreaterThan(3_590_000);
    expect(until - before).toBeLessThan(3_620_000);
  });

  it('a grace period still running survives a restart and still ends with 4001', async () => {
    const daemon = await startDaemon();
    const { secret: old } = await register(daemon);
    await relay(['apps', 'rotate', 'acme-pm', '--grace', '3s', '-q'], { daemon });
    await daemon.stop();
    const restarted = await startDaemon({ dataDir: daemon.dataDir });
    const socket = await connectOk(restarted, old);
    expect((await socket.closed).code).toBe(4001);
  });
});

describe('apps list, show, update', () => {
  it('lists apps with their state, updates name and description, and says not found with exit 3', async () => {
    const daemon = await startDaemon();
    await register(daemon, 'acme-pm', 'Acme PM');
    await register(daemon, 'flow', 'Flow');
    const updated = await relay(['apps', 'update', 'flow', '--name', 'Flow Engine', '--description', 'workflows', '--json'], { daemon });
    expect(updated.exitCode, updated.stderr).toBe(0);
    expect(updated.json<{ app: AppJson }>().app).toMatchObject({ id: 'flow', name: 'Flow Engine', description: 'workflows' });

    const list = await relay(['apps', 'list', '--json'], { daemon });
    expect(list.exitCode).toBe(0);
    const apps = list.json<{ apps: AppJson[] }>().apps;
    expect(apps.map((a) => [a.id, a.name])).toEqual([
      ['acme-pm', 'Acme PM'],
      ['flow', 'Flow Engine'],
    ]);

    const shown = await relay(['apps', 'show', 'flow', '--json'], { daemon });
    expect(shown.json()).toMatchObject({ app: { id: 'flow' }, recentEvents: [] });

    const missing = await relay(['apps', 'show', 'nope', '--json'], { daemon });
    expect(missing.exitCode).toBe(3);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toMatch(/not found/);
    expect((await relay(['apps', 'deactivate', 'nope', '--yes'], { daemon })).exitCode).toBe(3);
    expect((await relay(['apps', 'rotate', 'nope'], { daemon })).exitCode).toBe(3);
  });

  it('plain output without a TTY: no colour, one line an app', async () => {
    const daemon = await startDaemon();
    await register(daemon, 'acme-pm', 'Acme PM');
    await register(daemon, 'flow', 'Flow');
    const list = await relay(['apps', 'list'], { daemon, env: { CLICOLOR_FORCE: '0' } });
    expect(list.exitCode).toBe(0);
    expect(list.stdout).not.toMatch(/\u001b\[/);
    const lines = list.stdout.trim().split('\n');
    expect(lines.some((l) => l.includes('acme-pm') && l.includes('Acme PM'))).toBe(true);
    expect(lines.some((l) => l.includes('flow'))).toBe(true);
  });

  it('--jq filters the JSON', async () => {
    const daemon = await startDaemon();
    await register(daemon, 'acme-pm');
    await register(daemon, 'flow', 'Flow');
    const result = await relay(['apps', 'list', '--jq', '.apps[].id'], { daemon });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toBe('acme-pm\nflow\n');
  });
});

describe('organizations', () => {
  it('apps live in an organization; the same id can exist in two', async () => {
    const daemon = await startDaemon();
    const created = await relay(['orgs', 'create', '--id', 'acme', '--name', 'Acme Corp', '--json'], { daemon });
    expect(created.exitCode, created.stderr).toBe(0);
    await register(daemon, 'portal');
    const other = await relay(['apps', 'register', '--org', 'acme', '--id', 'portal', '--name', 'Portal', '--json'], { daemon });
    expect(other.exitCode, other.stderr).toBe(0);
    expect(other.json<{ app: AppJson }>().app.org).toBe('acme');
    const list = await relay(['apps', 'list', '--org', 'acme', '--json'], { daemon });
    expect(list.json<{ apps: AppJson[] }>().apps.map((a) => `${a.org}/${a.id}`)).toEqual(['acme/portal']);
    const unknown = await relay(['apps', 'list', '--org', 'nope'], { daemon });
    expect(unknown.exitCode).toBe(3);
  });
});

describe('apps delete', () => {
  it('deletes only a deactivated app, keeps its history under an id that stays taken, and frees the id with --purge', async () => {
    const daemon = await startDaemon();
    const { secret } = await register(daemon);
    expect((await relay(['agents', 'register', '--id', 'athena', '--name', 'Athena', '-q'], { daemon })).exitCode).toBe(0);
    // An event for an agent that is offline: pending when the app goes.
    const app = await connectOk(daemon, secret);
    app.send({ type: 'event', agent: 'athena', thread: 't1', payload: { n: 1 } });
    const accepted = await app.nextFrame();
    expect(accepted.type).toBe('accepted');
    const eventId = accepted.eventId as string;

    const noYes = await relay(['apps', 'delete', 'acme-pm'], { daemon });
    expect(noYes.exitCode).toBe(2);
    expect(noYes.stderr).toContain('--yes');
    const active = await relay(['apps', 'delete', 'acme-pm', '--yes'], { daemon });
    expect(active.exitCode).toBe(5);
    expect(active.stderr).toMatch(/app "acme-pm" is active: deactivate it/);
    expect(active.stderr).toContain('relay apps deactivate acme-pm');
    expect(active.stderr).not.toMatch(/this is a bug/);

    expect((await relay(['apps', 'deactivate', 'acme-pm', '--yes'], { daemon })).exitCode).toBe(0);
    const deleted = await relay(['apps', 'delete', 'acme-pm', '--yes', '--json'], { daemon });
    expect(deleted.exitCode, deleted.stderr).toBe(0);
    expect(deleted.json()).toMatchObject({ id: 'acme-pm', org: 'default', historyKept: true, purgedEvents: 0, changed: true });
    expect((await relay(['apps', 'list', '--json'], { daemon })).json<{ apps: AppJson[] }>().apps).toEqual([]);

    const shown = await relay(['apps', 'show', 'acme-pm'], { daemon });
    expect(shown.exitCode).toBe(3);
    expect(shown.stderr).toMatch(/app "acme-pm" was deleted on \d{4}-/);
    expect(shown.stderr).toContain('relay events list --app acme-pm');
    const handshake = await connect(daemon, secret);
    expect(handshake.ok).toBe(false);

    // History stays, in the organization's list and the app's; the pending event failed.
    const all = (await relay(['events', 'list', '--json'], { daemon })).json<{ events: { id: string; status: string }[] }>().events;
    expect(all).toEqual([expect.objectContaining({ id: eventId, status: 'failed' })]);
    const ofApp = (await relay(['events', 'list', '--app', 'acme-pm', '--json'], { daemon })).json<{ events: { id: string }[] }>().events;
    expect(ofApp.map((e) => e.id)).toEqual([eventId]);
    const event = (await relay(['events', 'show', eventId, '--json'], { daemon })).json<{ event: { error: { code: string }; timeline: { type: string }[] } }>().event;
    expect(event.error.code).toBe('app_deleted');

    // The id is not handed to a new app that would read that history.
    const again = await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'New PM'], { daemon });
    expect(again.exitCode).toBe(5);
    expect(again.stderr).toMatch(/belonged to an app deleted on .*history is kept/);
    expect(again.stderr).toContain('relay apps delete acme-pm --purge');

    // Deleting again changes nothing (a script may retry); --purge then takes the history.
    const retry = await relay(['apps', 'delete', 'acme-pm', '--yes', '--json'], { daemon });
    expect(retry.exitCode, retry.stderr).toBe(0);
    expect(retry.json()).toMatchObject({ changed: false, historyKept: true });
    const purged = await relay(['apps', 'delete', 'acme-pm', '--yes', '--purge', '--json'], { daemon });
    expect(purged.exitCode, purged.stderr).toBe(0);
    expect(purged.json()).toMatchObject({ changed: true, historyKept: false, purgedEvents: 1 });
    expect((await relay(['events', 'list', '--json'], { daemon })).json<{ events: unknown[] }>().events).toEqual([]);
    expect((await relay(['events', 'show', eventId], { daemon })).exitCode).toBe(3);

    const fresh = await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'New PM', '--json'], { daemon });
    expect(fresh.exitCode, fresh.stderr).toBe(0);
    expect((await relay(['events', 'list', '--app', 'acme-pm', '--json'], { daemon })).json<{ events: unknown[] }>().events).toEqual([]);
    expect((await relay(['apps', 'delete', 'no-such-app', '--yes'], { daemon })).exitCode).toBe(3);
    await daemon.stop();
  });

  it('takes the tokens, API tokens and webhooks with the app, and --purge deletes its history at once', async () => {
    const daemon = await startDaemon();
    await register(daemon);
    const token = await relay(['tokens', 'create', '--app', 'acme-pm', '--name', 'ci', '--json'], { daemon });
    const { token: created, secret } = token.json<{ token: { id: string }; secret: string }>();
    const published = await fetch(`${daemon.url}/api/v1/apps/acme-pm/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'e', channel: 'c', data: '{}' }),
    });
    expect(published.status).toBe(200);
    expect((await relay(['apps', 'deactivate', 'acme-pm', '--yes'], { daemon })).exitCode).toBe(0);
    const deleted = await relay(['apps', 'delete', 'acme-pm', '--purge', '--yes'], { daemon });
    expect(deleted.exitCode, deleted.stderr).toBe(0);
    expect(deleted.stderr).toMatch(/Deleted app acme-pm; 1 event purged/);
    expect((await relay(['tokens', 'show', created.id], { daemon })).exitCode).toBe(3);
    const refused = await fetch(`${daemon.url}/api/v1/apps/acme-pm/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'e', channel: 'c', data: '{}' }),
    });
    expect(refused.status).toBe(401);
    // Purged: the id is free again at once.
    expect((await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Again', '-q'], { daemon })).exitCode).toBe(0);
    await daemon.stop();
  });
});
