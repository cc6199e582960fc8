/**
 * STUN message framing (RFC 5389) as far as Tailscale uses it, with facts from
 * tailscale.com/net/stun v1.92.5:
 *
 *   type (2) | length (2, attribute bytes after the header) | magic cookie 0x2112a442 (4)
 *   | transaction ID (12) | attributes
 *
 * Each attribute is type (2) | length (2) | value, padded with zeros to a multiple of 4.
 */

/** Length of the STUN header in bytes. */
export const HeaderLen = 20;
/** Length of a transaction ID in bytes. */
export const TransactionIdLen = 12;
/** The magic cookie at bytes 4..8 of every RFC 5389 message. */
export const MagicCookie = 0x2112a442;

/** Message types tailscaled sends and expects. */
export const MessageType = {
  BindingRequest: 0x0001,
  BindingSuccessResponse: 0x0101,
} as const;

/** Attribute types this library reads or writes. */
export const AttributeType = {
  MappedAddress: 0x0001,
  XorMappedAddress: 0x0020,
  /**
   * XOR-MAPPED-ADDRESS under a comprehension-optional number. No RFC defines it,
   * but tailscaled accepts it because some servers send it.
   */
  XorMappedAddressAlt: 0x8020,
  Software: 0x8022,
  Fingerprint: 0x8028,
} as const;

/** Address families of the (XOR-)MAPPED-ADDRESS attributes. */
export const AddressFamily = {
  IPv4: 0x01,
  IPv6: 0x02,
} as const;

/** The check a STUN packet failed. A server can count dropped packets by it. */
export type StunCheck =
  | 'not-stun'
  | 'wrong-message-type'
  | 'malformed-attributes'
  | 'wrong-software'
  | 'no-fingerprint'
  | 'wrong-fingerprint'
  | 'no-mapped-address';

/** Error for a STUN packet that failed a check, which the check property names. */
export class StunError extends Error {
  readonly check: StunCheck;

  constructor(check: StunCheck, message: string) {
    super(message);
    this.name = 'StunError';
    this.check = check;
  }
}

/** An attribute of a message. Its value is a view into the packet, without padding. */
export interface StunAttribute {
  type: number;
  /** Offset of the attribute header from the start of the packet. */
  offset: number;
  value: Uint8Array;
}

/**
 * Reports whether packet looks like a STUN message, as tailscaled's stun.Is does:
 * at least 20 bytes, the top two bits zero and the magic cookie at bytes 4..8.
 * tailscaled uses this to tell STUN from WireGuard on a shared UDP socket.
 */
export function isStunMessage(packet: Uint8Array): boolean {
  return describeNotStun(packet) === undefined;
}

/** Throws StunError('not-stun') with the failed check unless {@link isStunMessage} holds. */
export function checkStunMessage(packet: Uint8Array, messageName: string): void {
  const reason = describeNotStun(packet);
  if (reason !== undefined) {
    throw new StunError('not-stun', `${messageName}: not a STUN message: ${reason}`);
  }
}

/** Reads the 16-bit message type. The caller has checked the header is present. */
export function readMessageType(packet: Uint8Array): number {
  return readUint16(packet, 0);
}

/** Returns a copy of the transaction ID. The caller has checked the header is present. */
export function readTransactionId(packet: Uint8Array): Uint8Array {
  return packet.slice(8, HeaderLen);
}

/**
 * Returns the attributes inside the header's declared length, ignoring trailing
 * bytes after it. Throws StunError('malformed-attributes') when the declared
 * length exceeds the packet or an attribute runs past the end.
 */
export function readAttributes(packet: Uint8Array, messageName: string): StunAttribute[] {
  const declaredLength = readUint16(packet, 2);
  const end = HeaderLen + declaredLength;
  if (end > packet.length) {
    throw new StunError(
      'malformed-attributes',
      `${messageName}: header declares ${declaredLength} attribute bytes, but only ${packet.length - HeaderLen} follow`,
    );
  }

  const attributes: StunAttribute[] = [];
  let offset = HeaderLen;
  while (offset < end) {
    if (end - offset < 4) {
      throw new StunError('malformed-attributes', `${messageName}: ${end - offset} stray bytes after the last attribute`);
    }
    const type = readUint16(packet, offset);
    const length = readUint16(packet, offset + 2);
    const paddedLength = (length + 3) & ~3;
    if (offset + 4 + paddedLength > end) {
      throw new StunError(
        'malformed-attributes',
        `${messageName}: attribute ${hex16(type)} at offset ${offset} declares ${length} bytes, past the end of the message`,
      );
    }
    attributes.push({ type, offset, value: packet.subarray(offset + 4, offset + 4 + length) });
    offset += 4 + paddedLength;
  }
  return attributes;
}

/** Writes the 20-byte header into message, whose attributes follow it. */
export function writeHeader(message: Buffer, type: number, transactionId: Uint8Array): void {
  if (transactionId.length !== TransactionIdLen) {
    throw new RangeError(`STUN: transaction ID length ${transactionId.length}, expected ${TransactionIdLen}`);
  }
  message.writeUInt16BE(type, 0);
  message.writeUInt16BE(message.length - HeaderLen, 2);
  message.writeUInt32BE(MagicCookie, 4);
  message.set(transactionId, 8);
}

export function readUint16(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] ?? 0) << 8) | (bytes[offset + 1] ?? 0);
}

export function readUint32(bytes: Uint8Array, offset: number): number {
  return (readUint16(bytes, offset) * 0x10000 + readUint16(bytes, offset + 2)) >>> 0;
}

/** Formats a 16-bit value as 0xNNNN. */
export function hex16(value: number): string {
  return `0x${value.toString(16).padStart(4, '0')}`;
}

/** Formats a 32-bit value as 0xNNNNNNNN. */
export function hex32(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

function describeNotStun(packet: Uint8Array): string | undefined {
  if (packet.length < HeaderLen) {
    return `length ${packet.length} is shorter than the ${HeaderLen}-byte header`;
  }
  if (((packet[0] ?? 0) & 0xc0) !== 0) {
    return `first byte 0x${(packet[0] ?? 0).toString(16).padStart(2, '0')} has a top bit set`;
  }
  const cookie = readUint32(packet, 4);
  if (cookie !== MagicCookie) {
    return `magic cookie ${hex32(cookie)}, expected ${hex32(MagicCookie)}`;
  }
  return undefined;
}
