import { isIP } from 'node:net';

import { describe, expect, it } from 'vitest';

import { formatIPAddress, isIPv4Mapped, isValidAddrPort, isValidPrefix, parseIPAddress, toIPv6Bytes, unmapIPAddress } from './ip-address.js';

const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

// Input text and netip.ParseAddr(text).WithZone("").String() from Go 1.26.8's net/netip.
const goRoundTrips: Array<[string, string]> = [
  ['::', '::'],
  ['::1', '::1'],
  ['1::', '1::'],
  ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
  ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
  ['0:0:0:0:0:ffff:1.2.3.4', '::ffff:1.2.3.4'],
  ['::1.2.3.4', '::102:304'],
  ['1:0:1:0:1:0:1:0', '1:0:1:0:1:0:1:0'],
  ['2001:DB8::A:0:0:0', '2001:db8:0:0:a::'],
  ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'],
  ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8'],
  ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
  ['fe80::1%eth0', 'fe80::1'],
  ['::ffff:0.0.0.0', '::ffff:0.0.0.0'],
  ['192.0.2.1', '192.0.2.1'],
  ['0.0.0.0', '0.0.0.0'],
  ['255.255.255.255', '255.255.255.255'],
];

// Texts that Go's netip.ParseAddr rejects.
const goRejects = [
  '1:2:3:4:5:6:7::8',
  '1.2.3.4::',
  '01.2.3.4',
  '1.2.3.256',
  ':::',
  '1::2::3',
  '::ffff:1.2.3',
  '12345::',
  'fe80::1%',
  '',
  'localhost',
  '1.2.3.4%eth0',
  '1:2:3:4:5:6:7',
  '1:2:3:4:5:6:7:8:9',
  ':1::',
  '1::2:',
];

describe('parseIPAddress and formatIPAddress', () => {
  it.each(goRoundTrips)('formats %s as Go does', (text, expected) => {
    expect(formatIPAddress(parseIPAddress(text))).toBe(expected);
  });

  it.each(goRejects)('rejects %j', (text) => {
    expect(() => parseIPAddress(text)).toThrow(`invalid IP address ${JSON.stringify(text)}`);
  });

  it('agrees with node:net on which texts are addresses', () => {
    for (const [text] of goRoundTrips) {
      expect(isIP(text)).not.toBe(0);
    }
  });

  it('returns 4 bytes for IPv4 and 16 for IPv6', () => {
    expect(toHex(parseIPAddress('192.0.2.1'))).toBe('c0000201');
    expect(toHex(parseIPAddress('2001:db8::1'))).toBe('20010db8000000000000000000000001');
  });

  it('rejects a byte length other than 4 or 16', () => {
    expect(() => formatIPAddress(new Uint8Array(5))).toThrow('IP address length 5, expected 4 or 16');
  });
});

describe('IPv4-mapped addresses', () => {
  const mapped = parseIPAddress('::ffff:127.0.0.1');

  it('detects and unmaps them', () => {
    expect(isIPv4Mapped(mapped)).toBe(true);
    expect(formatIPAddress(unmapIPAddress(mapped))).toBe('127.0.0.1');
    expect(isIPv4Mapped(parseIPAddress('::1'))).toBe(false);
    expect(unmapIPAddress(parseIPAddress('::1')).length).toBe(16);
  });

  it('toIPv6Bytes maps IPv4 and keeps IPv6', () => {
    expect(toHex(toIPv6Bytes(parseIPAddress('127.0.0.1')))).toBe(toHex(mapped));
    expect(toHex(toIPv6Bytes(parseIPAddress('::1')))).toBe('00000000000000000000000000000001');
    expect(() => toIPv6Bytes(new Uint8Array(3))).toThrow('IP address length 3, expected 4 or 16');
  });
});

// Texts and whether Go 1.26.8's netip.ParseAddrPort accepts them.
const goAddrPorts: Array<[string, boolean]> = [
  ['1.2.3.4:41641', true],
  ['[::1]:80', true],
  ['[fe80::1%eth0]:41641', true],
  ['[::ffff:1.2.3.4]:80', true],
  ['1.2.3.4:0080', true],
  ['1.2.3.4:65535', true],
  ['::1:80', false],
  ['[1.2.3.4]:80', false],
  ['1.2.3.4:65536', false],
  ['1.2.3.4:+80', false],
  ['1.2.3.4:-1', false],
  ['1.2.3.4:', false],
  [':80', false],
  ['not-an-endpoint', false],
  ['1.2.3.4', false],
  ['01.2.3.4:80', false],
  ['[::1]', false],
  ['[::1:80', false],
  ['1.2.3.4%eth0:80', false],
  ['[fe80::1%]:80', false],
  ['localhost:80', false],
  ['[]:80', false],
];

// Texts and whether Go 1.26.8's netip.ParsePrefix accepts them.
const goPrefixes: Array<[string, boolean]> = [
  ['10.0.0.0/8', true],
  ['10.0.0.1/8', true],
  ['1.2.3.4/0', true],
  ['::/0', true],
  ['::/128', true],
  ['fd7a:115c:a1e0::/48', true],
  ['::ffff:1.2.3.4/120', true],
  ['1.2.3.4/33', false],
  ['::1/129', false],
  ['1.2.3.4/08', false],
  ['::/0128', false],
  ['1.2.3.4/+8', false],
  ['1.2.3.4/-1', false],
  ['1.2.3.4/', false],
  ['1.2.3.4', false],
  ['fe80::1%eth0/64', false],
  ['x/8', false],
];

describe('isValidAddrPort and isValidPrefix', () => {
  it.each(goAddrPorts)('addrport %s is %s as in Go', (text, valid) => {
    expect(isValidAddrPort(text)).toBe(valid);
  });

  it.each(goPrefixes)('prefix %s is %s as in Go', (text, valid) => {
    expect(isValidPrefix(text)).toBe(valid);
  });
});
