/**
 * X25519 (RFC 7748) on top of `node:crypto`, which is about 30 times faster than a pure
 * JavaScript implementation. Keys cross this module's boundary as raw 32-byte arrays.
 * `x25519.test.ts` checks every function against @noble/curves and the RFC 7748 vectors.
 */
import crypto, { type KeyObject } from 'node:crypto';

import { KEY_LENGTH } from './key.js';

// Importing keys as JWK is several times faster in Node 20 than as DER (about 12 against 80
// microseconds for a public key).

/** A private key ready for repeated Diffie-Hellman, such as a server's static key. */
export class X25519PrivateKey {
  readonly keyObject: KeyObject;
  readonly publicKey: Uint8Array;

  readonly bytes: Uint8Array;

  constructor(bytes: Uint8Array);
  constructor(bytes: Uint8Array, keyObject: KeyObject, publicKey: Uint8Array);
  constructor(bytes: Uint8Array, keyObject?: KeyObject, publicKey?: Uint8Array) {
    if (bytes.length !== KEY_LENGTH) throw new RangeError(`X25519 private key: expected 32 bytes, got ${bytes.length}`);
    this.bytes = Uint8Array.from(bytes);
    if (keyObject !== undefined && publicKey !== undefined) {
      this.keyObject = keyObject;
      this.publicKey = publicKey;
      return;
    }
    // Node requires an `x` member in a private JWK but derives the public half from `d` alone.
    const d = Buffer.from(bytes).toString('base64url');
    this.keyObject = crypto.createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d, x: '' }, format: 'jwk' });
    const x = crypto.createPublicKey(this.keyObject).export({ format: 'jwk' }).x!;
    this.publicKey = Uint8Array.from(Buffer.from(x, 'base64url'));
  }

  /**
   * Creates a random key, such as a handshake's ephemeral key.
   *
   * NOTE: this imports random bytes instead of calling generateKeyPairSync. In Node 20.20, a
   * garbage collection during the JWK export of a freshly generated pair can finalise the key
   * generation job, whose destructor waits for the key's mutex that the export holds, and the
   * process hangs for good. A loop of such pairs hangs within about 25,000 keys, and a
   * netmap-scale client process hung this way. RFC 7748 clamps any 32 random bytes into a
   * valid private key.
   */
  static generate(): X25519PrivateKey {
    return new X25519PrivateKey(crypto.randomBytes(KEY_LENGTH));
  }

  /**
   * Computes the shared secret with a peer's public key.
   * @throws {Error} when the result is all zeros, which means the peer sent a low-order point.
   */
  sharedSecret(peerPublic: Uint8Array): Uint8Array {
    return x25519(this.keyObject, peerPublic);
  }
}

export function x25519(privateKey: KeyObject | Uint8Array, peerPublic: Uint8Array): Uint8Array {
  if (peerPublic.length !== KEY_LENGTH) throw new RangeError(`X25519 public key: expected 32 bytes, got ${peerPublic.length}`);
  const privateKeyObject = privateKey instanceof Uint8Array ? new X25519PrivateKey(privateKey).keyObject : privateKey;
  const publicKeyObject = crypto.createPublicKey({
    key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(peerPublic).toString('base64url') },
    format: 'jwk',
  });

  let shared: Buffer;
  try {
    shared = crypto.diffieHellman({ privateKey: privateKeyObject, publicKey: publicKeyObject });
  } catch (cause) {
    // OpenSSL rejects a low-order peer point itself instead of returning zeros.
    throw new Error('X25519: the peer public key is a low-order point', { cause });
  }
  if (shared.every((b) => b === 0)) throw new Error('X25519: the peer public key is a low-order point');
  return Uint8Array.from(shared);
}
