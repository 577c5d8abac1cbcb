import { isIPv4, isIPv6 } from 'node:net';

/**
 * Which hosts webhooks may call when private targets are not allowed (GitLab's "allow
 * requests to the local network" switched off): public unicast addresses only. Loopback,
 * private, shared (CGNAT), link-local (where cloud metadata services answer), unique-local,
 * multicast, broadcast, documentation, reserved and unspecified addresses are refused, and
 * so are the IPv6 forms that carry such an IPv4 address (mapped, compatible, NAT64, 6to4).
 * Pure: callers resolve names and check every address they would connect to.
 */

interface Range {
  /** The first address, shifted right so that only the prefix's bits remain. */
  prefix: bigint;
  /** How far to shift an address before comparing it with `prefix`. */
  shift: bigint;
  /** What an address in the range is, to finish "X is ...". */
  what: string;
}

/** An IPv6 range whose low 32 bits (or, for 6to4, bits 16-47) are an IPv4 address, judged by the IPv4 rules. */
interface Embedding {
  range: Range;
  form: string;
  ipv4At: bigint;
}

const PRIVATE = 'a private address (RFC 1918)';
const DOCUMENTATION = 'an address reserved for documentation';

const IPV4: Range[] = [
  ['0.0.0.0/32', 'the unspecified address'],
  ['0.0.0.0/8', 'a "this network" address (reserved)'],
  ['10.0.0.0/8', PRIVATE],
  ['100.64.0.0/10', 'a shared address (carrier-grade NAT, RFC 6598)'],
  ['127.0.0.0/8', 'a loopback address'],
  ['169.254.169.254/32', 'the link-local cloud metadata address'],
  ['169.254.0.0/16', 'a link-local address'],
  ['172.16.0.0/12', PRIVATE],
  ['192.0.0.0/24', 'a reserved address (IETF protocol assignments)'],
  ['192.0.2.0/24', DOCUMENTATION],
  ['192.88.99.0/24', 'a reserved address (6to4 relay anycast)'],
  ['192.168.0.0/16', PRIVATE],
  ['198.18.0.0/15', 'an address reserved for benchmarking'],
  ['198.51.100.0/24', DOCUMENTATION],
  ['203.0.113.0/24', DOCUMENTATION],
  ['224.0.0.0/4', 'a multicast address'],
  ['255.255.255.255/32', 'the broadcast address'],
  ['240.0.0.0/4', 'a reserved address (240.0.0.0/4)'],
].map(([cidr, what]) => range(cidr as string, what as string, 32));

const EMBEDDINGS: Embedding[] = [
  { cidr: '::ffff:0:0/96', form: 'an IPv4-mapped form', ipv4At: 0n },
  { cidr: '64:ff9b::/96', form: 'a NAT64 form', ipv4At: 0n },
  { cidr: '2002::/16', form: 'a 6to4 form', ipv4At: 80n },
  // After ::/128 and ::1/128, which are checked first: everything else in ::/96 is IPv4-compatible (deprecated).
  { cidr: '::/96', form: 'an IPv4-compatible form', ipv4At: 0n },
].map(({ cidr, form, ipv4At }) => ({ range: range(cidr, '', 128), form, ipv4At }));

const IPV6_FIRST: Range[] = [
  ['::/128', 'the unspecified address'],
  ['::1/128', 'the loopback address'],
].map(([cidr, what]) => range(cidr as string, what as string, 128));

const IPV6: Range[] = [
  ['64:ff9b:1::/48', 'a local-use NAT64 address (RFC 8215)'],
  ['100::/64', 'a discard-only address'],
  ['2001:db8::/32', DOCUMENTATION],
  ['3fff::/20', DOCUMENTATION],
  ['2001::/23', 'a reserved address (IETF protocol assignments, Teredo)'],
  ['fc00::/7', 'a unique-local address'],
  ['fe80::/10', 'a link-local address'],
  ['fec0::/10', 'a site-local address (deprecated)'],
  ['ff00::/8', 'a multicast address'],
].map(([cidr, what]) => range(cidr as string, what as string, 128));

