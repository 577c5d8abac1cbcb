import { describe, expect, it } from 'vitest';
import { parseMemory, parseTimeout } from '../../src/cli/commands/functions/deploy.js';
import { checkVersion } from '../../src/cli/commands/checks.js';
import { checkFunctionName, formatMs, scope, versionText } from '../../src/cli/commands/functions/shared.js';
import type { EdgeFunction } from '../../src/shared/api.js';

/** `relay functions`: the flags it checks before asking relayd, and the words it prints. */

describe('--timeout', () => {
  it.each([
    ['50ms', 50],
    ['1ms', 1],
    ['999ms', 999],
    ['1s', 1000],
    [' 200ms ', 200],
  ])('%j → %d ms', (text, ms) => {
    expect(parseTimeout(text)).toBe(ms);
  });

  it.each(['', '50', 'ms', '0.5s', '-1ms', '50 ms', '1m', 'fast'])('refuses %j, naming the forms it takes', (text) => {
    expect(() => parseTimeout(text)).toThrow(/invalid --timeout .*50ms, 200ms, 1s/);
  });

  it.each(['0ms', '1001ms', '2s'])('refuses %j, outside 1ms to 1s', (text) => {
    expect(() => parseTimeout(text)).toThrow(/--timeout must be from 1ms to 1s/);
  });

  it('refuses with exit 2 (invalid_request)', () => {
    expect(() => parseTimeout('soon')).toThrow(expect.objectContaining({ code: 'invalid_request' }));
  });
});

describe('--memory', () => {
  it.each([
    ['32MB', 32],
    ['32', 32],
    ['64mb', 64],
    ['128M', 128],
    ['1MB', 1],
    ['256MB', 256],
  ])('%j → %d MB', (text, mb) => {
    expect(parseMemory(text)).toBe(mb);
  });

  it.each(['', 'MB', '1GB', '1.5MB', '-1MB', '32KB'])('refuses %j', (text) => {
    expect(() => parseMemory(text)).toThrow(/invalid --memory/);
  });

  it.each(['0', '257MB', '1024'])('refuses %j, outside 1 MB to 256 MB', (text) => {
    expect(() => parseMemory(text)).toThrow(/--memory must be from 1 MB to 256 MB/);
  });
});

describe('names and versions', () => {
  it('takes the rule of schema names', () => {
    expect(checkFunctionName('redact.v2_x-y')).toBe('redact.v2_x-y');
    expect(() => checkFunctionName('Redact')).toThrow(/invalid function name "Redact"/);
    expect(() => checkFunctionName('')).toThrow(/invalid function name/);
  });

  it.each(['0', '-1', '1.5', 'two', ''])('refuses version %j', (text) => {
    expect(() => checkVersion(text, '--to')).toThrow(/invalid --to .*whole numbers from 1/);
  });
});

describe('how a function reads', () => {
  const fn = (over: Partial<EdgeFunction>): EdgeFunction => ({
    name: 'f',
    appId: 'acme-pm',
    org: 'default',
    version: 1,
    active: 1,
    latest: 1,
    versions: 1,
    trigger: 'before-publish',
    channels: null,
    event: null,
    agent: null,
    timeoutMs: 50,
    memoryMb: 32,
    onError: 'reject',
    order: 1,
    createdAt: '2026-12-01T00:00:00.000Z',
    deployedAt: '2026-12-01T00:00:00.000Z',
    deployedBy: 'admin:local',
    stats: { calls: 0, failures: 0, timeouts: 0, dropped: 0, lastFailureAt: null },
    source: null,
    ...over,
  });

  it.each([
    [{}, 'every channel'],
    [{ channels: 'orders-*' }, 'orders-*'],
    [{ channels: 'orders-*', event: 'order.created' }, 'orders-*, event order.created'],
    [{ trigger: 'before-dispatch' as const }, 'every agent'],
    [{ trigger: 'before-dispatch' as const, agent: 'athena', event: 'plan' }, 'agent athena, event plan'],
  ])('%j runs on %s', (over, text) => {
    expect(scope(fn(over))).toBe(text);
  });

  it('shows the latest version beside the active one after a rollback', () => {
    expect(versionText(fn({ active: 3, latest: 3 }))).toBe('3');
    expect(versionText(fn({ active: 2, latest: 3 }))).toBe('2 (latest 3)');
  });

  it.each([
    [50, '50ms'],
    [1000, '1s'],
    [1500, '1500ms'],
  ])('a timeout of %d ms reads %s, as --timeout takes it', (ms, text) => {
    expect(formatMs(ms)).toBe(text);
  });
});
