/**
 * The hash, key derivation and AEAD of `Noise_IK_25519_ChaChaPoly_BLAKE2s`, from `node:crypto`.
 * `primitives.test.ts` proves each one byte-equal to the @noble implementations.
 */
import crypto from 'node:crypto';

export const HASH_LENGTH = 32;
export const TAG_LENGTH = 16;
export const NONCE_LENGTH = 12;

export function blake2s(...parts: Uint8Array[]): Uint8Array {
  const hash = crypto.createHash('blake2s256');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

function hmacBlake2s(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const mac = crypto.createHmac('blake2s256', key);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

/** Noise's HKDF with two outputs (Noise spec section 4.3), over HMAC-BLAKE2s. */
export function hkdf2(chainingKey: Uint8Array, inputKeyMaterial: Uint8Array): [Uint8Array, Uint8Array] {
  const tempKey = hmacBlake2s(chainingKey, inputKeyMaterial);
  const output1 = hmacBlake2s(tempKey, Uint8Array.of(1));
  const output2 = hmacBlake2s(tempKey, output1, Uint8Array.of(2));
  return [output1, output2];
}

export function chachaSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, associatedData?: Uint8Array): Buffer {
  const cipher = crypto.createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_LENGTH });
  if (associatedData !== undefined) cipher.setAAD(associatedData, { plaintextLength: plaintext.length });
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/** @throws {DecryptionError} when the tag does not match. */
export function chachaOpen(key: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array, associatedData?: Uint8Array): Buffer {
  if (ciphertext.length < TAG_LENGTH) {
    throw new DecryptionError(`ciphertext of ${ciphertext.length} bytes is shorter than the ${TAG_LENGTH}-byte tag`);
  }
  const body = ciphertext.subarray(0, ciphertext.length - TAG_LENGTH);
  const decipher = crypto.createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_LENGTH });
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_LENGTH));
  if (associatedData !== undefined) decipher.setAAD(associatedData, { plaintextLength: body.length });
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new DecryptionError('authentication tag mismatch');
  }
}

export class DecryptionError extends Error {
  constructor(reason: string) {
    super(`ChaCha20-Poly1305 decryption failed: ${reason}`);
    this.name = 'DecryptionError';
  }
}