/** Only 2000::/3 is allocated for global unicast; anything else not named above is reserved. */
const GLOBAL_UNICAST = range('2000::/3', '', 128);

/** Names that always mean this host or a private network (RFC 6761, RFC 8375, ICANN's .internal), refused without a lookup. */
const PRIVATE_NAMES: { suffix: string; what: string }[] = [
  { suffix: 'localhost', what: 'a loopback name' },
  { suffix: 'internal', what: 'a private-use name (.internal, as metadata.google.internal)' },
  { suffix: 'local', what: 'a link-local name (mDNS .local)' },
  { suffix: 'home.arpa', what: 'a home-network name (.home.arpa)' },
];

/**
 * What makes this IP address (v4 or v6, as node reports it) one relayd must not connect to,
 * as a phrase that finishes "ADDRESS is ..." ("a loopback address"), or null for a public one.
 */
export function addressRefusal(ip: string): string | null {
  const address = ip.replace(/%.*$/, ''); // a zone id names an interface, not part of the address
  if (isIPv4(address)) return whatIs(ipv4ToBigInt(address), IPV4);
  if (!isIPv6(address)) return 'not an IP address';
  const value = ipv6ToBigInt(address);
  const first = whatIs(value, IPV6_FIRST);
  if (first !== null) return first;
  for (const { range: r, form, ipv4At } of EMBEDDINGS) {
    if (!inRange(value, r)) continue;
    const ipv4 = bigIntToIpv4((value >> ipv4At) & 0xffff_ffffn);
    const what = whatIs(ipv4ToBigInt(ipv4), IPV4);
    return what === null ? null : `${form} of ${ipv4}, ${what}`;
  }
  return whatIs(value, IPV6) ?? (inRange(value, GLOBAL_UNICAST) ? null : 'a reserved address (outside global unicast 2000::/3)');
}

/**
 * The same for a URL's host, as WHATWG `URL.hostname` gives it (IPv4 already in dotted form,
 * IPv6 in brackets, names lowercased): "HOST is ...", or null. A name is judged by its
 * suffix alone; what it resolves to is checked when it is called.
 */
export function hostRefusal(hostname: string): string | null {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  if (isIPv4(bare) || isIPv6(bare)) return addressRefusal(bare);
  const name = bare.toLowerCase().replace(/\.+$/, '');
  const match = PRIVATE_NAMES.find(({ suffix }) => name === suffix || name.endsWith(`.${suffix}`));
  return match ? match.what : null;
}

function range(cidr: string, what: string, bits: 32 | 128): Range {
  const [address, length] = cidr.split('/') as [string, string];
  const shift = BigInt(bits - Number(length));
  const value = bits === 32 ? ipv4ToBigInt(address) : ipv6ToBigInt(address);
  return { prefix: value >> shift, shift, what };
}

function inRange(value: bigint, r: Range): boolean {
  return value >> r.shift === r.prefix;
}

function whatIs(value: bigint, ranges: Range[]): string | null {
  return ranges.find((r) => inRange(value, r))?.what ?? null;
}

function ipv4ToBigInt(address: string): bigint {
  return address.split('.').reduce((sum, part) => (sum << 8n) | BigInt(Number(part)), 0n);
}

function bigIntToIpv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
}

/** A valid IPv6 text (net.isIPv6) as a 128-bit number; a dotted IPv4 tail counts as its two groups. */
function ipv6ToBigInt(address: string): bigint {
  let text = address;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = ipv4ToBigInt(dotted[1] as string);
    text = `${text.slice(0, dotted.index)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const groups = (part: string | undefined): string[] => (part ? part.split(':') : []);
  const left = groups(head);
  const right = groups(tail);
  const all = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return all.reduce((sum, group) => (sum << 16n) | BigInt(parseInt(group, 16)), 0n);
}
