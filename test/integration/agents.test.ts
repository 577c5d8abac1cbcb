import { describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { startDaemon } from '../helpers/daemon.js';
import { connect, connectOk, eventually } from '../helpers/ws.js';

interface AgentJson {
  id: string;
  name: string;
  org: string;
  status: string;
  connected: boolean;
  connections: number;
  lastConnectedAt: string | null;
  timeoutMs: number;
}

describe('relay agents', () => {
  it('registers an agent with a token shown once, lists and shows it, and refuses bad ids', async () => {
    const daemon = await startDaemon();
    const registered = await relay(['agents', 'register', '--id', 'athena', '--name', 'Athena', '--timeout', '30s', '--json'], { daemon });
    expect(registered.exitCode, registered.stderr).toBe(0);
    const body = registered.json<{ agent: AgentJson; secret: string }>();
    expect(body.secret).toMatch(/^rla_athena_[0-9A-Za-z]{32,}$/);
    expect(body.agent).toMatchObject({ id: 'athena', name: 'Athena', org: 'default', status: 'active', connected: false, lastConnectedAt: null, timeoutMs: 30_000 });

    const list = await relay(['agents', 'list', '--json'], { daemon });
    expect(list.json<{ agents: AgentJson[] }>().agents.map((a) => a.id)).toEqual(['athena']);
    const plain = await relay(['agents', 'list'], { daemon });
    expect(plain.stdout).toMatch(/athena\s+Athena\s+active\s+no\s+30s/);
    expect(JSON.stringify(await relay(['agents', 'show', 'athena', '--json'], { daemon }))).not.toContain(body.secret);

    const taken = await relay(['agents', 'register', '--id', 'athena', '--name', 'Again'], { daemon });
    expect(taken.exitCode).toBe(5);
    const unknown = await relay(['agents', 'show', 'hermes'], { daemon });
    expect(unknown.exitCode).toBe(3);
    expect(unknown.stderr).toContain('hermes');
    const invalid = await relay(['agents', 'register', '--id', 'Not_A_Slug', '--name', 'X'], { daemon });
    expect(invalid.exitCode).toBe(2);
    expect(invalid.stderr).toContain('invalid agent id');
    const badTimeout = await relay(['agents', 'register', '--id', 'quick', '--name', 'Quick', '--timeout', '10ms'], { daemon });
    expect(badTimeout.exitCode).toBe(2);
    const quiet = await relay(['agents', 'register', '--id', 'hermes', '--name', 'Hermes', '-q'], { daemon });
    expect(quiet.stdout).toMatch(/^rla_hermes_[0-9A-Za-z]+\n$/);
  });

  it('lets an agent connect with its token; deactivation closes it with 4003 and refuses it with 403 until activated', async () => {
    const daemon = await startDaemon();
    const token = (await relay(['agents', 'register', '--id', 'athena', '--name', 'Athena', '-q'], { daemon })).stdout.trim();
    const socket = await connectOk(daemon, token);
    expect(socket.welcome).toMatchObject({ type: 'welcome', role: 'agent', id: 'athena' });
    const shown = await relay(['agents', 'show', 'athena', '--json'], { daemon });
    expect(shown.json<{ agent: AgentJson }>().agent).toMatchObject({ connected: true, connections: 1 });

    const wrong = await connect(daemon, `${token.slice(0, -1)}${token.endsWith('a') ? 'b' : 'a'}`);
    expect(wrong.ok ? 200 : wrong.status).toBe(401);

    expect((await relay(['agents', 'deactivate', 'athena'], { daemon })).exitCode).toBe(2);
    const off = await relay(['agents', 'deactivate', 'athena', '--yes'], { daemon });
    expect(off.exitCode).toBe(0);
    expect((await socket.closed).code).toBe(4003);
    const refused = await connect(daemon, token);
    expect(refused.ok ? 200 : refused.status).toBe(403);
    expect((await relay(['agents', 'deactivate', 'athena', '--yes'], { daemon })).stderr).toContain('already inactive');

    expect((await relay(['agents', 'activate', 'athena'], { daemon })).exitCode).toBe(0);
    await connectOk(daemon, token);
  });

  it('rotate: the new token works at once, the old one until the grace ends, then its socket closes with 4001', async () => {
    const daemon = await startDaemon();
    const old = (await relay(['agents', 'register', '--id', 'athena', '--name', 'Athena', '-q'], { daemon })).stdout.trim();
    const oldSocket = await connectOk(daemon, old);
    const rotated = await relay(['agents', 'rotate', 'athena', '--grace', '1s', '--json'], { daemon });
    expect(rotated.exitCode, rotated.stderr).toBe(0);
    const { secret, previousValidUntil } = rotated.json<{ secret: string; previousValidUntil: string }>();
    expect(secret).toMatch(/^rla_athena_/);
    expect(Date.parse(previousValidUntil)).toBeGreaterThan(Date.now() - 1000);
    await connectOk(daemon, secret);
    expect((await oldSocket.closed).code).toBe(4001);
    const late = await connect(daemon, old);
    expect(late.ok ? 200 : late.status).toBe(401);
  });

  it("apps allow and disallow change the app's allowlist", async () => {
    const daemon = await startDaemon();
    await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon });
    await relay(['agents', 'register', '--id', 'athena', '--name', 'Athena', '-q'], { daemon });
    await relay(['agents', 'register', '--id', 'hermes', '--name', 'Hermes', '-q'], { daemon });
    const allowed = await relay(['apps', 'allow', 'acme-pm', 'athena', 'hermes', '--json'], { daemon });
    expect(allowed.exitCode, allowed.stderr).toBe(0);
    expect(allowed.json<{ allowedAgents: string[] }>().allowedAgents).toEqual(['athena', 'hermes']);
    expect((await relay(['apps', 'disallow', 'acme-pm', 'hermes'], { daemon })).stdout).toContain('acme-pm may send events to: athena');
    const app = await relay(['apps', 'show', 'acme-pm', '--json'], { daemon });
    expect(app.json<{ app: { allowedAgents: string[] } }>().app.allowedAgents).toEqual(['athena']);

    const ghost = await relay(['apps', 'allow', 'acme-pm', 'ghost'], { daemon });
    expect(ghost.exitCode).toBe(3);
    expect(ghost.stderr).toContain('ghost');
    expect((await relay(['apps', 'allow', 'acme-pm', 'Bad_Id'], { daemon })).exitCode).toBe(2);
    expect((await relay(['apps', 'allow', 'acme-pm'], { daemon })).exitCode).toBe(2);

    await relay(['apps', 'disallow', 'acme-pm', 'athena'], { daemon });
    await eventually(async () => {
      const shown = await relay(['apps', 'show', 'acme-pm'], { daemon });
      return shown.stdout.includes('every agent of the organization');
    });
  });
});

