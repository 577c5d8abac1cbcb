/**
 * Server data made safe to print on a terminal: every character that a terminal would act on
 * instead of showing becomes a visible stand-in, so that an event name, an app description or
 * an error message cannot clear the screen, set the window title, recolour or reorder what is
 * shown (gh's asciisanitizer, less's `<U+...>`).
 *
 * - C0 controls (U+0000-U+001F) in caret notation: ESC → `^[`, BEL → `^G`. Tab, newline and
 *   carriage return too: every value is printed on one line (a table cell, a tab-separated
 *   field, a `Label: value` line), where a raw one would break the row or overwrite it.
 * - DEL (U+007F) → `^?`.
 * - C1 controls (U+0080-U+009F) as the 7-bit escape sequence each one stands for (ECMA-48):
 *   U+009B, a one-character CSI, → `^[[`; U+009D (OSC) → `^[]`.
 * - The bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069: the
 *   "Trojan Source" set that rustc lints) → `<U+202E>`.
 *
 * The result never contains any of these, so sanitizing twice changes nothing.
 */
export function sanitize(text: string): string {
  return text.replace(UNSAFE, visible);
}

const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

function visible(char: string): string {
  const code = char.charCodeAt(0);
  if (code < 0x20) return `^${String.fromCharCode(code + 0x40)}`;
  if (code === 0x7f) return '^?';
  if (code <= 0x9f) return `^[${String.fromCharCode(code - 0x40)}`;
  return `<U+${code.toString(16).toUpperCase()}>`;
}
