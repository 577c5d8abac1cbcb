import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { colorEnabled, resolveTarget } from '../../src/cli/context.js';

describe('colour', () => {
  it.each([
    [{}, true, true],
    [{}, false, false],
    [{ NO_COLOR: '1' }, true, false],
    [{ NO_COLOR: '' }, true, true],
    [{ CLICOLOR: '0' }, true, false],
    [{ CLICOLOR_FORCE: '1' }, false, true],
    [{ CLICOLOR_FORCE: '1', NO_COLOR: '1' }, false, true],
    [{ CLICOLOR_FORCE: '0' }, false, false],
  ])('%j on a TTY=%s → %s', (env, tty, expected) => {
    expect(colorEnabled(env, tty)).toBe(expected);
  });
});

describe('finding the daemon and the admin token', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'relay-ctx-data-'));
  writeFileSync(join(dataDir, 'admin-token'), 'rlo_fromfile\n');
  const configDir = mkdtempSync(join(tmpdir(), 'relay-ctx-config-'));
  writeFileSync(join(configDir, 'config.json'), JSON.stringify({ profiles: { default: { url: 'http://relay.example:7420', token: 'rlo_fromprofile' }, other: { url: 'http://127.0.0.1:7420', token: 'rlo_other' } } }));
  const noConfig = mkdtempSync(join(tmpdir(), 'relay-ctx-none-'));

  it.each([
    ['flags win', { url: 'http://127.0.0.1:1', token: 'rlo_flag' }, { RELAY_URL: 'http://127.0.0.1:2', RELAY_ADMIN_TOKEN: 'rlo_env' }, { url: 'http://127.0.0.1:1', token: 'rlo_flag' }],
    ['then the environment', {}, { RELAY_URL: 'http://127.0.0.1:2', RELAY_ADMIN_TOKEN: 'rlo_env' }, { url: 'http://127.0.0.1:2', token: 'rlo_env' }],
    ['then the profile', {}, { RELAY_CONFIG_DIR: configDir }, { url: 'http://relay.example:7420', token: 'rlo_fromprofile' }],
    ['a named profile', { profile: 'other' }, { RELAY_CONFIG_DIR: configDir }, { url: 'http://127.0.0.1:7420', token: 'rlo_other' }],
    ['then the local admin-token file', {}, { RELAY_CONFIG_DIR: noConfig }, { url: 'http://127.0.0.1:7420', token: 'rlo_fromfile' }],
    ["never a profile's token for another URL", { url: 'http://127.0.0.1:9' }, { RELAY_CONFIG_DIR: configDir }, { url: 'http://127.0.0.1:9', token: 'rlo_fromfile' }],
    ['never the local file for a remote URL', { url: 'http://elsewhere.example:7420' }, { RELAY_CONFIG_DIR: noConfig }, { url: 'http://elsewhere.example:7420', token: null }],
    ['RELAY_HOST and RELAY_PORT as relayd reads them', {}, { RELAY_CONFIG_DIR: noConfig, RELAY_PORT: '7431' }, { url: 'http://127.0.0.1:7431', token: 'rlo_fromfile' }],
    ['relayd listening on every address is reached on loopback', {}, { RELAY_CONFIG_DIR: noConfig, RELAY_HOST: '0.0.0.0', RELAY_PORT: '7431' }, { url: 'http://127.0.0.1:7431', token: 'rlo_fromfile' }],
    ['an IPv6 host goes in brackets', {}, { RELAY_CONFIG_DIR: noConfig, RELAY_HOST: '::1' }, { url: 'http://[::1]:7420', token: 'rlo_fromfile' }],
    ['the profile before RELAY_PORT', {}, { RELAY_CONFIG_DIR: configDir, RELAY_PORT: '7431' }, { url: 'http://relay.example:7420', token: 'rlo_fromprofile' }],
    ['RELAY_URL before RELAY_PORT', {}, { RELAY_CONFIG_DIR: noConfig, RELAY_URL: 'http://127.0.0.1:2', RELAY_PORT: '7431' }, { url: 'http://127.0.0.1:2', token: 'rlo_fromfile' }],
    ['an empty variable is unset', {}, { RELAY_CONFIG_DIR: noConfig, RELAY_URL: '', RELAY_PORT: '', RELAY_ADMIN_TOKEN: '' }, { url: 'http://127.0.0.1:7420', token: 'rlo_fromfile' }],
  ])('%s', async (_, globals, env, expected) => {
    expect(await resolveTarget(globals, { RELAY_DATA_DIR: dataDir, ...env })).toMatchObject(expected);
  });

  it('without a token file, says where it looked and what to do', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'relay-ctx-empty-'));
    const target = await resolveTarget({}, { RELAY_DATA_DIR: empty, RELAY_CONFIG_DIR: noConfig, RELAY_PORT: '7431' });
    expect(target.token).toBeNull();
    expect(target.refused?.code).toBe('unauthorized');
    expect(target.refused?.message).toBe(`no admin token for relayd at http://127.0.0.1:7431: ${join(empty, 'admin-token')} does not exist (the data dir RELAY_DATA_DIR names)`);
    expect(target.refused?.hint).toMatch(/start relayd with that data dir .*--token.*RELAY_ADMIN_TOKEN.*relay login/);
  });

  it.each([
    ['--url', { url: '127.0.0.1:7431' }, {}, '--url must start with http:// or https:// (did you mean http://127.0.0.1:7431?)'],
    ['RELAY_URL', {}, { RELAY_URL: 'localhost:7431' }, 'RELAY_URL must start with http:// or https:// (did you mean http://localhost:7431?)'],
    ["a profile's url", {}, { RELAY_CONFIG_DIR: badProfile() }, 'the url of profile "default" must start with http:// or https:// (did you mean http://127.0.0.1:7431?)'],
    ['RELAY_PORT', {}, { RELAY_PORT: '74x' }, 'RELAY_PORT must be a port number from 1 to 65535 (got "74x")'],
    ['a token no header can carry', { token: 'rlo_a b' }, {}, 'the admin token from --token holds spaces or characters no token has'],
  ])('%s that cannot be used is a usage error', async (_, globals, env, message) => {
    await expect(resolveTarget(globals, { RELAY_DATA_DIR: dataDir, RELAY_CONFIG_DIR: noConfig, ...env })).rejects.toMatchObject({ code: 'invalid_request', message });
  });

  function badProfile(): string {
    const dir = mkdtempSync(join(tmpdir(), 'relay-ctx-bad-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ profiles: { default: { url: '127.0.0.1:7431', token: 'rlo_x' } } }));
    return dir;
  }
});
