import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { relay } from '../helpers/cli.js';
import { startDaemon, tempDir } from '../helpers/daemon.js';

describe('usage errors', () => {
  it.each([
    [['apps', 'list', '--bogus'], /unknown option '--bogus'/],
    [['apps', 'frobnicate'], /unknown command 'frobnicate'/],
    [['apps', 'show'], /missing required argument 'id'/],
    [['apps', 'rotate', 'acme-pm', '--grace', 'soon'], /invalid --grace "soon"/],
    [['apps', 'update', 'acme-pm'], /nothing to change/],
    [['apps', 'update', 'acme-pm', '--rate-limit', 'fast'], /burst-friendly, steady-stream, api-heavy, restricted/],
    [['apps', 'update', 'acme-pm', '--client-events', 'maybe'], /Allowed choices are on, off/],
    [['apps', 'update', 'acme-pm', '--limit', 'maxSockets=5'], /KEY one of maxConnections, maxEventBytes/],
    [['apps', 'update', 'acme-pm', '--limit', 'maxEventBytes=1000000'], /maxEventBytes must be a whole number from 1 to 102400/],
    [['channels', 'list'], /required option '--app <id>' not specified/],
    [['apps', 'rotate', 'acme-pm', '--channel-secret', '--grace', '1h'], /--grace applies to the app token/],
    [['tokens', 'create', '--app', 'acme-pm', '--name', 'x', '--rate-limit', '5/hour'], /invalid rate limit/],
    [['tokens', 'create', '--app', 'acme-pm', '--name', 'x', '--expires', 'someday'], /invalid --expires/],
    [['tokens', 'show', 'rly_abc'], /token secret, not a token id/],
    [['apps', 'show', 'rlk_acme-pm_abc'], /looks like a secret/],
    [['audit', '--limit', '0'], /1 to 1000/],
    [['apps', 'list', '--jq', '.[[['], /--jq/],
  ])('relay %j exits 2', async (args, message) => {
    const daemon = await startDaemon();
    await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon });
    const result = await relay(args, { daemon });
    expect(result.exitCode, result.stderr).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });

  it('--version and --help exit 0', async () => {
    const version = await relay(['--version']);
    expect(version.exitCode).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    const help = await relay(['apps', 'register', '--help']);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('--id <id>');
  });

  it('a wrong admin token exits 4 with a hint', async () => {
    const daemon = await startDaemon();
    const result = await relay(['apps', 'list'], { daemon, env: { RELAY_ADMIN_TOKEN: `rlo_${'x'.repeat(40)}` } });
    expect(result.exitCode).toBe(4);
    expect(result.stderr).toMatch(/hint: .*relay login/);
  });
});

describe('--help', () => {
  const VERBS = [
    'apps register', 'apps list', 'apps show', 'apps deactivate', 'apps delete', 'apps rotate', 'apps credentials',
    'agents register', 'agents list', 'agents delete',
    'tokens create', 'tokens list', 'tokens revoke',
    'events list', 'events show', 'events tail',
    'webhooks add', 'webhooks list', 'webhooks deliveries',
    'agents update', 'schemas add', 'schemas update', 'schemas show', 'schemas remove',
    'functions deploy', 'functions list', 'functions show', 'functions rollback', 'functions remove', 'functions logs', 'functions test',
    'connections list', 'connections close', 'status',
  ];

  it('ends with examples on the main verbs, as gh shows, using only flags the verb has', async () => {
    const helps = await Promise.all(VERBS.map(async (verb) => [verb, await relay([...verb.split(' '), '--help'])] as const));
    for (const [verb, help] of helps) {
      expect(help.exitCode, verb).toBe(0);
      const [, examples = ''] = help.stdout.split('\nExamples:\n');
      const commands = examples.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
      expect(commands.length, `examples of relay ${verb}`).toBeGreaterThan(0);
      // Each example runs this verb (maybe after another one, with &&) with flags it has.
      expect(commands.every((c) => c.includes(`relay ${verb}`)), `${verb}: ${commands.join(' / ')}`).toBe(true);
      for (const command of commands) {
        const own = command.slice(command.lastIndexOf(`relay ${verb}`));
        for (const flag of own.match(/ --?[a-z][a-z-]*/g) ?? []) expect(help.stdout, `${verb}: ${flag.trim()} in "${command}"`).toContain(`${flag.trim()}`);
      }
    }
    expect(helps.find(([verb]) => verb === 'apps register')?.[1].stdout).toContain('Examples:\n  # register an app, keeping its token (shown once) in a variable\n  APP_TOKEN=$(relay apps register --id acme-pm --name "Acme PM" -q)');
  });
});

describe('the channel secret', () => {
  it('rotate --channel-secret replaces it at once and keeps the key', async () => {
    const daemon = await startDaemon();
    await relay(['apps', 'register', '--id', 'acme-pm', '--name', 'Acme PM', '-q'], { daemon });
    const before = (await relay(['apps', 'credentials', 'acme-pm', '--json'], { daemon })).json<{ key: string; secret: string }>();
    const rotated = await relay(['apps', 'rotate', 'acme-pm', '--channel-secret', '-q'], { daemon });
    expect(rotated.exitCode, rotated.stderr).toBe(0);
    const after = (await relay(['apps', 'credentials', 'acme-pm', '--json'], { daemon })).json<{ key: string; secret: string }>();
    expect(rotated.stdout).toBe(`${after.secret}\n`);
    expect(after.key).toBe(before.key);
    expect(after.secret).not.toBe(before.secret);
  });
});

describe('login and logout', () => {
  it('saves a checked profile (mode 0600) that later commands use, and forgets it', async () => {
    const daemon = await startDaemon();
    const config = tempDir('relay-login-');
    const env = { RELAY_CONFIG_DIR: config };
    // No RELAY_URL and no local admin-token file: only the profile can find this daemon.
    const login = await relay(['login', '--url', daemon.url, '--with-token'], { env, input: `${daemon.adminToken}\n` });
    expect(login.exitCode, login.stderr).toBe(0);
    expect(login.stderr).toContain(daemon.url);
    expect(login.stderr).not.toContain(daemon.adminToken);
    expect(statSync(join(config, 'config.json')).mode & 0o777).toBe(0o600);

    const listed = await relay(['apps', 'list', '--json'], { env });
    expect(listed.exitCode, listed.stderr).toBe(0);
    expect(listed.json()).toEqual({ apps: [] });

    const logout = await relay(['logout'], { env });
    expect(logout.exitCode).toBe(0);
    const after = await relay(['apps', 'list'], { env });
    expect(after.exitCode).toBe(6);
  });

  it('refuses a wrong token before saving anything', async () => {
    const daemon = await startDaemon();
    const config = tempDir('relay-login-');
    const login = await relay(['login', '--url', daemon.url, '--with-token'], { env: { RELAY_CONFIG_DIR: config }, input: `rlo_${'x'.repeat(40)}\n` });
    expect(login.exitCode).toBe(4);
    const listed = await relay(['apps', 'list'], { env: { RELAY_CONFIG_DIR: config } });
    expect(listed.exitCode).toBe(6);
  });
});
