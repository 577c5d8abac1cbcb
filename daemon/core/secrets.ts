import bcrypt from 'bcrypt';
import { createCipheriv, createDecipheriv, hash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  ADMIN_TOKEN_RANDOM,
  AGENT_TOKEN_RANDOM,
  API_TOKEN_RANDOM,
  APP_TOKEN_LOOKUP,
  APP_TOKEN_SECRET,
  BASE62,
} from '../../src/shared/ids.js';
import { apiTokenChecksum } from '../../src/shared/api-token.js';

/**
 * Every secret is generated and hashed here, and nowhere else.
 */

/** Uniform base62 from a CSPRNG: bytes of 248 and above are dropped so that no character is favoured. */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += BASE62[byte % 62];
    }
  }
  return out;
}

export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/** A new app token with the parts relayd stores: the lookup id as it is, and a bcrypt hash of the secret alone. */
export interface NewAppToken {
  token: string;
  lookupId: string;
  secret: string;
}

export function newAppToken(appId: string): NewAppToken {
  const lookupId = randomBase62(APP_TOKEN_LOOKUP);
  const secret = randomBase62(APP_TOKEN_SECRET);
  return { token: `rlk_${appId}_${lookupId}${secret}`, lookupId, secret };
}
export const newAgentToken = (agentId: string): string => `rla_${agentId}_${randomBase62(AGENT_TOKEN_RANDOM)}`;
export const newAdminToken = (): string => `rlo_${randomBase62(ADMIN_TOKEN_RANDOM)}`;
export function newApiToken(): string {
  const random = randomBase62(API_TOKEN_RANDOM);
  return `rly_${random}${apiTokenChecksum(random)}`;
}

/**
 * A fast one-way hash for API, agent and admin tokens. They carry at least 160 random bits,
 * so no amount of hashing speed makes guessing feasible; a slow hash (bcrypt) would only
 * make every request pay for nothing. App tokens use bcrypt because the product says so.
 */
export function fastHash(secret: string): string {
  // The one-shot form: a quarter of the cost of a Hash object, on every API request.
  return hash('sha256', secret, 'hex');
}

/** bcrypt cost 10 (~50 ms): the tokens are random, so the cost guards only a leaked database. */
const BCRYPT_ROUNDS = 10;

export function bcryptHash(secret: string): Promise<string> {
  return bcrypt.hash(secret, BCRYPT_ROUNDS);
}

export function bcryptCompare(secret: string, hash: string): Promise<boolean> {
  return bcrypt.compare(secret, hash);
}

export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * AES-256-GCM for the one secret relayd must be able to read back: an app's channel secret
 * (HMAC signatures need it raw). Stored as `v1:` + base64(iv | tag | ciphertext).
 */
export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('the master key must be 32 bytes');
    this.#key = key;
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `v1:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  open(sealed: string): string {
    if (!sealed.startsWith('v1:')) throw new Error('unknown sealed secret format');
    const raw = Buffer.from(sealed.slice(3), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }

  /** Whether `sealed` was sealed with this key (GCM's tag tells). */
  canOpen(sealed: string): boolean {
    try {
      this.open(sealed);
      return true;
    } catch {
      return false;
    }
  }
}
