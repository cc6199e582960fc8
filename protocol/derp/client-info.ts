/**
 * ClientInfo frame (client to server, second frame of every connection):
 *
 *   client public key (32 bytes) | nonce (24 bytes) | box(JSON) (16-byte tag + ciphertext)
 *
 * The JSON is sealed with NaCl box from the client's node private key to the
 * server's public key. Go's client (tailscale.com/derp v1.92.5) writes, in order:
 *
 *   "meshKey"      64 hex digits, omitted when unset
 *   "version"      protocol version, omitted when 0
 *   "CanAckPings"  always present
 *   "IsProber"     omitted when false
 */
import { BoxOpenError, BoxOverheadLength, type BoxPrivateKey, openFrom, sealTo } from '../box.js';
import {
  DerpFrameError,
  FrameType,
  KeyLen,
  MaxClientInfoLen,
  NonceLen,
  checkKeyArgument,
  encodeFrame,
  expectMinPayloadLength,
} from './frame.js';
import { MeshKeyHex, MeshKeyLen } from './mesh.js';
import { parseInfoObject, readBoolField, readIntField, readStringField } from './info-json.js';

/** The JSON a client seals into its ClientInfo frame. */
export interface ClientInfo {
  /** Mesh key proving the client is a trusted mesh peer, or undefined for ordinary clients. */
  meshKey: Uint8Array | undefined;
  /** DERP protocol version the client speaks, or 0 when the client left it out. */
  version: number;
  /** Whether the client replies to a server Ping with a Pong (tailscaled sets true). */
  canAckPings: boolean;
  /** Whether the client is a monitoring prober rather than a node. */
  isProber: boolean;
}

/** The parts of a ClientInfo payload. Both fields are views into the payload. */
export interface ClientInfoFrame {
  clientPublic: Uint8Array;
  /** nonce || tag || ciphertext, the input of {@link openClientInfo}. */
  sealedInfo: Uint8Array;
}

const utf8 = new TextEncoder();

/** Serializes info exactly as Go's json.Marshal does for derp.ClientInfo. */
export function encodeClientInfoJson(info: ClientInfo): string {
  const members: string[] = [];
  if (info.meshKey !== undefined && !isAllZero(info.meshKey)) {
    if (info.meshKey.length !== MeshKeyLen) {
      throw new RangeError(`ClientInfo: meshKey length ${info.meshKey.length}, expected ${MeshKeyLen}`);
    }
    members.push(`"meshKey":"${Buffer.from(info.meshKey).toString('hex')}"`);
  }
  if (info.version !== 0) {
    checkInteger('version', info.version);
    members.push(`"version":${info.version}`);
  }
  members.push(`"CanAckPings":${info.canAckPings}`);
  if (info.isProber) {
    members.push('"IsProber":true');
  }
  return `{${members.join(',')}}`;
}

/**
 * Parses ClientInfo JSON with Go's rules (see info-json.ts). An all-zero meshKey
 * reads as undefined because Go treats the zero key as unset.
 * Throws DerpFrameError naming the bad field.
 */
export function parseClientInfoJson(json: Uint8Array | string): ClientInfo {
  const fields = parseInfoObject(FrameType.ClientInfo, json);

  let meshKey: Uint8Array | undefined;
  const meshKeyText = readStringField(FrameType.ClientInfo, fields, 'meshKey');
  if (meshKeyText !== undefined) {
    if (!MeshKeyHex.test(meshKeyText)) {
      const quotedText = JSON.stringify(meshKeyText.length > 80 ? `${meshKeyText.slice(0, 80)}…` : meshKeyText);
      throw new DerpFrameError(FrameType.ClientInfo, `JSON field "meshKey" is ${quotedText}, expected 64 hexadecimal digits`);
    }
    const bytes = new Uint8Array(Buffer.from(meshKeyText, 'hex'));
    meshKey = isAllZero(bytes) ? undefined : bytes;
  }

  return {
    meshKey,
    version: readIntField(FrameType.ClientInfo, fields, 'version'),
    canAckPings: readBoolField(FrameType.ClientInfo, fields, 'CanAckPings'),
    isProber: readBoolField(FrameType.ClientInfo, fields, 'IsProber'),
  };
}

/**
 * Seals info from the client's private key to the server's public key.
 * Returns nonce || tag || ciphertext. Leave nonce out except in tests.
 */
export function sealClientInfo(
  info: ClientInfo,
  clientPrivate: BoxPrivateKey,
  serverPublic: Uint8Array,
  nonce?: Uint8Array,
): Uint8Array {
  return sealTo(utf8.encode(encodeClientInfoJson(info)), serverPublic, clientPrivate, nonce);
}

/**
 * Opens and parses the sealed ClientInfo of a client. Throws DerpFrameError when
 * the box does not open with these keys or the JSON is invalid.
 */
export function openClientInfo(sealedInfo: Uint8Array, serverPrivate: BoxPrivateKey, clientPublic: Uint8Array): ClientInfo {
  let json: Uint8Array;
  try {
    json = openFrom(sealedInfo, clientPublic, serverPrivate);
  } catch (error) {
    if (error instanceof BoxOpenError) {
      const detail = `cannot open sealed info (${sealedInfo.length} bytes) with the client's key: ${error.message}`;
      throw new DerpFrameError(FrameType.ClientInfo, detail);
    }
    throw error;
  }
  return parseClientInfoJson(json);
}

/** Encodes a ClientInfo frame from the client's public key and the output of {@link sealClientInfo}. */
export function encodeClientInfo(clientPublic: Uint8Array, sealedInfo: Uint8Array): Buffer {
  checkKeyArgument(FrameType.ClientInfo, 'client public key', clientPublic);
  const payloadLength = KeyLen + sealedInfo.length;
  const minLength = NonceLen + BoxOverheadLength;
  const maxLength = MaxClientInfoLen - KeyLen;
  if (sealedInfo.length < minLength || sealedInfo.length > maxLength) {
    throw new RangeError(`ClientInfo frame: sealed info length ${sealedInfo.length} is outside ${minLength}..${maxLength}`);
  }
  return encodeFrame(FrameType.ClientInfo, clientPublic, sealedInfo);
}

/**
 * Splits a ClientInfo payload. Like Go's server, rejects payloads shorter than
 * key plus nonce or longer than MaxClientInfoLen.
 */
export function decodeClientInfo(payload: Uint8Array): ClientInfoFrame {
  expectMinPayloadLength(FrameType.ClientInfo, payload, KeyLen + NonceLen);
  if (payload.length > MaxClientInfoLen) {
    const detail = `payload length ${payload.length} exceeds MaxClientInfoLen ${MaxClientInfoLen}`;
    throw new DerpFrameError(FrameType.ClientInfo, detail);
  }
  return { clientPublic: payload.subarray(0, KeyLen), sealedInfo: payload.subarray(KeyLen) };
}

function checkInteger(field: string, value: number): void {
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(`ClientInfo: ${field} ${value} is not an integer`);
  }
}

function isAllZero(bytes: Uint8Array): boolean {
  return bytes.every((byte) => byte === 0);
}
