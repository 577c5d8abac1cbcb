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
  ])('%s', async (_, globals, env, expected) => {
    expect(await resolveTarget(globals, { RELAY_DATA_DIR: dataDir, ...env })).toEqual(expected);
  });
});
