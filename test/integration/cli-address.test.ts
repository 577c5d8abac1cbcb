import { execa } from 'execa';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { ROOT, cleanEnv, startDaemon, tempDir } from '../helpers/daemon.js';
import { connectOk, eventually } from '../helpers/ws.js';

/** Issue 15: finding the daemon, --jq's output, and errors in the user's words. */

const port = (url: string): string => new URL(url).port;

describe('--jq prints as gh --jq does', () => {
  it('prints nothing when the filter yields nothing, one line a result, strings raw, other values compact', async () => {
    const daemon = await startDaemon();
    for (const id of ['acme-pm', 'acme-ops']) expect((await relay(['apps', 'register', '--id', id, '--name', id, '-q'], { daemon })).exitCode).toBe(0);

    // The README's own example, with no app connected.
    const none = await relay(['apps', 'list', '--jq', '.apps[] | select(.connected) | .id'], { daemon });
    expect(none).toMatchObject({ exitCode: 0, stdout: '', stderr: '' });
    expect(await relay(['apps', 'list', '--jq', 'empty'], { daemon })).toMatchObject({ exitCode: 0, stdout: '' });

    const many = await relay(['apps', 'list', '--jq', '.apps | sort_by(.id)[] | .id, {id, connected}, .connections'], { daemon });
    expect(many.exitCode, many.stderr).toBe(0);
    expect(many.stdout).toBe('acme-ops\n{"id":"acme-ops","connected":false}\n0\nacme-pm\n{"id":"acme-pm","connected":false}\n0\n');
    // An empty string is a result: an empty line, as jq -r prints it.
    expect((await relay(['apps', 'list', '--jq', '""'], { daemon })).stdout).toBe('\n');
  });

  it('events tail --jq applies the expression to each change', async () => {
    const daemon = await startDaemon();
    const app = await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon });
    const agent = await relay(['agents', 'register', '--id', 'athena', '--name', 'Athena', '-q'], { daemon });
    const tail = execa(process.execPath, [join(ROOT, 'bin/relay.js'), 'events', 'tail', '--jq', 'select(.type == "accepted") | .event.thread'], {
      env: { ...cleanEnv(), RELAY_URL: daemon.url, RELAY_DATA_DIR: daemon.dataDir, RELAY_CONFIG_DIR: tempDir('relay-config-') },
      extendEnv: false,
      reject: false,
    });
    let stdout = '';
    let stderr = '';
    tail.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    tail.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await eventually(async () => stderr.includes('Watching events'), 10_000, 'tail to be watching');
    const appSocket = await connectOk(daemon, app.stdout.trim());
    await connectOk(daemon, agent.stdout.trim());
    appSocket.send({ type: 'event', agent: 'athena', thread: 'first', payload: 1 });
    appSocket.send({ type: 'event', agent: 'athena', thread: 'second', payload: 2 });
    await eventually(async () => stdout.includes('second\n'), 10_000, 'the second accepted line');
    tail.kill('SIGINT');
    expect((await tail).exitCode).toBe(0);
    expect(stdout).toBe('first\nsecond\n');
  });

  it('events tail refuses an expression that does not compile before it starts', async () => {
    const daemon = await startDaemon();
    const result = await relay(['events', 'tail', '--jq', '.event.['], { daemon });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/^error: --jq: syntax error.*\n$/);
    expect(result.stderr).not.toMatch(/Watching/);
  });
});

