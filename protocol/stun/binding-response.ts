/**
 * STUN binding success responses as Tailscale's STUN server writes them and
 * tailscaled reads them (tailscale.com/net/stun v1.92.5):
 *
 *   header (20): type 0x0101, length 12 (IPv4) or 24 (IPv6), magic cookie, request's transaction ID
 *   XOR-MAPPED-ADDRESS: type 0x0020, length 8 or 20, value
 *     0x00 | family (0x01 IPv4, 0x02 IPv6) | port XOR 0x2112 (2)
 *     | address XOR the magic cookie (IPv4) or XOR cookie || transaction ID (IPv6)
 *
 * No SOFTWARE and no FINGERPRINT. tailscaled does not check a response fingerprint.
 */
import { IPv4Len, IPv6Len, formatIPAddress, parseIPAddress, unmapIPAddress } from '../ip-address.js';
import {
  AddressFamily,
  AttributeType,
  HeaderLen,
  MagicCookie,
  MessageType,
  StunError,
  type StunAttribute,
  checkStunMessage,
  hex16,
  readAttributes,
  readMessageType,
  readTransactionId,
  readUint16,
  writeHeader,
} from './message.js';

/** A transport address as text and port. */
export interface StunAddress {
  /** IP address text. IPv4-mapped IPv6 addresses read as plain IPv4. */
  ip: string;
  port: number;
}

/** A parsed binding success response. */
export interface BindingResponse {
  /** Copy of the 12-byte transaction ID, to match against the request. */
  transactionId: Uint8Array;
  /** The client's address as the server saw it. */
  address: StunAddress;
}

const responseName = 'STUN binding response';

/**
 * Builds a binding success response that reports the client's address. IPv4-mapped
 * IPv6 text (a dual-stack socket's view of an IPv4 client, "::ffff:a.b.c.d") is
 * written as IPv4, which tailscaled would unmap anyway.
 */
export function buildBindingResponse(transactionId: Uint8Array, address: StunAddress): Buffer {
  if (!Number.isInteger(address.port) || address.port < 0 || address.port > 0xffff) {
    throw new RangeError(`${responseName}: port ${address.port} is outside 0..65535`);
  }
  const ip = unmapIPAddress(parseIPAddress(address.ip));
  const family = ip.length === IPv4Len ? AddressFamily.IPv4 : AddressFamily.IPv6;

  const response = Buffer.alloc(HeaderLen + 4 + 4 + ip.length);
  writeHeader(response, MessageType.BindingSuccessResponse, transactionId);
  response.writeUInt16BE(AttributeType.XorMappedAddress, HeaderLen);
  response.writeUInt16BE(4 + ip.length, HeaderLen + 2);
  response[HeaderLen + 5] = family;
  response.writeUInt16BE(address.port ^ (MagicCookie >>> 16), HeaderLen + 6);
  // Bytes 4..20 of the header are the cookie followed by the transaction ID, the XOR mask.
  for (let i = 0; i < ip.length; i++) {
    response[HeaderLen + 8 + i] = (ip[i] ?? 0) ^ (response[4 + i] ?? 0);
  }
  return response;
}

/**
 * Parses a binding success response like tailscaled does. The address comes from
 * XOR-MAPPED-ADDRESS (0x0020 or 0x8020, the last one wins) or, when neither is
 * present, from MAPPED-ADDRESS. Throws StunError with check not-stun,
 * wrong-message-type, malformed-attributes or no-mapped-address.
 */
export function parseBindingResponse(packet: Uint8Array): BindingResponse {
  checkStunMessage(packet, responseName);
  const type = readMessageType(packet);
  if (type !== MessageType.BindingSuccessResponse) {
    const detail = `message type ${hex16(type)}, expected ${hex16(MessageType.BindingSuccessResponse)}`;
    throw new StunError('wrong-message-type', `${responseName}: ${detail}`);
  }

  let xorMapped: StunAddress | undefined;
  let mapped: StunAddress | undefined;
  for (const attribute of readAttributes(packet, responseName)) {
    switch (attribute.type) {
      case AttributeType.XorMappedAddress:
      case AttributeType.XorMappedAddressAlt:
        xorMapped = readAddress(attribute, packet.subarray(4, HeaderLen));
        break;
      case AttributeType.MappedAddress:
        mapped = readAddress(attribute, undefined);
        break;
    }
  }

  const address = xorMapped ?? mapped;
  if (address === undefined) {
    throw new StunError('no-mapped-address', `${responseName}: no XOR-MAPPED-ADDRESS or MAPPED-ADDRESS attribute`);
  }
  return { transactionId: readTransactionId(packet), address };
}

// Reads a (XOR-)MAPPED-ADDRESS value. xorMask is the cookie || transaction ID for
// the XOR variants and undefined for plain MAPPED-ADDRESS.
function readAddress(attribute: StunAttribute, xorMask: Uint8Array | undefined): StunAddress {
  const name = attributeName(attribute.type);
  const value = attribute.value;
  if (value.length < 4) {
    throw new StunError('malformed-attributes', `${responseName}: ${name} length ${value.length} is shorter than 4`);
  }

  const family = value[1] ?? 0;
  let addressLength: number;
  if (family === AddressFamily.IPv4) {
    addressLength = IPv4Len;
  } else if (family === AddressFamily.IPv6) {
    addressLength = IPv6Len;
  } else {
    const detail = `${name} family 0x${family.toString(16).padStart(2, '0')}, expected 0x01 or 0x02`;
    throw new StunError('malformed-attributes', `${responseName}: ${detail}`);
  }
  if (value.length < 4 + addressLength) {
    throw new StunError(
      'malformed-attributes',
      `${responseName}: ${name} length ${value.length} is too short for a family 0x0${family} address (${4 + addressLength})`,
    );
  }

  const ip = value.slice(4, 4 + addressLength);
  let port = readUint16(value, 2);
  if (xorMask !== undefined) {
    port ^= MagicCookie >>> 16;
    for (let i = 0; i < ip.length; i++) {
      ip[i] = (ip[i] ?? 0) ^ (xorMask[i] ?? 0);
    }
  }
  return { ip: formatIPAddress(unmapIPAddress(ip)), port };
}

function attributeName(type: number): string {
  if (type === AttributeType.MappedAddress) {
    return 'MAPPED-ADDRESS';
  }
  return type === AttributeType.XorMappedAddressAlt ? 'XOR-MAPPED-ADDRESS (0x8020)' : 'XOR-MAPPED-ADDRESS';
}
