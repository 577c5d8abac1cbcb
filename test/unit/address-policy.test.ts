import { describe, expect, it } from 'vitest';
import { addressRefusal, hostRefusal } from '../../daemon/core/address-policy.js';

describe('addressRefusal', () => {
  it.each([
    // IPv4
    ['0.0.0.0', /the unspecified address/],
    ['0.1.2.3', /"this network"/],
    ['127.0.0.1', /loopback/],
    ['127.255.255.254', /loopback/],
    ['10.0.0.1', /private address \(RFC 1918\)/],
    ['172.16.0.1', /private/],
    ['172.31.255.255', /private/],
    ['192.168.1.1', /private/],
    ['100.64.0.1', /shared address \(carrier-grade NAT/],
    ['100.127.255.255', /shared/],
    ['169.254.169.254', /link-local cloud metadata/],
    ['169.254.0.1', /link-local/],
    ['192.0.0.170', /reserved/],
    ['192.0.2.1', /documentation/],
    ['198.51.100.7', /documentation/],
    ['203.0.113.9', /documentation/],
    ['198.18.0.1', /benchmarking/],
    ['192.88.99.1', /6to4 relay/],
    ['224.0.0.1', /multicast/],
    ['239.255.255.250', /multicast/],
    ['255.255.255.255', /broadcast/],
    ['240.0.0.1', /reserved/],
    // IPv6
    ['::', /the unspecified address/],
    ['::1', /the loopback address/],
    ['0:0:0:0:0:0:0:1', /the loopback address/],
    ['::ffff:127.0.0.1', /IPv4-mapped form of 127\.0\.0\.1, a loopback address/],
    ['::ffff:7f00:1', /IPv4-mapped form of 127\.0\.0\.1/],
    ['::ffff:169.254.169.254', /IPv4-mapped form of 169\.254\.169\.254, the link-local cloud metadata address/],
    ['::ffff:10.0.0.1', /IPv4-mapped form of 10\.0\.0\.1, a private/],
    ['::ffff:0.0.0.0', /IPv4-mapped form of 0\.0\.0\.0, the unspecified/],
    ['::7f00:1', /IPv4-compatible form of 127\.0\.0\.1/],
    ['::192.168.1.1', /IPv4-compatible form of 192\.168\.1\.1/],
    ['64:ff9b::127.0.0.1', /NAT64 form of 127\.0\.0\.1/],
    ['64:ff9b::a9fe:a9fe', /NAT64 form of 169\.254\.169\.254/],
    ['64:ff9b:1::1', /local-use NAT64/],
    ['2002:7f00:1::', /6to4 form of 127\.0\.0\.1/],
    ['2002:c0a8:101::1', /6to4 form of 192\.168\.1\.1/],
    ['fc00::1', /unique-local/],
    ['fd12:3456:789a::1', /unique-local/],
    ['fe80::1', /link-local/],
    ['fe80::1%eth0', /link-local/],
    ['febf::1', /link-local/],
    ['fec0::1', /site-local/],
    ['ff02::1', /multicast/],
    ['100::1', /discard-only/],
    ['2001:db8::1', /documentation/],
    ['2001::1', /Teredo/],
    ['4000::1', /outside global unicast/],
    ['::ffff:0:7f00:1', /outside global unicast/],
  ])('refuses %s', (ip, why) => {
    expect(addressRefusal(ip)).toMatch(why);
  });

  it.each([
    '93.184.215.14',
    '8.8.8.8',
    '1.1.1.1',
    '100.63.255.255',
    '100.128.0.0',
    '172.15.255.255',
    '172.32.0.0',
    '169.253.255.255',
    '192.167.255.255',
    '223.255.255.255',
    '2606:4700::1',
    '2606:4700:4700::1111',
    '2001:4860:4860::8888',
    '2a00:1450:4001:80b::200e',
    '::ffff:93.184.215.14',
    '64:ff9b::8.8.8.8',
    '2002:5db8:d70e::1',
  ])('allows the public address %s', (ip) => {
    expect(addressRefusal(ip)).toBeNull();
  });

  it('refuses what is not an address', () => {
    expect(addressRefusal('example.com')).toMatch(/not an IP address/);
  });
});

describe('hostRefusal', () => {
  /** The hostname as relayd sees it: what the WHATWG URL parser makes of the URL. */
  const hostOf = (url: string): string => new URL(url).hostname;

  it.each([
    ['http://127.0.0.1/', '127.0.0.1', /loopback/],
    ['http://localhost/', 'localhost', /loopback name/],
    ['http://LOCALHOST./', 'localhost.', /loopback name/],
    ['http://api.localhost:8080/', 'api.localhost', /loopback name/],
    ['http://[::1]/', '[::1]', /loopback/],
    ['http://[::ffff:127.0.0.1]/', '[::ffff:7f00:1]', /IPv4-mapped form of 127\.0\.0\.1/],
    ['http://169.254.169.254/latest/meta-data/', '169.254.169.254', /cloud metadata/],
    ['http://metadata.google.internal/computeMetadata/v1/', 'metadata.google.internal', /\.internal/],
    ['http://10.0.0.1/', '10.0.0.1', /private/],
    ['http://192.168.1.1/', '192.168.1.1', /private/],
    // The URL parser reads these as IPv4 numbers before relayd sees them.
    ['http://2130706433/', '127.0.0.1', /loopback/],
    ['http://0x7f000001/', '127.0.0.1', /loopback/],
    ['http://0177.0.0.1/', '127.0.0.1', /loopback/],
    ['http://127.1/', '127.0.0.1', /loopback/],
    ['http://127.0.0.1./', '127.0.0.1', /loopback/],
    ['http://%31%32%37.0.0.1/', '127.0.0.1', /loopback/],
    ['http://0/', '0.0.0.0', /unspecified/],
    ['http://printer.local/', 'printer.local', /mDNS/],
    ['http://nas.home.arpa/', 'nas.home.arpa', /home-network/],
  ])('refuses %s', (url, hostname, why) => {
    expect(hostOf(url)).toBe(hostname);
    expect(hostRefusal(hostOf(url))).toMatch(why);
  });

  it.each(['http://93.184.215.14/', 'http://[2606:4700::1]/', 'https://example.com/hooks', 'https://localhost.example.com/', 'https://internal.example.com/', 'https://mylocal/'])(
    'allows %s',
    (url) => {
      expect(hostRefusal(hostOf(url))).toBeNull();
    },
  );
});
