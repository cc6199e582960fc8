import { describe, expect, it } from 'vitest';

import { DiscoPublic, KeyParseError, MachinePublic, NodePublic, PrivateKey } from './key.js';

const HEX = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
const ZERO = '0'.repeat(64);

describe('key text forms', () => {
  it('round-trips each public key type', () => {
    expect(MachinePublic.parse(`mkey:${HEX}`).toString()).toBe(`mkey:${HEX}`);
    expect(NodePublic.parse(`nodekey:${HEX}`).toString()).toBe(`nodekey:${HEX}`);
    expect(DiscoPublic.parse(`discokey:${HEX}`).toString()).toBe(`discokey:${HEX}`);
    expect(JSON.stringify({ Key: NodePublic.parse(`nodekey:${HEX}`) })).toBe(`{"Key":"nodekey:${HEX}"}`);
  });

  it('accepts upper-case hex and emits lower case', () => {
    expect(NodePublic.parse(`nodekey:${HEX.toUpperCase()}`).toString()).toBe(`nodekey:${HEX}`);
  });

  it('reads the all-zero key as absent', () => {
    expect(NodePublic.parseOptional(`nodekey:${ZERO}`)).toBeUndefined();
    expect(NodePublic.parseOptional('')).toBeUndefined();
    expect(NodePublic.parseOptional(null)).toBeUndefined();
    expect(NodePublic.parseOptional(`nodekey:${HEX}`)?.hex()).toBe(HEX);
    expect(NodePublic.parse(`nodekey:${ZERO}`).isZero()).toBe(true);
  });

  it('rejects a wrong prefix naming the key type', () => {
    expect(() => NodePublic.parse(`mkey:${HEX}`)).toThrow(KeyParseError);
    expect(() => NodePublic.parse(`mkey:${HEX}`)).toThrow(/invalid node key "mkey:4a5d.*expected prefix "nodekey:"/);
  });

  it('rejects short, long and non-hex digits', () => {
    expect(() => MachinePublic.parse(`mkey:${HEX.slice(2)}`)).toThrow(/64 hexadecimal digits/);
    expect(() => MachinePublic.parse(`mkey:${HEX}00`)).toThrow(/64 hexadecimal digits/);
    expect(() => MachinePublic.parse(`mkey:${HEX.slice(1)}g`)).toThrow(/64 hexadecimal digits/);
  });

  it('compares keys by type and bytes', () => {
    const bytes = Buffer.from(HEX, 'hex');
    expect(NodePublic.fromBytes(bytes).equals(NodePublic.parse(`nodekey:${HEX}`))).toBe(true);
    expect(NodePublic.fromBytes(bytes).equals(DiscoPublic.fromBytes(bytes))).toBe(false);
  });

  it('never prints private key digits except through reveal', () => {
    const key = PrivateKey.parse(`privkey:${HEX}`);
    expect(String(key)).not.toContain(HEX.slice(0, 8));
    expect(JSON.stringify({ key })).not.toContain(HEX.slice(0, 8));
    expect(key.short()).not.toContain(HEX.slice(0, 8));
    expect(key.reveal()).toBe(`privkey:${HEX}`);
  });
});
