/**
 * PeerGone frame (server to client):
 *
 *   peer key (32) | reason (1 byte)
 *
 * The server sends it when a peer that sent packets to this client disconnects
 * (reason Disconnected), or in reply to a disco packet addressed to a key that is
 * not connected (reason NotHere). Old servers omit the reason byte, and Go's
 * client reads a missing byte as Disconnected and ignores bytes after it.
 */
import { FrameType, KeyLen, checkKeyArgument, encodeFrame, expectMinPayloadLength } from './frame.js';

/** Reason byte of a PeerGone frame. */
export const PeerGoneReason = {
  /** The peer was connected to this server and disconnected. */
  Disconnected: 0x00,
  /** The server has no connection for the destination key. */
  NotHere: 0x01,
} as const;

export type PeerGoneReason = (typeof PeerGoneReason)[keyof typeof PeerGoneReason];

/** A decoded PeerGone. Go's client also invents reason 0xf0 (mesh connection broke), which never travels on the wire. */
export interface PeerGone {
  /** View into the payload. */
  peer: Uint8Array;
  reason: number;
}

/** Encodes a PeerGone frame. */
export function encodePeerGone(peer: Uint8Array, reason: PeerGoneReason): Buffer {
  checkKeyArgument(FrameType.PeerGone, 'peer key', peer);
  return encodeFrame(FrameType.PeerGone, peer, Uint8Array.of(reason));
}

/** Decodes a PeerGone payload. The reason byte is optional, as in Go's client. */
export function decodePeerGone(payload: Uint8Array): PeerGone {
  expectMinPayloadLength(FrameType.PeerGone, payload, KeyLen);
  return { peer: payload.subarray(0, KeyLen), reason: payload[KeyLen] ?? PeerGoneReason.Disconnected };
}
