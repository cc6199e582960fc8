/**
 * Conversion between IP address text and the 4- or 16-byte network form that
 * STUN attributes and DERP PeerPresent frames carry. Text forms follow Go's
 * net/netip: IPv4 is a dotted quad without leading zeros, and IPv6 is written per
 * RFC 5952 with IPv4-mapped addresses as "::ffff:a.b.c.d".
 */

/** Length of an IPv4 address in bytes. */
export const IPv4Len = 4;
/** Length of an IPv6 address in bytes. */
export const IPv6Len = 16;

const IPv4MappedPrefix = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
const IPv4Text = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const HexGroup = /^[0-9a-fA-F]{1,4}$/;

/**
 * Parses IPv4 or IPv6 text, such as a socket's remoteAddress, into 4 or 16 bytes.
 * An IPv6 zone ("fe80::1%eth0") is dropped because neither STUN nor DERP carries
 * one. Throws RangeError on anything else.
 */
export function parseIPAddress(text: string): Uint8Array {
  const ipv4 = parseIPv4(text);
  if (ipv4 !== undefined) {
    return ipv4;
  }
  const zoneStart = text.indexOf('%');
  const ipv6 = parseIPv6(zoneStart === -1 ? text : text.slice(0, zoneStart));
  if (ipv6 === undefined || zoneStart === text.length - 1) {
    throw new RangeError(`invalid IP address ${JSON.stringify(text)}`);
  }
  return ipv6;
}

/** Formats a 4- or 16-byte address as text. */
export function formatIPAddress(address: Uint8Array): string {
  if (address.length === IPv4Len) {
    return address.join('.');
  }
  if (address.length !== IPv6Len) {
    throw new RangeError(`IP address length ${address.length}, expected ${IPv4Len} or ${IPv6Len}`);
  }
  if (isIPv4Mapped(address)) {
    return `::ffff:${address.subarray(12).join('.')}`;
  }

  const groups: number[] = [];
  for (let i = 0; i < IPv6Len; i += 2) {
    groups.push(((address[i] ?? 0) << 8) | (address[i + 1] ?? 0));
  }

  // RFC 5952 section 4.2: compress the longest run of two or more zero groups,
  // the first one when runs tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let start = 0; start < groups.length; ) {
    if (groups[start] !== 0) {
      start++;
      continue;
    }
    let end = start;
    while (end < groups.length && groups[end] === 0) {
      end++;
    }
    if (end - start > bestLength) {
      bestStart = start;
      bestLength = end - start;
    }
    start = end;
  }

  const hex = groups.map((group) => group.toString(16));
  if (bestStart === -1) {
    return hex.join(':');
  }
  const head = hex.slice(0, bestStart).join(':');
  const tail = hex.slice(bestStart + bestLength).join(':');
  return `${head}::${tail}`;
}

/** Reports whether a 16-byte address is IPv4-mapped (::ffff:a.b.c.d). */
export function isIPv4Mapped(address: Uint8Array): boolean {
  return address.length === IPv6Len && IPv4MappedPrefix.every((byte, i) => address[i] === byte);
}

/** Returns the IPv4 address inside an IPv4-mapped IPv6 address, or address itself otherwise. */
export function unmapIPAddress(address: Uint8Array): Uint8Array {
  return isIPv4Mapped(address) ? address.subarray(12) : address;
}

/** Returns address as 16 bytes, writing IPv4 as IPv4-mapped IPv6. */
export function toIPv6Bytes(address: Uint8Array): Uint8Array {
  if (address.length === IPv6Len) {
    return address;
  }
  if (address.length !== IPv4Len) {
    throw new RangeError(`IP address length ${address.length}, expected ${IPv4Len} or ${IPv6Len}`);
  }
  const mapped = new Uint8Array(IPv6Len);
  mapped.set(IPv4MappedPrefix, 0);
  mapped.set(address, 12);
  return mapped;
}

