import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Context } from '../../src/cli/context.js';
import { arrow, column, details, fmt, line, note, row, styles, table } from '../../src/cli/output.js';
import { sanitize } from '../../src/cli/sanitize.js';

const ESC = '\u001b';

describe('sanitize', () => {
  it.each([
    ['plain text', 'order-shipped', 'order-shipped'],
    ['letters of every script, emoji, NBSP', 'café Ωμέγα 東京 🚀\u00a0x', 'café Ωμέγα 東京 🚀\u00a0x'],
    ['the escape of the issue', `${ESC}[2J${ESC}[32mok evt${ESC}]0;title\u0007`, '^[[2J^[[32mok evt^[]0;title^G'],
    ['NUL', 'a\u0000b', 'a^@b'],
    ['backspace', 'abc\u0008\u0008', 'abc^H^H'],
    ['tab', 'a\tb', 'a^Ib'],
    ['newline', 'line one\nline two', 'line one^Jline two'],
    ['carriage return', 'fake\rreal', 'fake^Mreal'],
    ['unit separator', '\u001f', '^_'],
    ['DEL', 'a\u007fb', 'a^?b'],
    ['C1 PAD (U+0080)', '\u0080', '^[@'],
    ['C1 NEL (U+0085)', '\u0085', '^[E'],
    ['C1 CSI (U+009B)', '\u009b2J', '^[[2J'],
    ['C1 OSC (U+009D) and ST (U+009C)', '\u009d0;title\u009c', '^[]0;title^[\\'],
    ['C1 APC (U+009F)', '\u009f', '^[_'],
    ['right-to-left override', 'evt_\u202eFDP.exe', 'evt_<U+202E>FDP.exe'],
    ['every embedding and override', '\u202a\u202b\u202c\u202d\u202e', '<U+202A><U+202B><U+202C><U+202D><U+202E>'],
    ['every isolate', '\u2066\u2067\u2068\u2069', '<U+2066><U+2067><U+2068><U+2069>'],
    ['neighbours of the bidi ranges are kept', '\u2029\u202f\u2065\u206a', '\u2029\u202f\u2065\u206a'],
    ['a caret typed by someone stays a caret', 'x^[y', 'x^[y'],
  ])('%s', (_, input, expected) => {
    expect(sanitize(input)).toBe(expected);
  });

  it('leaves no control, DEL, C1 or bidi control in anything, and changes nothing the second time', () => {
    const all = Array.from({ length: 0x2100 }, (_, i) => String.fromCharCode(i)).join('');
    const once = sanitize(all);
    expect(once).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    expect(sanitize(once)).toBe(once);
  });
});

/** A context whose streams are kept in memory: what the writers print. */
function capture(options: { tty: boolean; color: boolean }): { ctx: Context; stdout: () => string; stderr: () => string } {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  err.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const ctx: Context = {
    io: { stdout: out, stderr: err, stdin: new PassThrough(), isStdoutTTY: options.tty, isStdinTTY: false, canPrompt: false, color: options.color, width: 80, env: {} },
    globals: {},
    client: () => Promise.reject(new Error('no client in unit tests')),
    prompter: () => Promise.reject(new Error('no prompter in unit tests')),
  };
  return { ctx, stdout: () => stdout, stderr: () => stderr };
}

describe('the writers of output.ts', () => {
  const evil = `a\tb\nc${ESC}[2J`;

  it('keep every tab-separated row on one line of fields', async () => {
    const { ctx, stdout } = capture({ tty: false, color: false });
    await table(ctx, [column.id('ID'), column.text('NAME')], [['app-1', evil]]);
    expect(stdout()).toBe('app-1\ta^Ib^Jc^[[2J\n');
  });

  it('keep their own colours and escape the ones in the data', async () => {
    const { ctx, stdout, stderr } = capture({ tty: true, color: true });
    const s = await styles(ctx);
    details(ctx, [['App', fmt`${s.bold('app-1')} (${evil})`]]);
    await table(ctx, [column.fixed('STATUS')], [[s.red(evil)]]);
    line(ctx, fmt`${s.dim('12:00')}  ${evil}`);
    note(ctx, evil);
    expect(stdout()).toContain(`App: ${ESC}[1mapp-1${ESC}[22m (a^Ib^Jc^[[2J)\n`);
    expect(stdout()).toContain(`${ESC}[31ma^Ib^Jc^[[2J`);
    expect(stdout()).toContain(`${ESC}[2m12:00${ESC}[22m  a^Ib^Jc^[[2J\n`);
    expect(stderr()).toBe('a^Ib^Jc^[[2J\n');
    expect(stdout()).not.toContain(`${ESC}[2J`);
  });

  it('colour status words from one map, and any other word plain', async () => {
    const s = await styles(capture({ tty: true, color: true }).ctx);
    expect(s.status('delivered').text).toBe(`${ESC}[32mdelivered${ESC}[39m`);
    expect(s.status('revoked').text).toBe(`${ESC}[31mrevoked${ESC}[39m`);
    expect(s.status('pending').text).toBe(`${ESC}[33mpending${ESC}[39m`);
    expect(s.status('constructor').text).toBe('constructor');
    expect(s.status(evil).text).toBe('a^Ib^Jc^[[2J');
    expect((await styles(capture({ tty: true, color: false }).ctx)).status('failed').text).toBe('failed');
  });

  it('print an arrow cell as two fields when piped and as an arrow on a terminal', async () => {
    const piped = capture({ tty: false, color: false });
    await table(piped.ctx, [column.id('ID'), column.text('ROUTE')], [['evt_1', arrow('acme-pm', evil)]]);
    expect(piped.stdout()).toBe('evt_1\tacme-pm\ta^Ib^Jc^[[2J\n');
    const tty = capture({ tty: true, color: false });
    await table(tty.ctx, [column.id('ID'), column.text('ROUTE')], [['evt_1', arrow('acme-pm', 'athena')]]);
    expect(tty.stdout()).toBe('ID     ROUTE\nevt_1  acme-pm → athena\n');
  });

  it('print a row of a stream as the fields a table would have', () => {
    const piped = capture({ tty: false, color: false });
    row(piped.ctx, ['evt_1', arrow('acme-pm', 'athena'), evil]);
    expect(piped.stdout()).toBe('evt_1\tacme-pm\tathena\ta^Ib^Jc^[[2J\n');
    const tty = capture({ tty: true, color: false });
    row(tty.ctx, ['evt_1', arrow('acme-pm', 'athena')]);
    expect(tty.stdout()).toBe('evt_1  acme-pm → athena\n');
  });

  it('refuse a styled value pasted into a template string', async () => {
    const s = await styles(capture({ tty: true, color: true }).ctx);
    expect(() => `${s.bold('x')} y`).toThrow(/fmt/);
  });
});

describe('the commands', () => {
  const commands = join(import.meta.dirname, '../../src/cli/commands');
  const files = readdirSync(commands, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));

  // output.ts sanitizes what they print; a command writing to a stream itself would bypass it.
  it.each(files)('%s prints only through output.ts', (file) => {
    expect(readFileSync(join(commands, file), 'utf8')).not.toMatch(/\b(io|process)\.(stdout|stderr)\b|console\./);
  });
});
