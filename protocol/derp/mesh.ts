/**
 * Frames reserved for mesh peers, the clients that presented the server's mesh key:
 *
 *   WatchConns (mesh peer to server)  empty, subscribes to PeerPresent and PeerGone
 *   ClosePeer  (mesh peer to server)  key (32) of the peer whose connections to close
 *
 * Go's server closes the connection when either frame has the wrong length or
 * comes from a client without the mesh key. ForwardPacket lives in packets.ts.
 */
import { FrameType, KeyLen, checkKeyArgument, encodeFrame, expectPayloadLength } from './frame.js';

/** Length of a DERP mesh key in bytes. Its text and JSON form is 64 hex digits. */
export const MeshKeyLen = 32;

/** The text form of a mesh key: 64 hex digits of either case. */
export const MeshKeyHex = /^[0-9a-fA-F]{64}$/;

/**
 * Parses a mesh key from text such as the contents of a key file, trimming
 * surrounding whitespace first as Go's key.ParseDERPMesh does.
 * Throws RangeError unless the rest is 64 hex digits.
 */
export function parseMeshKey(text: string): Uint8Array {
  const trimmed = text.trim();
  if (!MeshKeyHex.test(trimmed)) {
    throw new RangeError(`invalid DERP mesh key: expected 64 hexadecimal digits, got ${trimmed.length} characters`);
  }
  return new Uint8Array(Buffer.from(trimmed, 'hex'));
}

/** Encodes a WatchConns frame. */
export function encodeWatchConns(): Buffer {
  return encodeFrame(FrameType.WatchConns);
}

/** Checks that a WatchConns payload is empty. */
export function decodeWatchConns(payload: Uint8Array): void {
  expectPayloadLength(FrameType.WatchConns, payload, 0);
}

/** Encodes a ClosePeer frame asking the server to close every connection of peer. */
export function encodeClosePeer(peer: Uint8Array): Buffer {
  checkKeyArgument(FrameType.ClosePeer, 'peer key', peer);
  return encodeFrame(FrameType.ClosePeer, peer);
}

/** Decodes a ClosePeer payload and returns the peer key as a view into payload. */
export function decodeClosePeer(payload: Uint8Array): Uint8Array {
  expectPayloadLength(FrameType.ClosePeer, payload, KeyLen);
  return payload.subarray(0, KeyLen);
}
