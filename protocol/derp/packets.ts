/**
 * Frames that carry packets between clients:
 *
 *   SendPacket    (client to server)       destination key (32) | packet
 *   RecvPacket    (server to client, v2)   source key (32)      | packet
 *   ForwardPacket (mesh peer to server)    source key (32) | destination key (32) | packet
 *
 * Packet data is at most MaxPacketSize (64 KiB) bytes. Go's server closes the
 * connection when a SendPacket or ForwardPacket carries more.
 */
import {
  DerpFrameError,
  FrameHeaderLen,
  FrameType,
  KeyLen,
  MaxPacketSize,
  checkKeyArgument,
  checkPacketArgument,
  encodeFrame,
  expectMinPayloadLength,
} from './frame.js';

/** A decoded SendPacket. Both fields are views into the payload. */
export interface SendPacket {
  destination: Uint8Array;
  packet: Uint8Array;
}

/** A decoded RecvPacket. Both fields are views into the payload. */
export interface RecvPacket {
  source: Uint8Array;
  packet: Uint8Array;
}

/** A decoded ForwardPacket. All fields are views into the payload. */
export interface ForwardPacket {
  source: Uint8Array;
  destination: Uint8Array;
  packet: Uint8Array;
}

/** Encodes a SendPacket frame asking the server to deliver packet to destination. */
export function encodeSendPacket(destination: Uint8Array, packet: Uint8Array): Buffer {
  checkKeyArgument(FrameType.SendPacket, 'destination key', destination);
  checkPacketArgument(FrameType.SendPacket, packet);
  return encodeFrame(FrameType.SendPacket, destination, packet);
}

/** Decodes a SendPacket payload. */
export function decodeSendPacket(payload: Uint8Array): SendPacket {
  expectMinPayloadLength(FrameType.SendPacket, payload, KeyLen);
  checkPacketLength(FrameType.SendPacket, payload.length - KeyLen);
  return { destination: payload.subarray(0, KeyLen), packet: payload.subarray(KeyLen) };
}

/** Encodes a RecvPacket frame delivering packet from source, in protocol version 2 layout. */
export function encodeRecvPacket(source: Uint8Array, packet: Uint8Array): Buffer {
  checkKeyArgument(FrameType.RecvPacket, 'source key', source);
  checkPacketArgument(FrameType.RecvPacket, packet);
  return encodeFrame(FrameType.RecvPacket, source, packet);
}

/**
 * Encodes only the header and source key of a RecvPacket frame (37 bytes), so a
 * server can write the packet bytes after it without copying them.
 */
export function encodeRecvPacketPrefix(source: Uint8Array, packetLength: number): Buffer {
  checkKeyArgument(FrameType.RecvPacket, 'source key', source);
  if (!Number.isInteger(packetLength) || packetLength < 0 || packetLength > MaxPacketSize) {
    throw new RangeError(`RecvPacket frame: packet length ${packetLength} is outside 0..${MaxPacketSize}`);
  }
  const prefix = Buffer.allocUnsafe(FrameHeaderLen + KeyLen);
  prefix[0] = FrameType.RecvPacket;
  prefix.writeUInt32BE(KeyLen + packetLength, 1);
  prefix.set(source, FrameHeaderLen);
  return prefix;
}

/** Decodes a RecvPacket payload in protocol version 2 layout. */
export function decodeRecvPacket(payload: Uint8Array): RecvPacket {
  expectMinPayloadLength(FrameType.RecvPacket, payload, KeyLen);
  checkPacketLength(FrameType.RecvPacket, payload.length - KeyLen);
  return { source: payload.subarray(0, KeyLen), packet: payload.subarray(KeyLen) };
}

/** Encodes a ForwardPacket frame, which a mesh peer uses to relay packet from source to destination. */
export function encodeForwardPacket(source: Uint8Array, destination: Uint8Array, packet: Uint8Array): Buffer {
  checkKeyArgument(FrameType.ForwardPacket, 'source key', source);
  checkKeyArgument(FrameType.ForwardPacket, 'destination key', destination);
  checkPacketArgument(FrameType.ForwardPacket, packet);
  return encodeFrame(FrameType.ForwardPacket, source, destination, packet);
}

/** Decodes a ForwardPacket payload. */
export function decodeForwardPacket(payload: Uint8Array): ForwardPacket {
  expectMinPayloadLength(FrameType.ForwardPacket, payload, 2 * KeyLen);
  checkPacketLength(FrameType.ForwardPacket, payload.length - 2 * KeyLen);
  return {
    source: payload.subarray(0, KeyLen),
    destination: payload.subarray(KeyLen, 2 * KeyLen),
    packet: payload.subarray(2 * KeyLen),
  };
}

function checkPacketLength(type: FrameType, packetLength: number): void {
  if (packetLength > MaxPacketSize) {
    throw new DerpFrameError(type, `packet length ${packetLength} exceeds MaxPacketSize ${MaxPacketSize}`);
  }
}
