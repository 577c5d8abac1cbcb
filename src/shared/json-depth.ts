/**
 * How deep JSON from outside may nest. Channel payloads and agent frames never need more
 * than a few dozen levels; without a cap, a 500,000-deep array parses fine and then
 * overflows the stack of whatever walks it next (validation, JSON.stringify).
 */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACKET = 0x5d;
const CLOSE_BRACE = 0x7d;

/**
 * True when the JSON text nests arrays and objects deeper than `max`. A byte scan, with no
 * recursion and no parse: brackets inside strings do not count. Malformed text is left to
 * the parser to refuse.
 */
export function jsonTooDeep(text: Uint8Array, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const byte = text[i] as number;
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_BRACKET || byte === OPEN_BRACE) {
      if (++depth > max) return true;
    } else if (byte === CLOSE_BRACKET || byte === CLOSE_BRACE) {
      depth--;
    }
  }
  return false;
}

export const tooDeepMessage = (max = MAX_JSON_DEPTH): string => `JSON is nested more than ${max} levels deep`;
