import { beforeAll, describe, expect, it } from 'vitest';
import { displayWidth, duration, fitWidths, formatTime, loadWidths, truncate, type Column } from '../../src/cli/format.js';

beforeAll(loadWidths);

describe('duration', () => {
  it.each([
    [0, '0ms'],
    [9, '9ms'],
    [999, '999ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [12_340, '12.3s'],
    [60_000, '1m'],
    [123_000, '2m3s'],
    [3_600_000, '1h'],
    [3_900_000, '1h5m'],
    [86_400_000 + 3 * 3_600_000, '1d3h'],
  ])('%d ms reads %s', (ms, text) => {
    expect(duration(ms)).toBe(text);
  });
});

describe('formatTime', () => {
  const iso = '2026-11-22T23:18:05.042Z';
  it.each([
    ['date', '2026-11-22 23:18 UTC'],
    ['seconds', '2026-11-22 23:18:05'],
    ['clock', '23:18:05.042'],
  ] as const)('%s: %s', (form, text) => {
    expect(formatTime(iso, form)).toBe(text);
  });

  it('ago: how long before now, or how long until', () => {
    const now = Date.parse(iso);
    expect(formatTime('2026-11-22T23:17:05.042Z', 'ago', now)).toBe('1m ago');
    expect(formatTime('2026-12-22T23:18:05.042Z', 'ago', now)).toBe('in 30d');
  });
});

describe('truncate', () => {
  it('leaves what fits and cuts the rest with an ellipsis, within the width', () => {
    expect(truncate('athena', 6)).toBe('athena');
    expect(truncate('athena', 5)).toBe('athe…');
    expect(truncate('athena', 1)).toBe('…');
  });

  it('counts wide characters as two columns and never splits one', () => {
    expect(displayWidth('日本語')).toBe(6);
    expect(truncate('日本語', 4)).toBe('日…');
    expect(displayWidth(truncate('日本語', 4))).toBeLessThanOrEqual(4);
  });

  it('keeps colour codes out of the width and resets a colour it cuts', () => {
    const red = '\u001b[31mrevoked\u001b[39m';
    expect(displayWidth(red)).toBe(7);
    expect(truncate(red, 7)).toBe(red);
    expect(truncate(red, 4)).toBe('\u001b[31mrev…\u001b[0m');
  });
});

describe('fitWidths', () => {
  const columns: Column[] = [
    { header: 'ID', kind: 'id' },
    { header: 'NAME', kind: 'text' },
    { header: 'URL', kind: 'text' },
    { header: 'STATUS', kind: 'fixed' },
  ];

  it('changes nothing when the row fits', () => {
    expect(fitWidths(columns, [30, 10, 20, 9], 80)).toEqual([30, 10, 20, 9]);
  });

  it('takes from the widest text column first, never from ids or fixed columns', () => {
    expect(fitWidths(columns, [30, 10, 40, 9], 70)).toEqual([30, 10, 21, 9]);
    expect(fitWidths(columns, [30, 30, 40, 9], 70)).toEqual([30, 15, 16, 9]);
  });

  it('keeps headers whole while it can, then cuts further; ids and fixed columns overflow rather than shrink', () => {
    expect(fitWidths(columns, [30, 10, 40, 9], 46)).toEqual([30, 4, 3, 9]);
    expect(fitWidths(columns, [30, 10, 40, 9], 20)).toEqual([30, 4, 3, 9]);
  });
});
