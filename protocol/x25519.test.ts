import { x25519 as nobleX25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';

import { X25519PrivateKey, x25519 } from './x25519.js';

const hex = (text: string) => Uint8Array.from(Buffer.from(text, 'hex'));

describe('x25519', () => {
  it('matches the RFC 7748 section 6.1 vector', () => {
    const alice = new X25519PrivateKey(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
    const bobPublic = hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    expect(Buffer.from(alice.publicKey).toString('hex')).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(Buffer.from(alice.sharedSecret(bobPublic)).toString('hex')).toBe(
      '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742',
    );
  });

  it('agrees with @noble/curves on random keys', () => {
    for (let i = 0; i < 20; i++) {
      const a = X25519PrivateKey.generate();
      const b = X25519PrivateKey.generate();
      expect(a.publicKey).toEqual(nobleX25519.getPublicKey(a.bytes));
      expect(a.sharedSecret(b.publicKey)).toEqual(nobleX25519.getSharedSecret(a.bytes, b.publicKey));
      expect(x25519(b.bytes, a.publicKey)).toEqual(a.sharedSecret(b.publicKey));
    }
  });

  it('rejects a low-order peer point', () => {
    const key = X25519PrivateKey.generate();
    expect(() => key.sharedSecret(new Uint8Array(32))).toThrow(/low-order point/);
  });

  it('derives the same public key from generated and imported bytes', () => {
    const generated = X25519PrivateKey.generate();
    const imported = new X25519PrivateKey(generated.bytes);
    expect(imported.publicKey).toEqual(generated.publicKey);
    expect(imported.sharedSecret(X25519PrivateKey.generate().publicKey)).toHaveLength(32);
  });

  it('generates many keys without hanging', () => {
    // Node 20.20's generateKeyPairSync followed by a JWK export hangs the process within about
    // 25,000 keys, when a garbage collection lands inside the export.
    const seen = new Set<string>();
    for (let i = 0; i < 50_000; i++) seen.add(Buffer.from(X25519PrivateKey.generate().publicKey).toString('hex'));
    expect(seen.size).toBe(50_000);
  });
});
