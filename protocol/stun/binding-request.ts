/**
 * STUN binding requests as tailscaled sends them (tailscale.com/net/stun v1.92.5).
 * Every request is 40 bytes:
 *
 *   header (20): type 0x0001, length 20, magic cookie, random transaction ID
 *   SOFTWARE (12): type 0x8022, length 8, "tailnode" (8 bytes, so no padding)
 *   FINGERPRINT (8): type 0x8028, length 4, CRC-32 of the 32 bytes before it XOR 0x5354554e
 */
import { randomBytes } from 'node:crypto';

import { FingerprintAttributeLen, computeFingerprint } from './fingerprint.js';
import {
  AttributeType,
  HeaderLen,
  MessageType,
  StunError,
  TransactionIdLen,
  checkStunMessage,
  hex16,
  hex32,
  readAttributes,
  readMessageType,
  readTransactionId,
  readUint32,
  writeHeader,
} from './message.js';

/** The SOFTWARE value tailscaled puts in its requests. */
export const TailscaleSoftware = 'tailnode';

/** A parsed binding request. */
export interface BindingRequest {
  /** Copy of the 12-byte transaction ID, to echo in the response. */
  transactionId: Uint8Array;
  /** The SOFTWARE attribute as text, or undefined when absent. */
  software: string | undefined;
  /** Whether a FINGERPRINT attribute was present. A present one has been verified. */
  hasFingerprint: boolean;
}

export interface ParseBindingRequestOptions {
  /**
   * Apply the checks of Tailscale's own STUN server: SOFTWARE must be "tailnode"
   * and FINGERPRINT must be present. Defaults to false, which accepts any binding
   * request and checks FINGERPRINT only when it is present.
   */
  requireTailscale?: boolean;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8');
const softwareBytes = utf8Encoder.encode(TailscaleSoftware);
const requestName = 'STUN binding request';

/** Returns a random 12-byte transaction ID. */
export function newTransactionId(): Uint8Array {
  return new Uint8Array(randomBytes(TransactionIdLen));
}

/** Builds a binding request byte-identical to tailscaled's for the same transaction ID. */
export function buildBindingRequest(transactionId: Uint8Array): Buffer {
  const softwareAttributeLen = 4 + softwareBytes.length;
  const request = Buffer.alloc(HeaderLen + softwareAttributeLen + FingerprintAttributeLen);
  writeHeader(request, MessageType.BindingRequest, transactionId);

  let offset = HeaderLen;
  request.writeUInt16BE(AttributeType.Software, offset);
  request.writeUInt16BE(softwareBytes.length, offset + 2);
  request.set(softwareBytes, offset + 4);
  offset += softwareAttributeLen;

  request.writeUInt16BE(AttributeType.Fingerprint, offset);
  request.writeUInt16BE(4, offset + 2);
  request.writeUInt32BE(computeFingerprint(request.subarray(0, offset)), offset + 4);
  return request;
}

/**
 * Parses a binding request. Throws StunError whose check names the failed test:
 * not-stun, wrong-message-type, malformed-attributes, wrong-fingerprint, and with
 * requireTailscale also wrong-software and no-fingerprint.
 */
export function parseBindingRequest(packet: Uint8Array, options: ParseBindingRequestOptions = {}): BindingRequest {
  checkStunMessage(packet, requestName);
  const type = readMessageType(packet);
  if (type !== MessageType.BindingRequest) {
    throw new StunError(
      'wrong-message-type',
      `${requestName}: message type ${hex16(type)}, expected ${hex16(MessageType.BindingRequest)}`,
    );
  }

  const attributes = readAttributes(packet, requestName);
  let software: string | undefined;
  let hasFingerprint = false;
  for (const [index, attribute] of attributes.entries()) {
    if (attribute.type === AttributeType.Software && software === undefined) {
      software = utf8Decoder.decode(attribute.value);
    }
    if (attribute.type !== AttributeType.Fingerprint) {
      continue;
    }

    // RFC 5389 section 15.5: FINGERPRINT is always the last attribute.
    if (index !== attributes.length - 1) {
      const detail = `FINGERPRINT at offset ${attribute.offset} is not the last attribute`;
      throw new StunError('wrong-fingerprint', `${requestName}: ${detail}`);
    }
    if (attribute.value.length !== 4) {
      throw new StunError('malformed-attributes', `${requestName}: FINGERPRINT length ${attribute.value.length}, expected 4`);
    }
    const got = readUint32(attribute.value, 0);
    const expected = computeFingerprint(packet.subarray(0, attribute.offset));
    if (got !== expected) {
      throw new StunError(
        'wrong-fingerprint',
        `${requestName}: FINGERPRINT ${hex32(got)}, expected ${hex32(expected)}`,
      );
    }
    hasFingerprint = true;
  }

  if (options.requireTailscale === true) {
    if (software !== TailscaleSoftware) {
      const softwareText = software === undefined ? 'missing' : JSON.stringify(software);
      throw new StunError('wrong-software', `${requestName}: SOFTWARE is ${softwareText}, expected "${TailscaleSoftware}"`);
    }
    if (!hasFingerprint) {
      throw new StunError('no-fingerprint', `${requestName}: FINGERPRINT is missing`);
    }
  }

  return { transactionId: readTransactionId(packet), software, hasFingerprint };
}
