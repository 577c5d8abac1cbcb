import { describe, expect, it } from 'vitest';
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