describe('relay agents delete', () => {
  it('deletes only a deactivated agent, never the last one an allowlist names, and fails the events still waiting for it', async () => {
    const daemon = await startDaemon();
    const appToken = (await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon })).stdout.trim();
    await relay(['agents', 'register', '--id', 'athena', '--name', 'Athena', '-q'], { daemon });
    await relay(['agents', 'register', '--id', 'hermes', '--name', 'Hermes', '-q'], { daemon });
    expect((await relay(['apps', 'allow', 'acme-pm', 'athena'], { daemon })).exitCode).toBe(0);
    const app = await connectOk(daemon, appToken);
    app.send({ type: 'event', ref: 'r1', agent: 'athena', thread: 't1', payload: { n: 1 } });
    const accepted = await app.nextFrame();
    expect(accepted.type).toBe('accepted');

    const active = await relay(['agents', 'delete', 'athena', '--yes'], { daemon });
    expect(active.exitCode).toBe(5);
    expect(active.stderr).toMatch(/agent "athena" is active: deactivate it/);
    expect((await relay(['agents', 'deactivate', 'athena', '--yes'], { daemon })).exitCode).toBe(0);
    const only = await relay(['agents', 'delete', 'athena', '--yes'], { daemon });
    expect(only.exitCode).toBe(5);
    expect(only.stderr).toMatch(/only agent on the allowlist of app "acme-pm"/);
    expect(only.stderr).toContain('relay apps allow acme-pm');

    expect((await relay(['apps', 'allow', 'acme-pm', 'hermes'], { daemon })).exitCode).toBe(0);
    const deleted = await relay(['agents', 'delete', 'athena', '--yes', '--json'], { daemon });
    expect(deleted.exitCode, deleted.stderr).toBe(0);
    expect(deleted.json()).toMatchObject({ id: 'athena', org: 'default', historyKept: true, purgedEvents: 0, changed: true });
    const failed = await app.nextFrame();
    expect(failed).toMatchObject({ type: 'failed', eventId: accepted.eventId, ref: 'r1', error: { code: 'agent_not_found', message: 'agent "athena" was deleted' } });

    expect((await relay(['agents', 'show', 'athena'], { daemon })).exitCode).toBe(3);
    expect((await relay(['apps', 'show', 'acme-pm', '--json'], { daemon })).json<{ app: { allowedAgents: string[] } }>().app.allowedAgents).toEqual(['hermes']);
    const kept = (await relay(['events', 'list', '--agent', 'athena', '--json'], { daemon })).json<{ events: { id: string; status: string }[] }>().events;
    expect(kept).toEqual([expect.objectContaining({ id: accepted.eventId, status: 'failed' })]);

    // --purge takes the events sent to it.
    await relay(['apps', 'disallow', 'acme-pm', 'hermes'], { daemon });
    app.send({ type: 'event', agent: 'hermes', thread: 't2', payload: { n: 2 } });
    expect((await app.nextFrame()).type).toBe('accepted');
    await relay(['agents', 'deactivate', 'hermes', '--yes'], { daemon });
    const purged = await relay(['agents', 'delete', 'hermes', '--yes', '--purge', '--json'], { daemon });
    expect(purged.exitCode, purged.stderr).toBe(0);
    expect(purged.json()).toMatchObject({ historyKept: false, purgedEvents: 1 });
    expect((await relay(['events', 'list', '--agent', 'hermes', '--json'], { daemon })).json<{ events: unknown[] }>().events).toEqual([]);
    expect((await relay(['agents', 'delete', 'hermes', '--yes'], { daemon })).exitCode).toBe(3);
    await daemon.stop();
  });
});
