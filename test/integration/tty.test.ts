import { describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { startDaemon } from '../helpers/daemon.js';
import { relayOnTty } from '../helpers/tty.js';

describe('on a terminal', () => {
  it('apps register prompts for what is missing', async () => {
    const daemon = await startDaemon();
    const session = relayOnTty(['apps', 'register'], { daemon });
    await session.waitFor('App ID');
    session.type('tty-app\r');
    await session.waitFor('App name');
    session.type('TTY App\r');
    expect(await session.exited).toBe(0);
    expect(session.output()).toMatch(/rlk_tty-app_[0-9A-Za-z]{44}/);
    const shown = await relay(['apps', 'show', 'tty-app', '--json'], { daemon });
    expect(shown.json<{ app: { name: string } }>().app.name).toBe('TTY App');
  });

  it('apps deactivate asks first, and a "no" changes nothing', async () => {
    const daemon = await startDaemon();
    await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon });
    const no = relayOnTty(['apps', 'deactivate', 'acme-pm'], { daemon });
    await no.waitFor('Deactivate acme-pm?');
    no.type('n\r');
    expect(await no.exited).toBe(0);
    expect((await relay(['apps', 'show', 'acme-pm', '--json'], { daemon })).json<{ app: { status: string } }>().app.status).toBe('active');

    const yes = relayOnTty(['apps', 'deactivate', 'acme-pm'], { daemon });
    await yes.waitFor('Deactivate acme-pm?');
    yes.type('y\r');
    expect(await yes.exited).toBe(0);
    expect((await relay(['apps', 'show', 'acme-pm', '--json'], { daemon })).json<{ app: { status: string } }>().app.status).toBe('inactive');
  });

  it('apps delete asks first, saying what goes, and a "no" changes nothing', async () => {
    const daemon = await startDaemon();
    await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon });
    await relay(['apps', 'deactivate', 'acme-pm', '--yes'], { daemon });
    const no = relayOnTty(['apps', 'delete', 'acme-pm'], { daemon });
    await no.waitFor(/Delete app acme-pm\? Its tokens and webhooks go;\s+its history is kept/);
    no.type('n\r');
    expect(await no.exited).toBe(0);
    expect((await relay(['apps', 'show', 'acme-pm'], { daemon })).exitCode).toBe(0);

    const yes = relayOnTty(['apps', 'delete', 'acme-pm', '--purge'], { daemon });
    await yes.waitFor(/Delete app acme-pm and purge its history\?\s+This cannot be undone/);
    yes.type('y\r');
    expect(await yes.exited).toBe(0);
    expect((await relay(['apps', 'show', 'acme-pm'], { daemon })).exitCode).toBe(3);
  });

  it('tables flag what needs attention in colour, and NO_COLOR turns colour off', async () => {
    const daemon = await startDaemon();
    await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon });
    await relay(['apps', 'deactivate', 'acme-pm', '--yes'], { daemon });
    await relay(['tokens', 'create', '--app', 'acme-pm', '--name', 'ci', '-q'], { daemon });
    const coloured = relayOnTty(['apps', 'list'], { daemon });
    expect(await coloured.exited).toBe(0);
    expect(coloured.output()).toContain('\u001b[33minactive');
    expect(coloured.output()).toContain('ID');

    const tokens = relayOnTty(['tokens', 'list', '--app', 'acme-pm'], { daemon });
    expect(await tokens.exited).toBe(0);
    expect(tokens.output()).toContain('\u001b[33mall scopes');
    expect(tokens.output()).toContain('\u001b[33mnever');

    const plain = relayOnTty(['apps', 'list'], { daemon, env: { NO_COLOR: '1' } });
    expect(await plain.exited).toBe(0);
    expect(plain.output()).toContain('inactive');
    expect(plain.output()).not.toMatch(/\u001b\[3\dm/);
  });

  it('status --watch redraws until Ctrl-C, then exits 0', async () => {
    const daemon = await startDaemon();
    await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon });
    const session = relayOnTty(['status', '--watch', '--interval', '1s'], { daemon });
    await session.waitFor('acme-pm');
    await session.waitFor(/Ctrl-C to stop[\s\S]*Ctrl-C to stop/);
    expect(session.output()).toContain('\u001b[2J');
    session.type('\u0003');
    expect(await session.exited).toBe(0);
  });
});

describe('status --watch without a terminal', () => {
  it('prints one JSON object a line', async () => {
    const daemon = await startDaemon();
    const { execa } = await import('execa');
    const child = execa(process.execPath, ['bin/relay.js', 'status', '--watch', '--interval', '1s'], {
      env: { RELAY_URL: daemon.url, RELAY_DATA_DIR: daemon.dataDir },
      reject: false,
    });
    const lines: string[] = [];
    await new Promise<void>((resolve) => {
      child.stdout?.on('data', (chunk: Buffer) => {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        if (lines.length >= 2) resolve();
      });
    });
    child.kill('SIGINT');
    const result = await child;
    expect(result.exitCode).toBe(0);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ status: 'ok', apps: [] });
  });
});
