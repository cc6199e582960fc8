/**
 * ServerInfo frame (server to client, after the server accepts the ClientInfo):
 *
 *   nonce (24 bytes) | box(JSON) (16-byte tag + ciphertext)
 *
 * The JSON is sealed with NaCl box from the server's private key to the client's
 * public key. Go's server (tailscale.com/derp v1.92.5) writes {"version":2}.
 * The token-bucket fields are omitted when 0. When both are set, Go's client
 * limits its own sends to that rate and silently drops the excess.
 */
import { BoxOpenError, BoxOverheadLength, type BoxPrivateKey, openFrom, sealTo } from '../box.js';
import {
  DerpFrameError,
  FrameType,
  MaxInfoLen,
  NonceLen,
  encodeFrame,
  expectMinPayloadLength,
} from './frame.js';
import { parseInfoObject, readIntField } from './info-json.js';

/** The JSON a server seals into its ServerInfo frame. */
export interface ServerInfo {
  /** DERP protocol version the server speaks, or 0 when the server left it out. */
  version: number;
  /** Bytes per second, framing included, that the server accepts from the client, or 0 if unspecified. */
  tokenBucketBytesPerSecond: number;
  /** Bytes the client may burst above tokenBucketBytesPerSecond, or 0 if unspecified. */
  tokenBucketBytesBurst: number;
}

const utf8 = new TextEncoder();

/** Serializes info exactly as Go's json.Marshal does for derp.ServerInfo. */
export function encodeServerInfoJson(info: ServerInfo): string {
  const members: string[] = [];
  const add = (name: string, value: number): void => {
    if (!Number.isSafeInteger(value)) {
      throw new RangeError(`ServerInfo: ${name} ${value} is not an integer`);
    }
    if (value !== 0) {
      members.push(`"${name}":${value}`);
    }
  };
  add('version', info.version);
  add('TokenBucketBytesPerSecond', info.tokenBucketBytesPerSecond);
  add('TokenBucketBytesBurst', info.tokenBucketBytesBurst);
  return `{${members.join(',')}}`;
}

/** Parses ServerInfo JSON with Go's rules (see info-json.ts). Throws DerpFrameError naming the bad field. */
export function parseServerInfoJson(json: Uint8Array | string): ServerInfo {
  const fields = parseInfoObject(FrameType.ServerInfo, json);
  return {
    version: readIntField(FrameType.ServerInfo, fields, 'version'),
    tokenBucketBytesPerSecond: readIntField(FrameType.ServerInfo, fields, 'TokenBucketBytesPerSecond'),
    tokenBucketBytesBurst: readIntField(FrameType.ServerInfo, fields, 'TokenBucketBytesBurst'),
  };
}

/**
 * Seals info from the server's private key to the client's public key.
 * Returns nonce || tag || ciphertext. Leave nonce out except in tests.
 */
export function sealServerInfo(
  info: ServerInfo,
  serverPrivate: BoxPrivateKey,
  clientPublic: Uint8Array,
  nonce?: Uint8Array,
): Uint8Array {
  return sealTo(utf8.encode(encodeServerInfoJson(info)), clientPublic, serverPrivate, nonce);
}

/**
 * Opens and parses a sealed ServerInfo. Throws DerpFrameError when the box does
 * not open with these keys or the JSON is invalid.
 */
export function openServerInfo(sealedInfo: Uint8Array, clientPrivate: BoxPrivateKey, serverPublic: Uint8Array): ServerInfo {
  let json: Uint8Array;
  try {
    json = openFrom(sealedInfo, serverPublic, clientPrivate);
  } catch (error) {
    if (error instanceof BoxOpenError) {
      const detail = `cannot open sealed info (${sealedInfo.length} bytes) with the server's key: ${error.message}`;
      throw new DerpFrameError(FrameType.ServerInfo, detail);
    }
    throw error;
  }
  return parseServerInfoJson(json);
}

/** Encodes a ServerInfo frame carrying the output of {@link sealServerInfo}. */
export function encodeServerInfo(sealedInfo: Uint8Array): Buffer {
  const minLength = NonceLen + BoxOverheadLength;
  const maxLength = NonceLen + MaxInfoLen;
  if (sealedInfo.length < minLength || sealedInfo.length > maxLength) {
    throw new RangeError(`ServerInfo frame: sealed info length ${sealedInfo.length} is outside ${minLength}..${maxLength}`);
  }
  return encodeFrame(FrameType.ServerInfo, sealedInfo);
}

/**
 * Checks a ServerInfo payload's length and returns it (nonce || tag || ciphertext)
 * for {@link openServerInfo}. Go's client accepts up to NonceLen + MaxInfoLen bytes.
 */
export function decodeServerInfo(payload: Uint8Array): Uint8Array {
  expectMinPayloadLength(FrameType.ServerInfo, payload, NonceLen + BoxOverheadLength);
  if (payload.length > NonceLen + MaxInfoLen) {
    throw new DerpFrameError(
      FrameType.ServerInfo,
      `payload length ${payload.length} exceeds nonce plus MaxInfoLen (${NonceLen + MaxInfoLen})`,
    );
  }
  return payload;
}
