/**
 * HTTP/2 frames (RFC 9113 section 4 and 6): the subset a server inside the Noise channel needs.
 *
 * Every frame starts with a 9-byte header:
 *
 *   length u24 | type u8 | flags u8 | reserved bit + stream id u31 | payload (length bytes)
 *
 * The payload layouts are described where the connection parses them.
 */

/** The bytes a client sends before its first frame (RFC 9113 section 3.4). */
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FRAME_HEADER_LENGTH = 9;

export const FrameType = {
  data: 0x0,
  headers: 0x1,
  priority: 0x2,
  rstStream: 0x3,
  settings: 0x4,
  pushPromise: 0x5,
  ping: 0x6,
  goaway: 0x7,
  windowUpdate: 0x8,
  continuation: 0x9,
} as const;

export const Flag = {
  /** DATA, HEADERS: the sender's last frame on this stream. */
  endStream: 0x1,
  /** SETTINGS, PING: this frame acknowledges the peer's. */
  ack: 0x1,
  /** HEADERS, CONTINUATION: the header block is complete. */
  endHeaders: 0x4,
  /** DATA, HEADERS: a pad length byte leads the payload and padding ends it. */
  padded: 0x8,
  /** HEADERS: 5 bytes of stream dependency and weight follow the pad length. */
  priority: 0x20,
} as const;

/** Error codes of RST_STREAM and GOAWAY (RFC 9113 section 7). */
export const ErrorCode = {
  noError: 0x0,
  protocolError: 0x1,
  internalError: 0x2,
  flowControlError: 0x3,
  settingsTimeout: 0x4,
  streamClosed: 0x5,
  frameSizeError: 0x6,
  refusedStream: 0x7,
  cancel: 0x8,
  compressionError: 0x9,
  connectError: 0xa,
  enhanceYourCalm: 0xb,
  inadequateSecurity: 0xc,
  http11Required: 0xd,
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

const ERROR_CODE_NAMES = new Map<number, string>(
  Object.entries(ErrorCode).map(([name, code]) => [code, name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()]),
);

/** Returns the RFC's name of an error code, such as `PROTOCOL_ERROR`, or its number for unknown ones. */
export function errorCodeName(code: number): string {
  return ERROR_CODE_NAMES.get(code) ?? `0x${code.toString(16)}`;
}

/** Parameters of a SETTINGS frame (RFC 9113 section 6.5.2). */
export const SettingId = {
  headerTableSize: 0x1,
  enablePush: 0x2,
  maxConcurrentStreams: 0x3,
  initialWindowSize: 0x4,
  maxFrameSize: 0x5,
  maxHeaderListSize: 0x6,
} as const;

/** Bytes per setting: a u16 identifier and a u32 value. */
export const SETTING_LENGTH = 6;

/** Window sizes and the SETTINGS_MAX_FRAME_SIZE every connection starts with. */
export const DEFAULT_WINDOW_SIZE = 65_535;
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
/** Largest SETTINGS_MAX_FRAME_SIZE allowed, 2^24 - 1. */
export const MAX_ALLOWED_FRAME_SIZE = 16_777_215;
/** Largest flow-control window, 2^31 - 1. */
export const MAX_WINDOW_SIZE = 2_147_483_647;

export const PING_PAYLOAD_LENGTH = 8;

/** A frame header as read off the wire. */
export interface FrameHeader {
  length: number;
  type: number;
  flags: number;
  streamId: number;
}

export function readFrameHeader(source: Uint8Array, offset: number): FrameHeader {
  return {
    length: (source[offset]! << 16) | (source[offset + 1]! << 8) | source[offset + 2]!,
    type: source[offset + 3]!,
    flags: source[offset + 4]!,
    // The reserved high bit is ignored on receipt.
    streamId: readUint31(source, offset + 5),
  };
}

export function writeFrameHeader(target: Buffer, offset: number, length: number, type: number, flags: number, streamId: number): void {
  target[offset] = length >>> 16;
  target[offset + 1] = (length >>> 8) & 0xff;
  target[offset + 2] = length & 0xff;
  target[offset + 3] = type;
  target[offset + 4] = flags;
  target.writeUInt32BE(streamId & 0x7fffffff, offset + 5);
}

/** Reads a 31-bit value whose high bit is reserved, as in stream ids and window increments. */
export function readUint31(source: Uint8Array, offset: number): number {
  return (((source[offset]! & 0x7f) << 24) | (source[offset + 1]! << 16) | (source[offset + 2]! << 8) | source[offset + 3]!) >>> 0;
}

/** Builds one frame with the given payload. */
export function encodeFrame(type: number, flags: number, streamId: number, payload: Uint8Array = EMPTY): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + payload.length);
  writeFrameHeader(frame, 0, payload.length, type, flags, streamId);
  frame.set(payload, FRAME_HEADER_LENGTH);
  return frame;
}

const EMPTY = new Uint8Array(0);

export function encodeSettings(settings: ReadonlyArray<readonly [id: number, value: number]>): Buffer {
  const payload = Buffer.allocUnsafe(settings.length * SETTING_LENGTH);
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * SETTING_LENGTH);
    payload.writeUInt32BE(value, i * SETTING_LENGTH + 2);
  });
  return encodeFrame(FrameType.settings, 0, 0, payload);
}

export const SETTINGS_ACK_FRAME = encodeFrame(FrameType.settings, Flag.ack, 0);

export function encodeWindowUpdate(streamId: number, increment: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(increment, 0);
  return encodeFrame(FrameType.windowUpdate, 0, streamId, payload);
}

export function encodeRstStream(streamId: number, code: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(code, 0);
  return encodeFrame(FrameType.rstStream, 0, streamId, payload);
}

/** GOAWAY: the last stream id the sender processed, an error code and optional debug text. */
export function encodeGoaway(lastStreamId: number, code: number, debug = ''): Buffer {
  const text = Buffer.from(debug, 'utf8');
  const payload = Buffer.allocUnsafe(8 + text.length);
  payload.writeUInt32BE(lastStreamId & 0x7fffffff, 0);
  payload.writeUInt32BE(code, 4);
  text.copy(payload, 8);
  return encodeFrame(FrameType.goaway, 0, 0, payload);
}
