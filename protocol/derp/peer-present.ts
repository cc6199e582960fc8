/**
 * PeerPresent frame (server to mesh watchers), sent when a client connects:
 *
 *   peer key (32) | IP (16, IPv4 as IPv4-mapped IPv6) | port (2, big-endian) | flags (1)
 *
 * Go's server writes all 51 bytes (32 + 16 + 2 + 1). The comment in Go's derp.go
 * states 41, which is wrong. Go's client needs only the key, reads the
 * address if 18 more bytes follow and the flags byte if one more follows, and
 * ignores anything after it, so older and newer servers interoperate.
 */
import { formatIPAddress, parseIPAddress, toIPv6Bytes, unmapIPAddress } from '../ip-address.js';
import { FrameType, KeyLen, checkKeyArgument, encodeFrame, expectMinPayloadLength } from './frame.js';

/** Bits of the PeerPresent flags byte. A modern server never sends 0. */
export const PeerPresentFlags = {
  /** An ordinary client. */
  IsRegular: 1 << 0,
  /** Another DERP server of the region mesh. */
  IsMeshPeer: 1 << 1,
  /** A monitoring prober (ClientInfo IsProber). */
  IsProber: 1 << 2,
  /** The client's Ideal-Node header named a different node of the region. */
  NotIdeal: 1 << 3,
} as const;

/** Length of a PeerPresent payload as Go's server writes it. */
export const PeerPresentLen = KeyLen + 16 + 2 + 1;

/** The client's address as the server saw it. */
export interface PeerAddress {
  /** IP address text. IPv4-mapped IPv6 addresses read as plain IPv4. */
  ip: string;
  port: number;
}

/** A decoded PeerPresent. */
export interface PeerPresent {
  /** View into the payload. */
  peer: Uint8Array;
  /** Undefined when the server sent only the key. */
  address: PeerAddress | undefined;
  /** Undefined when the server sent no flags byte. */
  flags: number | undefined;
}

/** Encodes a PeerPresent frame in the 51-byte layout of Go's server. */
export function encodePeerPresent(peer: Uint8Array, address: PeerAddress, flags: number): Buffer {
  checkKeyArgument(FrameType.PeerPresent, 'peer key', peer);
  if (!Number.isInteger(address.port) || address.port < 0 || address.port > 0xffff) {
    throw new RangeError(`PeerPresent frame: port ${address.port} is outside 0..65535`);
  }
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xff) {
    throw new RangeError(`PeerPresent frame: flags ${flags} is not a byte`);
  }

  const tail = new Uint8Array(16 + 2 + 1);
  tail.set(toIPv6Bytes(parseIPAddress(address.ip)), 0);
  tail[16] = address.port >> 8;
  tail[17] = address.port & 0xff;
  tail[18] = flags;
  return encodeFrame(FrameType.PeerPresent, peer, tail);
}

/** Decodes a PeerPresent payload, tolerating the shorter layouts of older servers. */
export function decodePeerPresent(payload: Uint8Array): PeerPresent {
  expectMinPayloadLength(FrameType.PeerPresent, payload, KeyLen);
  const peer = payload.subarray(0, KeyLen);
  if (payload.length < KeyLen + 18) {
    return { peer, address: undefined, flags: undefined };
  }

  const ip = formatIPAddress(unmapIPAddress(payload.subarray(KeyLen, KeyLen + 16)));
  const port = ((payload[KeyLen + 16] ?? 0) << 8) | (payload[KeyLen + 17] ?? 0);
  return { peer, address: { ip, port }, flags: payload[KeyLen + 18] };
}
