import { describe, expect, it } from 'vitest';
import { SETTINGS, loadConfig } from '../../daemon/config.js';
import { RotateBody, PublishBody, BatchBody, RegisterAgentBody, describeIssues, parseInput } from '../../src/shared/schemas.js';
import { checkUrl, dataDirFrom, defaultDataDir, listenUrl } from '../../src/shared/address.js';
import { RELAYD_VARIABLES, closest, strayVariableWarnings } from '../../src/shared/environment.js';

describe("the daemon's address, as relayd and the CLI both find it", () => {
  it.each([
    [{}, 'http://127.0.0.1:7420'],
    [{ RELAY_PORT: '7431' }, 'http://127.0.0.1:7431'],
    [{ RELAY_HOST: 'localhost', RELAY_PORT: '7431' }, 'http://localhost:7431'],
    [{ RELAY_HOST: '0.0.0.0' }, 'http://127.0.0.1:7420'],
    [{ RELAY_HOST: '::' }, 'http://[::1]:7420'],
    [{ RELAY_HOST: '::1', RELAY_PORT: '9' }, 'http://[::1]:9'],
    [{ RELAY_PORT: '' }, 'http://127.0.0.1:7420'],
  ])('%j → %s', (env, url) => {
    expect(listenUrl(env).url).toBe(url);
  });

  it('relayd listens where the CLI looks, and keeps its data where the CLI looks for admin-token', async () => {
    const env = { RELAY_HOST: '127.0.0.2', RELAY_PORT: '7431', RELAY_DATA_DIR: '/tmp/relay-somewhere' };
    const result = await loadConfig({}, env);
    expect(result.config).toMatchObject({ host: '127.0.0.2', port: 7431, dataDir: (await dataDirFrom(env)).dir });
    expect(listenUrl(env).url).toBe(`http://${result.config?.host}:${result.config?.port}`);
    const defaults = await loadConfig({}, {});
    expect(defaults.config).toMatchObject({ host: '127.0.0.1', port: 7420, dataDir: await defaultDataDir() });
    expect((await dataDirFrom({})).dir).toBe(defaults.config?.dataDir);
  });

  it.each([
    ['127.0.0.1:7431', '--url must start with http:// or https:// (did you mean http://127.0.0.1:7431?)'],
    ['localhost:7431', '--url must start with http:// or https:// (did you mean http://localhost:7431?)'],
    ['ws://127.0.0.1:7431/', '--url must start with http:// or https:// (did you mean http://127.0.0.1:7431?)'],
    ['wss://relay.example', '--url must start with http:// or https:// (did you mean https://relay.example?)'],
    ['http://', '--url "http://" is not a URL: use http://HOST:PORT (say http://127.0.0.1:7420)'],
  ])('%s is refused with the fix', (url, message) => {
    expect(() => checkUrl(url, '--url')).toThrow(expect.objectContaining({ code: 'invalid_request', message }));
  });

  it('keeps a good URL, without trailing slashes', () => {
    expect(checkUrl('HTTPS://relay.example:8443/', '--url')).toBe('HTTPS://relay.example:8443');
  });

  it.each([
    [{ RELAY_PORT: 'http' }, 'RELAY_PORT must be a port number from 1 to 65535 (got "http")'],
    [{ RELAY_PORT: '70000' }, 'RELAY_PORT must be a port number from 1 to 65535 (got "70000")'],
    [{ RELAY_PORT: '0' }, 'RELAY_PORT=0 lets relayd take any free port, which the CLI cannot know'],
  ])('%j is a usage error', (env, message) => {
    expect(() => listenUrl(env)).toThrow(expect.objectContaining({ code: 'invalid_request', message }));
  });
});

describe('mistyped RELAY_* variables', () => {
  it('one list: relayd reads exactly the variables of RELAYD_VARIABLES', () => {
    expect(new Set(Object.values(SETTINGS).map((s) => s.env))).toEqual(new Set(RELAYD_VARIABLES));
  });

  it.each([
    ['RELAY_PROT', 'RELAY_PORT'],
    ['RELAY_TOKN', 'RELAY_ADMIN_TOKEN'],
    ['RELAY_TOKEN', 'RELAY_ADMIN_TOKEN'],
    ['RELAY_DATADIR', 'RELAY_DATA_DIR'],
    ['RELAY_ULR', 'RELAY_URL'],
    ['RELAY_LOGLEVEL', 'RELAY_LOG_LEVEL'],
    ['RELAY_HOTS', 'RELAY_HOST'],
    ['RELAY_SOMETHING_ELSE_ENTIRELY', null],
  ])('%s → %s', (name, expected) => {
    const known = [...RELAYD_VARIABLES, 'RELAY_URL', 'RELAY_ADMIN_TOKEN', 'RELAY_PROFILE', 'RELAY_CONFIG_DIR', 'RELAY_DEBUG', 'RELAY_APP_TOKEN', 'RELAY_AGENT_TOKEN'];
    expect(closest(name, known)).toBe(expected);
  });

  it('warns on RELAY_* variables only, and never on known ones', () => {
    expect(strayVariableWarnings({ RELAY_PROT: '1', RELAY_PORT: '1', RELAY_URL: 'x', RELAY_APP_TOKEN: 'x', npm_config_cache: 'x', PATH: '/bin', RELAY_ZZZZZZZZZZ: '1' })).toEqual([
      'RELAY_PROT is not a Relay setting; did you mean RELAY_PORT?',
      'RELAY_ZZZZZZZZZZ is not a Relay setting (ignored)',
    ]);
  });

  it('relayd warns with the same words', async () => {
    const result = await loadConfig({}, { RELAY_PROT: '7431', RELAY_ADMIN_TOKEN: 'x', RELAY_DATA_DIR: '/tmp/relay-x' });
    expect(result.warnings).toEqual(['RELAY_PROT is not a Relay setting; did you mean RELAY_PORT?']);
  });
});

describe('validation messages in the words of the JSON a user wrote', () => {
  const message = (schema: Parameters<typeof parseInput>[0], value: unknown): string => {
    const result = parseInput(schema, value);
    if (result.success) throw new Error('expected a refusal');
    return describeIssues(result.error, 'the body');
  };

  it.each([
    ['a grace period over the limit, in days', RotateBody, { graceMs: 400 * 86_400_000 }, 'graceMs may be at most 2592000000 (30 days)'],
    ['a negative grace period', RotateBody, { graceMs: -1 }, 'graceMs must be at least 0'],
    ['a fraction', RotateBody, { graceMs: 1.5 }, 'graceMs must be a whole number (got a fraction)'],
    ['the wrong type', RotateBody, { graceMs: '1h' }, 'graceMs must be a number (got a string)'],
    ['an unknown field', RotateBody, { grace: 1 }, 'unknown field "grace"'],
    ['not an object', RotateBody, [], 'the body must be an object (got a list)'],
    ['a publish without data', PublishBody, { name: 'e', channel: 'c' }, 'data is required (a string)'],
    ['a batch event without data', BatchBody, { batch: [{ name: 'e', channel: 'c' }] }, 'batch[0].data is required (a string)'],
    ['a timeout too short', RegisterAgentBody, { id: 'a', name: 'A', timeoutMs: 10 }, 'timeoutMs must be at least 1000 (1 second)'],
    ['a schema\'s own message is kept', PublishBody, { name: '', channel: 'c', data: 'x' }, 'name must not be empty'],
  ])('%s', (_, schema, value, expected) => {
    expect(message(schema, value)).toBe(expected);
  });
});