describe('the daemon address', () => {
  it('--url, RELAY_URL or a profile without a scheme is a usage error that says to add http://', async () => {
    const daemon = await startDaemon();
    const bare = daemon.url.replace('http://', '');
    const flag = await relay(['apps', 'list', '--url', bare], { daemon });
    expect(flag).toMatchObject({ exitCode: 2, stdout: '', stderr: `error: --url must start with http:// or https:// (did you mean ${daemon.url}?)\n` });
    const env = await relay(['apps', 'list'], { daemon, env: { RELAY_URL: bare } });
    expect(env).toMatchObject({ exitCode: 2, stderr: `error: RELAY_URL must start with http:// or https:// (did you mean ${daemon.url}?)\n` });
    const login = await relay(['login', '--url', bare, '--with-token'], { input: daemon.adminToken });
    expect(login).toMatchObject({ exitCode: 2, stderr: `error: --url must start with http:// or https:// (did you mean ${daemon.url}?)\n` });
  });

  it('the CLI finds relayd by RELAY_PORT, as relayd reads it', async () => {
    const daemon = await startDaemon();
    expect((await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon })).exitCode).toBe(0);
    const result = await relay(['apps', 'list', '--jq', '.apps[].id'], { env: { RELAY_PORT: port(daemon.url), RELAY_DATA_DIR: daemon.dataDir } });
    expect(result).toMatchObject({ exitCode: 0, stdout: 'acme-pm\n', stderr: '' });
    const wrong = await relay(['apps', 'list'], { env: { RELAY_PORT: 'seventy' } });
    expect(wrong).toMatchObject({ exitCode: 2, stderr: 'error: RELAY_PORT must be a port number from 1 to 65535 (got "seventy")\n' });
  });

  it('without an admin-token file, says where it looked and what to do (exit 4)', async () => {
    const daemon = await startDaemon();
    const elsewhere = tempDir('relay-other-data-');
    const result = await relay(['apps', 'list'], { env: { RELAY_PORT: port(daemon.url), RELAY_DATA_DIR: elsewhere } });
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toContain(`error: no admin token for relayd at ${daemon.url}: ${join(elsewhere, 'admin-token')} does not exist (the data dir RELAY_DATA_DIR names)\n`);
    expect(result.stderr).toMatch(/hint: start relayd with that data dir .*--token.*RELAY_ADMIN_TOKEN.*`relay login`/);
    expect(result.stderr).not.toMatch(/missing credential|this is a bug/);
  });

  it("an admin-token file of another relayd: says which file relayd refused (exit 4)", async () => {
    const daemon = await startDaemon();
    const other = await startDaemon();
    const result = await relay(['apps', 'list'], { env: { RELAY_PORT: port(daemon.url), RELAY_DATA_DIR: other.dataDir } });
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toContain(`error: relayd at ${daemon.url} refused the admin token in ${join(other.dataDir, 'admin-token')} (is it using another data dir?)\n`);
    expect(result.stderr).toMatch(/hint: start relayd with that data dir/);
  });

  it('an unreachable relayd on RELAY_PORT is exit 6, not a bug', async () => {
    const daemon = await startDaemon();
    const url = daemon.url;
    await daemon.stop();
    const result = await relay(['apps', 'list'], { env: { RELAY_PORT: port(url) } });
    expect(result.exitCode).toBe(6);
    expect(result.stderr).toContain(`cannot reach relayd at ${url}`);
    expect(result.stderr).not.toMatch(/this is a bug/);
  });
});

describe('validation errors in the words the user wrote', () => {
  it('the CLI checks --grace before sending, in its units', async () => {
    const daemon = await startDaemon();
    await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon });
    const apps = await relay(['apps', 'rotate', 'acme-pm', '--grace', '400d'], { daemon });
    expect(apps).toMatchObject({ exitCode: 2, stdout: '', stderr: 'error: --grace may be at most 30d (got 400d)\n' });
    await relay(['agents', 'register', '--id', 'athena', '--name', 'Athena', '-q'], { daemon });
    const agents = await relay(['agents', 'rotate', 'athena', '--grace', '31d'], { daemon });
    expect(agents).toMatchObject({ exitCode: 2, stderr: 'error: --grace may be at most 30d (got 31d)\n' });
  });

  it("relayd names the JSON field and states the limit in readable units", async () => {
    const daemon = await startDaemon();
    await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon });
    const rotate = await daemon.admin('POST', '/admin/v1/orgs/default/apps/acme-pm/rotate', { graceMs: 400 * 86_400_000 });
    expect(rotate).toMatchObject({ status: 400, body: { error: { code: 'invalid_request', message: 'graceMs may be at most 2592000000 (30 days)' } } });
    const token = (await relay(['tokens', 'create', '--app', 'acme-pm', '--name', 'publisher', '-q'], { daemon })).stdout.trim();
    const publish = await fetch(`${daemon.url}/api/v1/apps/acme-pm/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'greeting', channel: 'news' }),
    });
    expect(publish.status).toBe(400);
    expect(await publish.json()).toEqual({ error: { code: 'invalid_request', message: 'data is required (a string)' } });
  });
});

describe('a mistyped RELAY_* variable', () => {
  it('the CLI names it with the closest setting, on stderr, and goes on', async () => {
    const daemon = await startDaemon();
    const result = await relay(['apps', 'list', '--jq', '.apps | length'], { daemon, env: { RELAY_PROT: '7431', RELAY_TOKN: 'x' } });
    expect(result).toMatchObject({ exitCode: 0, stdout: '0\n' });
    expect(result.stderr).toBe(
      'warning: RELAY_PROT is not a Relay setting; did you mean RELAY_PORT?\nwarning: RELAY_TOKN is not a Relay setting; did you mean RELAY_ADMIN_TOKEN?\n',
    );
  });

  it('relayd names it with the same words', async () => {
    const daemon = await startDaemon({ env: { RELAY_PROT: '7431' } });
    expect(daemon.logs().join('\n')).toContain('RELAY_PROT is not a Relay setting; did you mean RELAY_PORT?');
  });
});
