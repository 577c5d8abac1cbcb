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
