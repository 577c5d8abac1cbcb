import { crc32 } from 'node:zlib';
import { API_TOKEN, API_TOKEN_CHECKSUM, API_TOKEN_RANDOM, BASE62 } from './ids.js';

/**
 * The published API token format: `rly_` + 30 random base62 characters + the 6-character
 * base62 CRC32 of those 30, as GitHub's tokens carry theirs, so that a scanner (or relayd)
 * can tell a real token from a typo without any lookup. Kept apart from ids.ts so that the
 * CLI's start-up does not load zlib.
 */
export function toBase62(value: number, width: number): string {
  let out = '';
  let rest = value;
  while (rest > 0) {
    out = BASE62[rest % 62] + out;
    rest = Math.floor(rest / 62);
  }
  return out.padStart(width, '0');
}

/** The 6-character base62 CRC32 of an API token's 30 random characters, left-padded with 0. */
export function apiTokenChecksum(random: string): string {
  return toBase62(crc32(random) >>> 0, API_TOKEN_CHECKSUM);
}

/** True when the string is an API token whose format and checksum hold. No lookup. */
export function isWellFormedApiToken(token: string): boolean {
  if (!API_TOKEN.test(token)) return false;
  const random = token.slice(4, 4 + API_TOKEN_RANDOM);
  return apiTokenChecksum(random) === token.slice(4 + API_TOKEN_RANDOM);
}

