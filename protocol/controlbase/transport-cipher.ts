/**
 * The ChaCha20-Poly1305 state of one direction of a controlbase connection.
 *
 * Tailscale's controlbase writes the 64-bit message counter into the last 8 bytes of the
 * 12-byte nonce in big-endian order, unlike the Noise spec's little-endian, so an
 * off-the-shelf Noise transport interoperates only for the first message. Keys are never
 * rotated; a connection whose counter runs out must be replaced.
 */
import { DecryptionError, NONCE_LENGTH, chachaOpen, chachaSeal } from '../noise/primitives.js';

// Go stops at 2^64-1; a JavaScript number stays exact up to 2^53-1, far beyond any real connection.
const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

export class TransportCipher {
  private counter = 0;
  private readonly nonce = Buffer.alloc(NONCE_LENGTH);

  constructor(private readonly key: Uint8Array) {}

  /** Number of messages sealed or opened so far. */
  get messageCount(): number {
    return this.counter;
  }

  seal(plaintext: Uint8Array): Buffer {
    return chachaSeal(this.key, this.nextNonce(), plaintext);
  }

  /** @throws {DecryptionError} on a forged, reordered or corrupted message. */
  open(ciphertext: Uint8Array): Buffer {
    return chachaOpen(this.key, this.nextNonce(), ciphertext);
  }

  private nextNonce(): Buffer {
    if (this.counter >= MAX_COUNTER) throw new DecryptionError('cipher exhausted: the connection must be re-established');
    this.nonce.writeUInt32BE(Math.floor(this.counter / 2 ** 32), 4);
    this.nonce.writeUInt32BE(this.counter >>> 0, 8);
    this.counter += 1;
    return this.nonce;
  }
}
