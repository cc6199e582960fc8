/**
 * DERP frame layout and protocol constants, as defined by tailscale.com/derp v1.92.5.
 *
 * Every frame is a 5-byte header followed by its payload:
 *
 *   type (1 byte) | payload length (4 bytes, big-endian, header excluded) | payload
 */
/** The magic at the start of a ServerKey payload: "DERP🔑" as UTF-8. */
export const Magic: Uint8Array = new Uint8Array([0x44, 0x45, 0x52, 0x50, 0xf0, 0x9f, 0x94, 0x91]);

/**
 * Protocol version this library speaks. Version 2 added the 32-byte source key
 * at the start of each RecvPacket payload.
 */
export const ProtocolVersion = 2;

/** Length of a curve25519 public key: node keys and the server's DERP key. */
export const KeyLen = 32;
/** Length of a NaCl box nonce. */
export const NonceLen = 24;
/** Length of a frame header: the type byte and the 4-byte payload length. */
export const FrameHeaderLen = 5;
/** Maximum packet data in a SendPacket, RecvPacket or ForwardPacket, keys excluded. */
export const MaxPacketSize = 64 << 10;
/** Maximum length of the sealed JSON in a ServerInfo frame. */
export const MaxInfoLen = 1 << 20;
/** Maximum ClientInfo payload a server accepts. Go's server applies it because the JSON is untrusted. */
export const MaxClientInfoLen = 256 << 10;
/** Largest payload Go's WriteFrame agrees to write ("unreasonably large frame write"). */
export const MaxFrameWriteLen = 10 << 20;

/** Frame type byte, named as in Go's derp package without the "Frame" prefix. */
export const FrameType = {
  /** S→C: Magic + 32-byte server public key (+ bytes reserved for future use). */
  ServerKey: 0x01,
  /** C→S: 32-byte client public key + nonce + box(ClientInfo JSON). */
  ClientInfo: 0x02,
  /** S→C: nonce + box(ServerInfo JSON). */
  ServerInfo: 0x03,
  /** C→S: 32-byte destination key + packet. */
  SendPacket: 0x04,
  /** S→C: 32-byte source key + packet (protocol version 2). */
  RecvPacket: 0x05,
  /** S→C: empty. Keeps an idle connection alive. */
  KeepAlive: 0x06,
  /** C→S: one byte, 0x01 when this server is the client's home DERP. */
  NotePreferred: 0x07,
  /** S→C: 32-byte key of a peer that is gone + 1 reason byte. */
  PeerGone: 0x08,
  /** S→C (mesh watchers): 32-byte key + 16-byte IP + 2-byte port + 1 flags byte. */
  PeerPresent: 0x09,
  /** Mesh C→S: 32-byte source key + 32-byte destination key + packet. */
  ForwardPacket: 0x0a,
  /** Mesh C→S: empty. Subscribes to PeerPresent and PeerGone for every client. */
  WatchConns: 0x10,
  /** Mesh C→S: 32-byte key of the peer whose connections the server closes. */
  ClosePeer: 0x11,
  /** Both directions: 8 bytes that the receiver echoes in a Pong. */
  Ping: 0x12,
  /** Both directions: the 8 bytes of the Ping it replies to. */
  Pong: 0x13,
  /** S→C: UTF-8 text of a connection problem, or empty to clear it. */
  Health: 0x14,
  /** S→C: two big-endian uint32 millisecond durations, reconnect-in and try-for. */
  Restarting: 0x15,
} as const;

export type FrameType = (typeof FrameType)[keyof typeof FrameType];

const frameTypeNames = new Map<number, string>(Object.entries(FrameType).map(([name, type]) => [type, name]));

/** Returns the name of a frame type, or "0xNN" for a type this library does not know. */
export function frameTypeName(type: number): string {
  return frameTypeNames.get(type) ?? `0x${type.toString(16).padStart(2, '0')}`;
}

/** Reports whether type is one of the frame types in {@link FrameType}. */
export function isKnownFrameType(type: number): type is FrameType {
  return frameTypeNames.has(type);
}

/** A frame as read off the wire. Unknown types keep their raw number. */
export interface Frame {
  readonly type: number;
  readonly payload: Uint8Array;
}

/**
 * A DERP frame from the peer that breaks the protocol. The message starts with
 * the frame name, for example "NotePreferred frame: payload length 2, expected 1".
 * Servers close the connection on this error, as Go's derpserver does.
 */
export class DerpFrameError extends Error {
  readonly frameType: number;

  constructor(frameType: number, detail: string) {
    super(`${frameTypeName(frameType)} frame: ${detail}`);
    this.name = 'DerpFrameError';
    this.frameType = frameType;
  }
}

/** Encodes the 5-byte header of a frame whose payload is payloadLength bytes. */
export function encodeFrameHeader(type: number, payloadLength: number): Buffer {
  if (!Number.isInteger(type) || type < 0 || type > 0xff) {
    throw new RangeError(`DERP frame: type ${type} is not a byte`);
  }
  if (!Number.isInteger(payloadLength) || payloadLength < 0 || payloadLength > MaxFrameWriteLen) {
    throw new RangeError(`${frameTypeName(type)} frame: payload length ${payloadLength} is outside 0..${MaxFrameWriteLen}`);
  }
  const header = Buffer.allocUnsafe(FrameHeaderLen);
  header[0] = type;
  header.writeUInt32BE(payloadLength, 1);
  return header;
}

/** Encodes a whole frame, header and payload, ready to write to the connection. */
export function encodeFrame(type: number, ...payloadParts: Uint8Array[]): Buffer {
  let payloadLength = 0;
  for (const part of payloadParts) {
    payloadLength += part.length;
  }

  const frame = Buffer.allocUnsafe(FrameHeaderLen + payloadLength);
  encodeFrameHeader(type, payloadLength).copy(frame, 0);
  let offset = FrameHeaderLen;
  for (const part of payloadParts) {
    frame.set(part, offset);
    offset += part.length;
  }
  return frame;
}

/** Throws DerpFrameError unless payload is exactly expected bytes long. */
export function expectPayloadLength(type: FrameType, payload: Uint8Array, expected: number): void {
  if (payload.length !== expected) {
    throw new DerpFrameError(type, `payload length ${payload.length}, expected ${expected}`);
  }
}

/** Throws DerpFrameError unless payload is at least minimum bytes long. */
export function expectMinPayloadLength(type: FrameType, payload: Uint8Array, minimum: number): void {
  if (payload.length < minimum) {
    throw new DerpFrameError(type, `payload length ${payload.length}, expected at least ${minimum}`);
  }
}

/** Throws RangeError unless a key given to an encoder is exactly KeyLen bytes. */
export function checkKeyArgument(type: FrameType, field: string, key: Uint8Array): void {
  if (key.length !== KeyLen) {
    throw new RangeError(`${frameTypeName(type)} frame: ${field} length ${key.length}, expected ${KeyLen}`);
  }
}

/** Throws RangeError unless packet data given to an encoder fits in MaxPacketSize. */
export function checkPacketArgument(type: FrameType, packet: Uint8Array): void {
  if (packet.length > MaxPacketSize) {
    throw new RangeError(`${frameTypeName(type)} frame: packet length ${packet.length} exceeds MaxPacketSize ${MaxPacketSize}`);
  }
}
