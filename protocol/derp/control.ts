/**
 * Small frames that keep a connection healthy:
 *
 *   KeepAlive     (server to client)  empty
 *   NotePreferred (client to server)  1 byte: 0x01 when this server is the client's home DERP
 *   Ping          (either direction)  8 bytes that the receiver echoes in a Pong
 *   Pong          (either direction)  the 8 bytes of the Ping it replies to
 *   Health        (server to client)  UTF-8 text of a problem, or empty to clear it
 *   Restarting    (server to client)  reconnect-in (4) | try-for (4), big-endian milliseconds
 *
 * tailscaled 1.92's server sends neither Health nor Restarting, but its client handles both.
 */
import {
  DerpFrameError,
  FrameType,
  encodeFrame,
  expectMinPayloadLength,
  expectPayloadLength,
  frameTypeName,
} from './frame.js';

/** Length of the data a Ping carries and a Pong echoes. */
export const PingDataLen = 8;
/** Largest Ping payload Go's server accepts. It echoes only the first 8 bytes. */
export const MaxPingPayloadLen = 1000;

/** A decoded Restarting frame, durations in milliseconds. */
export interface Restarting {
  /** How long the client should wait before reconnecting. */
  reconnectInMs: number;
  /** How long the client should keep trying to reconnect. */
  tryForMs: number;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8');

/** Encodes a KeepAlive frame. */
export function encodeKeepAlive(): Buffer {
  return encodeFrame(FrameType.KeepAlive);
}

/**
 * Checks a KeepAlive payload. Like Go's client, it accepts and ignores any
 * payload bytes, which are reserved for future use.
 */
export function decodeKeepAlive(_payload: Uint8Array): void {}

/** Encodes a NotePreferred frame. */
export function encodeNotePreferred(preferred: boolean): Buffer {
  return encodeFrame(FrameType.NotePreferred, Uint8Array.of(preferred ? 0x01 : 0x00));
}

/** Decodes a NotePreferred payload. Any non-zero byte means preferred, as in Go's server. */
export function decodeNotePreferred(payload: Uint8Array): boolean {
  expectPayloadLength(FrameType.NotePreferred, payload, 1);
  return payload[0] !== 0;
}

/** Encodes a Ping frame carrying 8 bytes of data. */
export function encodePing(data: Uint8Array): Buffer {
  checkPingData(FrameType.Ping, data);
  return encodeFrame(FrameType.Ping, data);
}

/**
 * Decodes a Ping payload and returns the 8 bytes to echo, as a view into payload.
 * Accepts 8 to 1000 bytes, as Go's server does, for future extensions.
 */
export function decodePing(payload: Uint8Array): Uint8Array {
  expectMinPayloadLength(FrameType.Ping, payload, PingDataLen);
  if (payload.length > MaxPingPayloadLen) {
    throw new DerpFrameError(FrameType.Ping, `payload length ${payload.length} exceeds ${MaxPingPayloadLen}`);
  }
  return payload.subarray(0, PingDataLen);
}

/** Encodes a Pong frame echoing the data of a Ping. */
export function encodePong(data: Uint8Array): Buffer {
  checkPingData(FrameType.Pong, data);
  return encodeFrame(FrameType.Pong, data);
}

/** Decodes a Pong payload and returns its first 8 bytes as a view. Go's client ignores the rest. */
export function decodePong(payload: Uint8Array): Uint8Array {
  expectMinPayloadLength(FrameType.Pong, payload, PingDataLen);
  return payload.subarray(0, PingDataLen);
}

/** Encodes a Health frame. An empty problem marks the connection as healthy again. */
export function encodeHealth(problem: string): Buffer {
  return encodeFrame(FrameType.Health, utf8Encoder.encode(problem));
}

/** Decodes a Health payload. Invalid UTF-8 becomes U+FFFD instead of failing. */
export function decodeHealth(payload: Uint8Array): string {
  return utf8Decoder.decode(payload);
}

/** Encodes a Restarting frame. */
export function encodeRestarting(restarting: Restarting): Buffer {
  const payload = Buffer.allocUnsafe(8);
  for (const [offset, name] of [
    [0, 'reconnectInMs'],
    [4, 'tryForMs'],
  ] as const) {
    const value = restarting[name];
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new RangeError(`Restarting frame: ${name} ${value} is not a uint32`);
    }
    payload.writeUInt32BE(value, offset);
  }
  return encodeFrame(FrameType.Restarting, payload);
}

/** Decodes a Restarting payload. Go's client ignores bytes after the first 8. */
export function decodeRestarting(payload: Uint8Array): Restarting {
  expectMinPayloadLength(FrameType.Restarting, payload, 8);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
  return { reconnectInMs: view.getUint32(0), tryForMs: view.getUint32(4) };
}

function checkPingData(type: FrameType, data: Uint8Array): void {
  if (data.length !== PingDataLen) {
    throw new RangeError(`${frameTypeName(type)} frame: data length ${data.length}, expected ${PingDataLen}`);
  }
}
