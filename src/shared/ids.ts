/**
 * Id rules and the published formats of every credential. Pure: generation and hashing
 * live in daemon/core/secrets.ts; this file only says what a well-formed value looks like,
 * so that the CLI and the daemon refuse the same things before any lookup.
 */

/**
 * App, agent and organization ids: 1-40 of a-z 0-9 -, not starting or ending with a hyphen.
 * Digits may lead, so that a Pusher or soketi app id (`40000`) can be kept. The one rule:
 * every pattern that embeds an id (the app and agent tokens) is built from ID_SOURCE, and
 * an id never holds `_`, so `rlk_{id}_{random}` splits one way only.
 */
const ID_SOURCE = '[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?';
export const SLUG = new RegExp(`^${ID_SOURCE}$`);
export const SLUG_RULE = '1-40 lowercase letters, digits and hyphens, not starting or ending with a hyphen';

export function slugProblem(id: string): string | null {
  if (id.length === 0) return 'is empty';
  if (id.length > 40) return `is ${id.length} characters long (at most 40)`;
  if (!/^[a-z0-9-]+$/.test(id)) return 'may contain only lowercase letters, digits and hyphens';
  if (id.startsWith('-')) return 'must not start with a hyphen';
  if (id.endsWith('-')) return 'must not end with a hyphen';
  return null;
}

/**
 * An app's Pusher-style channel key and secret, when an operator brings their own (moving
 * from Pusher, whose keys and secrets are 20 hex characters, or soketi, which takes any
 * string). Printable ASCII without spaces. A key also travels unencoded in the WebSocket
 * path (`/app/{key}`, as pusher-js builds it) and before the `:` of a channel signature
 * (`key:hmac`), so it may not hold `:`, `/`, `?`, `#` or `%`. Neither message ever repeats
 * the value: a secret must not reach a terminal or a log.
 */
export const CHANNEL_KEY_RULE = '1-100 printable ASCII characters, no spaces and none of : / ? # %';
export const CHANNEL_SECRET_RULE = '8-200 printable ASCII characters, no spaces';

export function channelKeyProblem(key: string): string | null {
  if (key.length === 0) return 'is empty';
  if (key.length > 100) return `is ${key.length} characters long (at most 100)`;
  if (!/^[\x21-\x7e]+$/.test(key)) return 'may contain only printable ASCII characters, without spaces';
  if (/[:/?#%]/.test(key)) return 'may not contain : / ? # or % (the key goes in the WebSocket URL and before the : of channel signatures)';
  return null;
}

export function channelSecretProblem(secret: string): string | null {
  if (secret.length < 8) return `is ${secret.length} characters long (at least 8)`;
  if (secret.length > 200) return `is ${secret.length} characters long (at most 200)`;
  if (!/^[\x21-\x7e]+$/.test(secret)) return 'may contain only printable ASCII characters, without spaces';
  return null;
}

/**
 * An event schema's name: 1-64 lowercase letters, digits, hyphens, dots and underscores,
 * starting with a letter or digit (`order`, `order.created`, `invoice_v2`). Never a `/`:
 * `APP/NAME` names a schema of another app (an agent's binding).
 */
export const SCHEMA_NAME_RULE = '1-64 lowercase letters, digits, hyphens, dots and underscores, starting with a letter or digit';

export function schemaNameProblem(name: string): string | null {
  if (name.length === 0) return 'is empty';
  if (name.length > 64) return `is ${name.length} characters long (at most 64)`;
  if (!/^[a-z0-9._-]+$/.test(name)) return 'may contain only lowercase letters, digits, hyphens, dots and underscores';
  if (!/^[a-z0-9]/.test(name)) return 'must start with a letter or digit';
  return null;
}

export const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/**
 * An app token's random part is a public lookup id (which stored token this is: one indexed
 * read, at most one bcrypt compared), then the secret (190 bits, and 32 bytes: within the 72
 * that bcrypt reads). The lookup id's 71 bits make it unguessable and unique. Tokens issued
 * before lookup ids have 32 random characters, and the whole token was bcrypt-hashed.
 */
export const APP_TOKEN_LOOKUP = 12;
export const APP_TOKEN_SECRET = 32;
/** Random part lengths of the other secrets, each at least 160 bits (log2(62) ≈ 5.95 bits a character). */
export const AGENT_TOKEN_RANDOM = 32;
export const ADMIN_TOKEN_RANDOM = 40;
export const API_TOKEN_RANDOM = 30;
export const API_TOKEN_CHECKSUM = 6;

/** Published for secret scanners: `rlk_`, the app id, `_`, 44 base62 characters (32 for tokens issued before lookup ids). */
export const APP_TOKEN = new RegExp(`^rlk_(${ID_SOURCE})_(?:([0-9A-Za-z]{12})([0-9A-Za-z]{32})|([0-9A-Za-z]{32}))$`);
export const AGENT_TOKEN = new RegExp(`^rla_(${ID_SOURCE})_([0-9A-Za-z]{32})$`);
export const ADMIN_TOKEN = /^rlo_[0-9A-Za-z]{40}$/;
/** Published for secret scanners. */
export const API_TOKEN = /^rly_[0-9A-Za-z]{36}$/;

/**
 * The parts of a well-formed app token, or null when the format is wrong. `lookupId` is null
 * for a token issued before lookup ids; `secret` is then null too (the whole token was hashed).
 */
export type AppTokenParts = { appId: string; lookupId: string; secret: string } | { appId: string; lookupId: null; secret: null };

export function parseAppToken(token: string): AppTokenParts | null {
  const match = APP_TOKEN.exec(token);
  if (!match) return null;
  const appId = match[1] as string;
  if (match[2] !== undefined) return { appId, lookupId: match[2], secret: match[3] as string };
  return { appId, lookupId: null, secret: null };
}

export function parseAgentToken(token: string): { agentId: string } | null {
  const match = AGENT_TOKEN.exec(token);
  return match ? { agentId: match[1] as string } : null;
}

/** Anything that looks like one of Relay's secrets, to keep them out of id arguments. */
export function looksLikeSecret(value: string): boolean {
  return /^rl[kyao]_/.test(value);
}

export const ID_PREFIX = {
  event: 'evt_',
  connection: 'conn_',
  token: 'tok_',
  webhook: 'wh_',
  delivery: 'whd_',
  audit: 'aud_',
  channelRule: 'chr_',
  encryptionKey: 'key_',
} as const;
