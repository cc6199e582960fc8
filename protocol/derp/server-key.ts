/**
 * ServerKey frame (server to client, first frame of every connection):
 *
 *   Magic "DERP🔑" (8 bytes) | server public key (32 bytes) | bytes reserved for future use
 *
 * Go's client reads at most 1 KiB of it and ignores everything after the key.
 */
import {
  DerpFrameError,
  FrameType,
  KeyLen,
  Magic,
  checkKeyArgument,
  encodeFrame,
  expectMinPayloadLength,
} from './frame.js';

/** Encodes a ServerKey frame announcing the server's curve25519 DERP public key. */
export function encodeServerKey(serverPublic: Uint8Array): Buffer {
  checkKeyArgument(FrameType.ServerKey, 'server public key', serverPublic);
  return encodeFrame(FrameType.ServerKey, Magic, serverPublic);
}

/** Decodes a ServerKey payload and returns the server public key as a view into payload. */
export function decodeServerKey(payload: Uint8Array): Uint8Array {
  expectMinPayloadLength(FrameType.ServerKey, payload, Magic.length + KeyLen);
  for (let i = 0; i < Magic.length; i++) {
    if (payload[i] !== Magic[i]) {
      const got = Buffer.from(payload.subarray(0, Magic.length)).toString('hex');
      throw new DerpFrameError(FrameType.ServerKey, `magic ${got}, expected 44455250f09f9491 ("DERP🔑")`);
    }
  }
  return payload.subarray(Magic.length, Magic.length + KeyLen);
}
