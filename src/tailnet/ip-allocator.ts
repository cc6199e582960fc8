/**
 * Tailnet address allocation from an IPv4 and an IPv6 prefix (by default Tailscale's
 * 100.64.0.0/10 and fd7a:115c:a1e0::/48).
 *
 * Addresses are handed out lowest first and never twice while their node exists; a deleted
 * node's addresses become free again. The network address, the broadcast address and
 * Tailscale's service address 100.100.100.100 are never handed out.
 */
import net from 'node:net';

export class AddressPoolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AddressPoolError';
  }
}

/** An IPv4 or IPv6 prefix held as a bigint range. */
export class Prefix {
  readonly family: 4 | 6;
  readonly first: bigint;
  readonly last: bigint;
  readonly bits: number;

  constructor(readonly text: string) {
    const match = /^(.+)\/(\d{1,3})$/.exec(text);
    const family = match === null ? 0 : net.isIP(match[1]!);
    const bits = match === null ? NaN : Number(match[2]);
    if (match === null || family === 0 || !(bits >= 0 && bits <= (family === 4 ? 32 : 128))) {
      throw new AddressPoolError(`invalid prefix ${JSON.stringify(text)}: expected ADDRESS/BITS such as 100.64.0.0/10`);
    }
    this.family = family as 4 | 6;
    this.bits = bits;
    const width = family === 4 ? 32 : 128;
    const hostBits = BigInt(width - bits);
    const base = addressToBigInt(match[1]!);
    this.first = (base >> hostBits) << hostBits;
    this.last = this.first + (1n << hostBits) - 1n;
    if (base !== this.first) {
      throw new AddressPoolError(`invalid prefix ${JSON.stringify(text)}: host bits are set; did you mean ${bigIntToAddress(this.first, this.family)}/${bits}?`);
    }
  }

  contains(address: string): boolean {
    if (net.isIP(address) !== this.family) return false;
    const value = addressToBigInt(address);
    return value >= this.first && value <= this.last;
  }
}

export function addressToBigInt(address: string): bigint {
  if (net.isIPv4(address)) {
    return address.split('.').reduce((sum, part) => (sum << 8n) + BigInt(Number(part)), 0n);
  }
  const [head = '', tail = ''] = address.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::')
    ? [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups]
    : headGroups;
  return groups.reduce((sum, group) => (sum << 16n) + BigInt(parseInt(group, 16)), 0n);
}

export function bigIntToAddress(value: bigint, family: 4 | 6): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
  }
  const groups: string[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(((value >> shift) & 0xffffn).toString(16));
  // Compress the longest run of zero groups, as RFC 5952 asks.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  return `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
}

const RESERVED_IPV4 = new Set(['100.100.100.100', '100.100.100.101', '100.100.100.102', '100.100.100.103']);

/** Hands out free addresses of one prefix. */
export class AddressPool {
  private readonly used = new Set<bigint>();
  private cursor: bigint;

  constructor(readonly prefix: Prefix) {
    this.cursor = prefix.first + 1n;
  }

  /** Marks an address as taken, for addresses loaded from storage. */
  reserve(address: string): void {
    if (!this.prefix.contains(address)) {
      throw new AddressPoolError(`address ${address} is outside ${this.prefix.text}`);
    }
    this.used.add(addressToBigInt(address));
  }

  release(address: string): void {
    const value = addressToBigInt(address);
    this.used.delete(value);
    if (value < this.cursor) this.cursor = value;
  }

  /** @throws {AddressPoolError} when the prefix has no free address left. */
  allocate(): string {
    const lastUsable = this.prefix.family === 4 ? this.prefix.last - 1n : this.prefix.last;
    for (let value = this.cursor; value <= lastUsable; value++) {
      const address = bigIntToAddress(value, this.prefix.family);
      if (this.used.has(value) || RESERVED_IPV4.has(address)) continue;
      this.used.add(value);
      this.cursor = value + 1n;
      return address;
    }
    throw new AddressPoolError(`no free address left in ${this.prefix.text}`);
  }
}
