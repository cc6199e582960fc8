import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { blake2s as nobleBlake2s } from '@noble/hashes/blake2.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { DecryptionError, blake2s, chachaOpen, chachaSeal, hkdf2 } from './primitives.js';

describe('noise primitives from node:crypto', () => {
  it('hashes like @noble/hashes blake2s', () => {
    expect(Buffer.from(blake2s(Buffer.from('abc'))).toString('hex')).toBe(
      '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982',
    );
    for (const size of [0, 1, 63, 64, 65, 1000]) {
      const data = crypto.randomBytes(size);
      expect(new Uint8Array(blake2s(data.subarray(0, 10), data.subarray(10)))).toEqual(nobleBlake2s(data));
    }
  });

  it('derives keys like RFC 5869 HKDF over BLAKE2s', () => {
    const chainingKey = crypto.randomBytes(32);
    const input = crypto.randomBytes(32);
    // Noise's two-output HKDF equals RFC 5869 with salt = chaining key and empty info.
    const expected = hkdf(nobleBlake2s, input, chainingKey, new Uint8Array(0), 64);
    const [first, second] = hkdf2(chainingKey, input);
    expect(Buffer.concat([first, second])).toEqual(Buffer.from(expected));
  });

  it('seals and opens like @noble/ciphers chacha20poly1305', () => {
    const key = crypto.randomBytes(32);
    const nonce = crypto.randomBytes(12);
    const associatedData = crypto.randomBytes(32);
    for (const size of [0, 1, 4077, 10000]) {
      const plaintext = crypto.randomBytes(size);
      const sealed = chachaSeal(key, nonce, plaintext, associatedData);
      expect(new Uint8Array(sealed)).toEqual(chacha20poly1305(key, nonce, associatedData).encrypt(plaintext));
      expect(chachaOpen(key, nonce, sealed, associatedData)).toEqual(plaintext);
    }
  });

  it('rejects a modified ciphertext or associated data', () => {
    const key = crypto.randomBytes(32);
    const nonce = Buffer.alloc(12);
    const sealed = chachaSeal(key, nonce, Buffer.from('payload'), Buffer.from('ad'));
    const flipped = Buffer.from(sealed);
    flipped[0]! ^= 1;
    expect(() => chachaOpen(key, nonce, flipped, Buffer.from('ad'))).toThrow(DecryptionError);
    expect(() => chachaOpen(key, nonce, sealed, Buffer.from('other'))).toThrow(/tag mismatch/);
    expect(() => chachaOpen(key, nonce, sealed.subarray(0, 10))).toThrow(/shorter than the 16-byte tag/);
  });
});
