import { describe, expect, it } from 'vitest';

import { AddressPool, AddressPoolError, Prefix, addressToBigInt, bigIntToAddress } from '../../src/tailnet/ip-allocator.js';

describe('address pool', () => {
  it('hands out IPv4 addresses lowest first, skipping the network address', () => {
    const pool = new AddressPool(new Prefix('100.64.0.0/10'));
    expect([pool.allocate(), pool.allocate(), pool.allocate()]).toEqual(['100.64.0.1', '100.64.0.2', '100.64.0.3']);
  });

  it('never hands out a reserved or used address twice and reuses released ones', () => {
    const pool = new AddressPool(new Prefix('100.64.0.0/10'));
    pool.reserve('100.64.0.1');
    expect(pool.allocate()).toBe('100.64.0.2');
    pool.release('100.64.0.1');
    expect(pool.allocate()).toBe('100.64.0.1');
    expect(pool.allocate()).toBe('100.64.0.3');
  });

  it('skips the Tailscale service address', () => {
    // 100.100.100.100 to .103 are Tailscale's service addresses; .103 is also the broadcast address here.
    const pool = new AddressPool(new Prefix('100.100.100.96/29'));
    expect([pool.allocate(), pool.allocate(), pool.allocate()]).toEqual(['100.100.100.97', '100.100.100.98', '100.100.100.99']);
    expect(() => pool.allocate()).toThrow(/no free address left/);
  });

  it('reports an exhausted prefix', () => {
    const pool = new AddressPool(new Prefix('10.0.0.0/30'));
    expect([pool.allocate(), pool.allocate()]).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(() => pool.allocate()).toThrow(/no free address left in 10.0.0.0\/30/);
  });

  it('allocates IPv6 in the Tailscale ULA range', () => {
    const pool = new AddressPool(new Prefix('fd7a:115c:a1e0::/48'));
    expect(pool.allocate()).toBe('fd7a:115c:a1e0::1');
    expect(pool.allocate()).toBe('fd7a:115c:a1e0::2');
  });

  it('rejects malformed prefixes naming the value', () => {
    expect(() => new Prefix('100.64.0.0')).toThrow(AddressPoolError);
    expect(() => new Prefix('100.64.0.1/10')).toThrow(/host bits are set; did you mean 100.64.0.0\/10/);
    expect(() => new Prefix('300.1.1.1/8')).toThrow(/invalid prefix "300.1.1.1\/8"/);
    expect(() => new Prefix('fd7a::/129')).toThrow(/invalid prefix/);
  });

  it('rejects loading an address outside the prefix', () => {
    const pool = new AddressPool(new Prefix('100.64.0.0/10'));
    expect(() => pool.reserve('10.1.2.3')).toThrow(/outside 100.64.0.0\/10/);
  });

  it('round-trips address text', () => {
    for (const text of ['100.64.0.1', '0.0.0.0', 'fd7a:115c:a1e0::1', '::', '1:2:3:4:5:6:7:8', 'fd7a:115c:a1e0:0:1::']) {
      const family = text.includes(':') ? 6 : 4;
      expect(bigIntToAddress(addressToBigInt(text), family)).toBe(text);
    }
  });
});