function parseIPv4(text: string): Uint8Array | undefined {
  const match = IPv4Text.exec(text);
  if (match === null) {
    return undefined;
  }
  const bytes = new Uint8Array(IPv4Len);
  for (let i = 0; i < IPv4Len; i++) {
    const part = match[i + 1] ?? '';
    // Go's netip rejects leading zeros because some parsers read them as octal.
    if ((part.length > 1 && part.startsWith('0')) || Number(part) > 255) {
      return undefined;
    }
    bytes[i] = Number(part);
  }
  return bytes;
}

function parseIPv6(text: string): Uint8Array | undefined {
  const halves = text.split('::');
  if (halves.length === 1) {
    return groupsToBytes(parseIPv6Groups(text, true));
  }
  if (halves.length !== 2) {
    return undefined;
  }

  // "::" stands for one or more zero groups. Only the part after it may end in IPv4.
  const head = halves[0] === '' ? [] : parseIPv6Groups(halves[0] ?? '', false);
  const tail = halves[1] === '' ? [] : parseIPv6Groups(halves[1] ?? '', true);
  if (head === undefined || tail === undefined || head.length + tail.length > 7) {
    return undefined;
  }
  return groupsToBytes([...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail]);
}

// Parses colon-separated hex groups. When allowIPv4Tail is set, the last group may
// be a dotted IPv4 address, which counts as two groups.
function parseIPv6Groups(text: string, allowIPv4Tail: boolean): number[] | undefined {
  const parts = text.split(':');
  const groups: number[] = [];
  for (const [index, part] of parts.entries()) {
    if (allowIPv4Tail && index === parts.length - 1 && part.includes('.')) {
      const ipv4 = parseIPv4(part);
      if (ipv4 === undefined) {
        return undefined;
      }
      groups.push(((ipv4[0] ?? 0) << 8) | (ipv4[1] ?? 0), ((ipv4[2] ?? 0) << 8) | (ipv4[3] ?? 0));
      continue;
    }
    if (!HexGroup.test(part)) {
      return undefined;
    }
    groups.push(Number.parseInt(part, 16));
  }
  return groups;
}

function groupsToBytes(groups: number[] | undefined): Uint8Array | undefined {
  if (groups === undefined || groups.length !== 8) {
    return undefined;
  }
  const bytes = new Uint8Array(IPv6Len);
  for (const [i, group] of groups.entries()) {
    bytes[2 * i] = group >> 8;
    bytes[2 * i + 1] = group & 0xff;
  }
  return bytes;
}

/**
 * Reports whether Go's netip.ParseAddrPort accepts `text`: "a.b.c.d:port" for IPv4, or
 * "[ipv6]:port" with an optional zone, and a decimal port up to 65535.
 */
export function isValidAddrPort(text: string): boolean {
  const colon = text.lastIndexOf(':');
  if (colon <= 0) {
    return false;
  }
  let host = text.slice(0, colon);
  const port = text.slice(colon + 1);
  if (!/^\d+$/.test(port) || Number(port) > 0xffff) {
    return false;
  }
  const bracketed = host.startsWith('[');
  if (bracketed) {
    if (host.length < 2 || !host.endsWith(']')) {
      return false;
    }
    host = host.slice(1, -1);
  }
  let address: Uint8Array;
  try {
    address = parseIPAddress(host);
  } catch {
    return false;
  }
  // Go requires brackets around IPv6 (including IPv4-mapped) addresses and forbids them around IPv4.
  return bracketed === (address.length === IPv6Len);
}

/**
 * Reports whether Go's netip.ParsePrefix accepts `text`: an address without a zone, a slash
 * and a prefix length without sign or leading zeros, at most 32 for IPv4 and 128 for IPv6.
 */
export function isValidPrefix(text: string): boolean {
  const slash = text.lastIndexOf('/');
  if (slash < 0) {
    return false;
  }
  const host = text.slice(0, slash);
  const bits = text.slice(slash + 1);
  if (host.includes('%') || !/^(0|[1-9]\d{0,2})$/.test(bits)) {
    return false;
  }
  let address: Uint8Array;
  try {
    address = parseIPAddress(host);
  } catch {
    return false;
  }
  return Number(bits) <= address.length * 8;
}
