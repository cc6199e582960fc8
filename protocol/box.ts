/**
 * NaCl `crypto_box` (curve25519-xsalsa20-poly1305), byte-compatible with Go's
 * golang.org/x/crypto/nacl/box, which Tailscale's key.NodePrivate.SealTo and
 * OpenFrom use to seal the DERP ClientInfo and ServerInfo messages.
 *
 * A box is built in three steps:
 *   1. s = X25519(myPrivate, theirPublic), with the private scalar clamped per RFC 7748.
 *   2. k = HSalsa20(key = s, input = 16 zero bytes), the "beforenm" key.
 *   3. secretbox(k, nonce) = XSalsa20-Poly1305, which outputs tag(16) || ciphertext.
 *
 * X25519 runs in node:crypto (see ./x25519.ts). Node has no (X)Salsa20, so steps 2
 * and 3 use @noble/ciphers. Pass an X25519PrivateKey rather than raw bytes when the
 * same private key opens many boxes, because raw bytes are imported into
 * node:crypto again on every call.
 */
import { randomBytes } from 'node:crypto';

import { hsalsa, xsalsa20poly1305 } from '@noble/ciphers/salsa.js';

import { X25519PrivateKey, x25519 } from './x25519.js';

/** A raw 32-byte X25519 private key, or one already imported into node:crypto. */
export type BoxPrivateKey = Uint8Array | X25519PrivateKey;

/** Length of an X25519 public key in bytes. */
export const BoxPublicKeyLength = 32;
/** Length of an X25519 private key in bytes. */
export const BoxPrivateKeyLength = 32;
/** Length of the precomputed key returned by {@link boxBeforeNm}. */
export const BoxSharedKeyLength = 32;
/** Length of the XSalsa20 nonce in bytes. */
export const BoxNonceLength = 24;
/** Bytes a box adds to its message: the Poly1305 tag. */
export const BoxOverheadLength = 16;

/** Thrown when a box fails authentication: wrong keys, wrong nonce or altered bytes. */
export class BoxOpenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BoxOpenError';
  }
}

// "expand 32-byte k" read as four host-endian 32-bit words, the form hsalsa() expects.
const sigmaWords = new Uint32Array(new TextEncoder().encode('expand 32-byte k').buffer);
const zeroInputWords = new Uint32Array(4);

/**
 * Precomputes the box key shared by myPrivate and theirPublic (NaCl's
 * crypto_box_beforenm). The same key seals in both directions, so a server can
 * compute it once per peer and use {@link sealAfterNm} and {@link openAfterNm}.
 */
export function boxBeforeNm(theirPublic: Uint8Array, myPrivate: BoxPrivateKey): Uint8Array {
  checkLength('public key', theirPublic, BoxPublicKeyLength);
  const privateKey =
    myPrivate instanceof X25519PrivateKey ? myPrivate.keyObject : checkLength('private key', myPrivate, BoxPrivateKeyLength);

  // NOTE: x25519() rejects low-order public keys (all-zero shared secret), which
  // Go's nacl/box accepts. Keys that Tailscale clients generate are never low-order.
  const secretWords = new Uint32Array(8);
  new Uint8Array(secretWords.buffer).set(x25519(privateKey, theirPublic));

  const keyWords = new Uint32Array(8);
  hsalsa(sigmaWords, secretWords, zeroInputWords, keyWords);
  secretWords.fill(0);
  return new Uint8Array(keyWords.buffer);
}

/** Seals message with a key from {@link boxBeforeNm}. Returns tag || ciphertext. */
export function sealAfterNm(message: Uint8Array, nonce: Uint8Array, sharedKey: Uint8Array): Uint8Array {
  checkLength('shared key', sharedKey, BoxSharedKeyLength);
  checkLength('nonce', nonce, BoxNonceLength);
  return xsalsa20poly1305(sharedKey, nonce).encrypt(message);
}

/**
 * Opens a tag || ciphertext box with a key from {@link boxBeforeNm}.
 * Throws BoxOpenError when the box is too short or its tag does not verify.
 */
export function openAfterNm(box: Uint8Array, nonce: Uint8Array, sharedKey: Uint8Array): Uint8Array {
  checkLength('shared key', sharedKey, BoxSharedKeyLength);
  checkLength('nonce', nonce, BoxNonceLength);
  if (box.length < BoxOverheadLength) {
    throw new BoxOpenError(`box open failed: box length ${box.length} is shorter than the ${BoxOverheadLength}-byte tag`);
  }

  try {
    return xsalsa20poly1305(sharedKey, nonce).decrypt(box);
  } catch (error) {
    if (error instanceof Error && error.message === 'invalid tag') {
      throw new BoxOpenError('box open failed: invalid Poly1305 tag (wrong key or nonce, or altered bytes)');
    }
    throw error;
  }
}

/** Seals message from myPrivate to theirPublic (NaCl's crypto_box). Returns tag || ciphertext. */
export function seal(message: Uint8Array, nonce: Uint8Array, theirPublic: Uint8Array, myPrivate: BoxPrivateKey): Uint8Array {
  checkLength('nonce', nonce, BoxNonceLength);
  return sealAfterNm(message, nonce, boxBeforeNm(theirPublic, myPrivate));
}

/**
 * Opens a tag || ciphertext box that theirPublic sealed to myPrivate (NaCl's
 * crypto_box_open). Throws BoxOpenError when the tag does not verify.
 */
export function open(box: Uint8Array, nonce: Uint8Array, theirPublic: Uint8Array, myPrivate: BoxPrivateKey): Uint8Array {
  checkLength('nonce', nonce, BoxNonceLength);
  return openAfterNm(box, nonce, boxBeforeNm(theirPublic, myPrivate));
}

/**
 * Seals message to theirPublic with a fresh random nonce, like Tailscale's
 * NodePrivate.SealTo. Returns nonce(24) || tag(16) || ciphertext.
 * The nonce parameter exists for test vectors, so leave it out otherwise.
 */
export function sealTo(
  message: Uint8Array,
  theirPublic: Uint8Array,
  myPrivate: BoxPrivateKey,
  nonce: Uint8Array = randomBytes(BoxNonceLength),
): Uint8Array {
  const box = seal(message, nonce, theirPublic, myPrivate);
  const sealed = new Uint8Array(BoxNonceLength + box.length);
  sealed.set(nonce, 0);
  sealed.set(box, BoxNonceLength);
  return sealed;
}

/**
 * Opens nonce(24) || tag(16) || ciphertext from theirPublic, like Tailscale's
 * NodePrivate.OpenFrom. Throws BoxOpenError when it is too short or does not verify.
 */
export function openFrom(sealed: Uint8Array, theirPublic: Uint8Array, myPrivate: BoxPrivateKey): Uint8Array {
  const minLength = BoxNonceLength + BoxOverheadLength;
  if (sealed.length < minLength) {
    throw new BoxOpenError(`box open failed: sealed length ${sealed.length} is shorter than nonce plus tag (${minLength} bytes)`);
  }
  return open(sealed.subarray(BoxNonceLength), sealed.subarray(0, BoxNonceLength), theirPublic, myPrivate);
}

function checkLength(name: string, bytes: Uint8Array, expected: number): Uint8Array {
  if (bytes.length !== expected) {
    throw new RangeError(`box: ${name} length ${bytes.length}, expected ${expected}`);
  }
  return bytes;
}
