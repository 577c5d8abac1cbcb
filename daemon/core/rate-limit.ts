import { isIPv6 } from 'node:net';
import { compositeKey } from './keys.js';

/**
 * The buckets of the public API. An app has one limit (its profile), which its signed Pusher
 * REST requests and every API token without a limit of its own count against together, so
 * that no entry point adds to another's; a token given its own limit has a bucket of its own.
 */
export const rateBucket = {
  app: (org: string, appId: string): string => compositeKey('app', org, appId),
  token: (tokenId: string): string => compositeKey('token', tokenId),
  /** Refused credentials of one client address (see `addressKey`). */
  failedHandshakes: (address: string | undefined): string => compositeKey('auth-fail', addressKey(address)),
};

/**
 * The key of a client address for limits per address: an IPv4-mapped IPv6 address is its
 * IPv4 address, and an IPv6 address its /64 (one host's usual allocation: a client can pick
 * any address in it).
 */
export function addressKey(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1] as string;
  if (!isIPv6(address)) return address;
  const [head = '', tail] = (address.split('%')[0] as string).split('::');
  const groups = (part: string): string[] => (part === '' ? [] : part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${all.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}
