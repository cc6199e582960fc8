/**
 * The STUN FINGERPRINT attribute (RFC 5389 section 15.5): CRC-32 (IEEE) of the
 * message up to the attribute, XORed with 0x5354554e. The header's length field
 * must already count the FINGERPRINT attribute when the CRC is computed.
 */
import { crc32 } from 'node:zlib';

/** The constant XORed into the CRC, "STUN" in ASCII. */
export const FingerprintXor = 0x5354554e;

/** Length of the whole FINGERPRINT attribute: 4-byte header plus 4-byte value. */
export const FingerprintAttributeLen = 8;

/** Computes the FINGERPRINT value of the bytes before the attribute. */
export function computeFingerprint(messageBeforeFingerprint: Uint8Array): number {
  return (crc32(messageBeforeFingerprint) ^ FingerprintXor) >>> 0;
}
