/**
 * The Noise SymmetricState object (Noise spec revision 34, section 5.2) for
 * `Noise_IK_25519_ChaChaPoly_BLAKE2s`.
 *
 * In the IK pattern every handshake key encrypts exactly one payload before the next MixKey
 * replaces it, so the handshake nonce is always zero. `encryptAndHash` enforces that instead of
 * keeping a counter, which also sidesteps the byte order question: Tailscale's transport nonces
 * are big-endian while the Noise spec's are little-endian, and the two only agree at zero.
 */
import { HASH_LENGTH, NONCE_LENGTH, blake2s, chachaOpen, chachaSeal, hkdf2 } from './primitives.js';

const ZERO_NONCE = new Uint8Array(NONCE_LENGTH);
const EMPTY = new Uint8Array(0);

export class SymmetricState {
  private chainingKey: Uint8Array;
  private hash: Uint8Array;
  private key: Uint8Array | undefined;

  constructor(protocolName: string) {
    const name = Buffer.from(protocolName, 'ascii');
    // Names longer than HASHLEN are hashed, shorter ones zero-padded (spec section 5.2).
    this.hash = name.length <= HASH_LENGTH ? Buffer.concat([name, Buffer.alloc(HASH_LENGTH - name.length)]) : blake2s(name);
    this.chainingKey = this.hash;
  }

  get handshakeHash(): Uint8Array {
    return this.hash;
  }

  mixHash(data: Uint8Array): void {
    this.hash = blake2s(this.hash, data);
  }

  mixKey(inputKeyMaterial: Uint8Array): void {
    [this.chainingKey, this.key] = hkdf2(this.chainingKey, inputKeyMaterial);
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const key = this.takeKey('encrypt');
    const ciphertext = chachaSeal(key, ZERO_NONCE, plaintext, this.hash);
    this.mixHash(ciphertext);
    return ciphertext;
  }

  /** @throws {DecryptionError} when the ciphertext was not made with this handshake's key. */
  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const key = this.takeKey('decrypt');
    const plaintext = chachaOpen(key, ZERO_NONCE, ciphertext, this.hash);
    this.mixHash(ciphertext);
    return plaintext;
  }

  /** Derives the two transport keys: the first for initiator to responder, the second back. */
  split(): [Uint8Array, Uint8Array] {
    return hkdf2(this.chainingKey, EMPTY);
  }

  private takeKey(operation: string): Uint8Array {
    const key = this.key;
    if (key === undefined) throw new Error(`Noise handshake: cannot ${operation} before MixKey, or twice under one key`);
    this.key = undefined;
    return key;
  }
}
