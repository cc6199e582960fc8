import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';

import { X25519PrivateKey } from '../x25519.js';
import {
  type ClientInfo,
  decodeClientInfo,
  encodeClientInfo,
  encodeClientInfoJson,
  openClientInfo,
  parseClientInfoJson,
  sealClientInfo,
} from './client-info.js';
import { DerpFrameError, FrameType, MaxClientInfoLen, MaxInfoLen, ProtocolVersion } from './frame.js';
import { FrameReader } from './frame-reader.js';
import { decodeServerKey, encodeServerKey } from './server-key.js';
import {
  type ServerInfo,
  decodeServerInfo,
  encodeServerInfo,
  encodeServerInfoJson,
  openServerInfo,
  parseServerInfoJson,
  sealServerInfo,
} from './server-info.js';

const hex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

function readOneFrame(bytes: Uint8Array): { type: number; payload: Uint8Array } {
  const reader = new FrameReader();
  reader.push(bytes);
  const frame = reader.read();
  if (frame === undefined) {
    throw new Error('no complete frame in the encoded bytes');
  }
  expect(reader.buffered).toBe(0);
  return frame;
}

const server = X25519PrivateKey.generate();
const client = X25519PrivateKey.generate();
const meshKeyHex = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';

describe('ServerKey frame', () => {
  it('round-trips the server key', () => {
    const frame = encodeServerKey(server.publicKey);
    expect(toHex(frame.subarray(0, 13))).toBe('010000002844455250f09f9491');
    const { type, payload } = readOneFrame(frame);
    expect(type).toBe(FrameType.ServerKey);
    expect(toHex(decodeServerKey(payload))).toBe(toHex(server.publicKey));
  });

  it('ignores bytes after the key', () => {
    const payload = Buffer.concat([encodeServerKey(server.publicKey).subarray(5), Buffer.from('future')]);
    expect(toHex(decodeServerKey(payload))).toBe(toHex(server.publicKey));
  });

  it('rejects a short payload', () => {
    expect(() => decodeServerKey(new Uint8Array(39))).toThrow('ServerKey frame: payload length 39, expected at least 40');
  });

  it('rejects wrong magic', () => {
    const payload = encodeServerKey(server.publicKey).subarray(5);
    payload[7] = 0x90;
    expect(() => decodeServerKey(payload)).toThrow(
      new DerpFrameError(FrameType.ServerKey, 'magic 44455250f09f9490, expected 44455250f09f9491 ("DERP🔑")'),
    );
  });

  it('rejects a wrong key length when encoding', () => {
    expect(() => encodeServerKey(new Uint8Array(31))).toThrow('ServerKey frame: server public key length 31, expected 32');
  });
});

describe('ClientInfo JSON', () => {
  it('matches Go json.Marshal output', () => {
    // Output of json.Marshal(derp.ClientInfo{...}) from tailscale.com v1.92.5.
    expect(encodeClientInfoJson({ meshKey: undefined, version: 2, canAckPings: true, isProber: false })).toBe(
      '{"version":2,"CanAckPings":true}',
    );
    expect(encodeClientInfoJson({ meshKey: hex(meshKeyHex), version: 2, canAckPings: false, isProber: true })).toBe(
      `{"meshKey":"${meshKeyHex}","version":2,"CanAckPings":false,"IsProber":true}`,
    );
    expect(encodeClientInfoJson({ meshKey: undefined, version: 0, canAckPings: false, isProber: false })).toBe(
      '{"CanAckPings":false}',
    );
  });

  it('omits an all-zero mesh key as Go does', () => {
    expect(encodeClientInfoJson({ meshKey: new Uint8Array(32), version: 2, canAckPings: true, isProber: false })).toBe(
      '{"version":2,"CanAckPings":true}',
    );
  });

  it('parses what tailscaled sends', () => {
    expect(parseClientInfoJson('{"version":2,"CanAckPings":true}')).toEqual({
      meshKey: undefined,
      version: 2,
      canAckPings: true,
      isProber: false,
    });
  });

  it('matches keys case-insensitively like Go', () => {
    // Go's json.Unmarshal of this input gives MeshKey 0011…eeff, Version 3, CanAckPings true.
    const info = parseClientInfoJson(
      '{"MESHKEY":"00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff","Version":3,"canackpings":true,"extra":1}',
    );
    expect(toHex(info.meshKey ?? new Uint8Array())).toBe(meshKeyHex);
    expect(info.version).toBe(3);
    expect(info.canAckPings).toBe(true);
    expect(info.isProber).toBe(false);
  });

  it('lets the last duplicate key win', () => {
    expect(parseClientInfoJson('{"version":1,"Version":2}').version).toBe(2);
  });

  it('reads null fields as unset', () => {
    expect(parseClientInfoJson('{"meshKey":null,"version":null,"CanAckPings":null}')).toEqual({
      meshKey: undefined,
      version: 0,
      canAckPings: false,
      isProber: false,
    });
  });

  it('reads an all-zero mesh key as unset', () => {
    expect(parseClientInfoJson(`{"meshKey":"${'0'.repeat(64)}"}`).meshKey).toBeUndefined();
  });

  it('round-trips every field', () => {
    const info: ClientInfo = { meshKey: hex(meshKeyHex), version: 2, canAckPings: true, isProber: true };
    expect(parseClientInfoJson(encodeClientInfoJson(info))).toEqual(info);
  });

  it.each([
    ['not JSON', '{"version":', /^ClientInfo frame: invalid JSON: /],
    ['an array', '[1]', 'ClientInfo frame: JSON is an array, expected an object'],
    ['null', 'null', 'ClientInfo frame: JSON is null, expected an object'],
    ['a string', '"x"', 'ClientInfo frame: JSON is string, expected an object'],
    ['a fractional version', '{"version":2.5}', 'ClientInfo frame: JSON field "version" is 2.5, expected an integer'],
    ['a string version', '{"version":"2"}', 'ClientInfo frame: JSON field "version" is "2", expected an integer'],
    ['a string CanAckPings', '{"CanAckPings":"true"}', 'ClientInfo frame: JSON field "CanAckPings" is "true", expected true or false'],
    ['a numeric IsProber', '{"IsProber":1}', 'ClientInfo frame: JSON field "IsProber" is 1, expected true or false'],
    ['an empty meshKey', '{"meshKey":""}', 'ClientInfo frame: JSON field "meshKey" is "", expected 64 hexadecimal digits'],
    ['a short meshKey', '{"meshKey":"0011"}', 'ClientInfo frame: JSON field "meshKey" is "0011", expected 64 hexadecimal digits'],
    ['a numeric meshKey', '{"meshKey":5}', 'ClientInfo frame: JSON field "meshKey" is 5, expected a string'],
    [
      'a non-hex meshKey',
      `{"meshKey":"${'g'.repeat(64)}"}`,
      `ClientInfo frame: JSON field "meshKey" is "${'g'.repeat(64)}", expected 64 hexadecimal digits`,
    ],
  ])('rejects %s', (_case, json, message) => {
    expect(() => parseClientInfoJson(json)).toThrow(DerpFrameError);
    expect(() => parseClientInfoJson(json)).toThrow(message);
  });

  it('rejects a mesh key of the wrong length when encoding', () => {
    expect(() => encodeClientInfoJson({ meshKey: new Uint8Array(16).fill(1), version: 2, canAckPings: true, isProber: false })).toThrow(
      'ClientInfo: meshKey length 16, expected 32',
    );
  });
});

describe('ClientInfo frame', () => {
  const info: ClientInfo = { meshKey: undefined, version: ProtocolVersion, canAckPings: true, isProber: false };

  it('round-trips through seal, frame and open', () => {
    const frame = encodeClientInfo(client.publicKey, sealClientInfo(info, client, server.publicKey));
    const { type, payload } = readOneFrame(frame);
    expect(type).toBe(FrameType.ClientInfo);

    const decoded = decodeClientInfo(payload);
    expect(toHex(decoded.clientPublic)).toBe(toHex(client.publicKey));
    expect(openClientInfo(decoded.sealedInfo, server, decoded.clientPublic)).toEqual(info);
  });

  it('opens a box sealed by tweetnacl', () => {
    const nonce = new Uint8Array(24).fill(7);
    const json = new TextEncoder().encode('{"version":2,"CanAckPings":true}');
    const sealed = Buffer.concat([nonce, nacl.box(json, nonce, server.publicKey, client.bytes)]);
    expect(openClientInfo(sealed, server, client.publicKey)).toEqual(info);
  });

  it('matches Go box.Seal for a fixed nonce', () => {
    // golang.org/x/crypto nacl/box.Seal as pinned by tailscale.com v1.92.5, with
    // RFC 7748's Alice as client, Bob as server and nonce 00..17.
    const alicePrivate = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const bobPublic = hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    const nonce = Uint8Array.from({ length: 24 }, (_, i) => i);
    expect(toHex(sealClientInfo(info, alicePrivate, bobPublic, nonce))).toBe(
      '000102030405060708090a0b0c0d0e0f1011121314151617f857ec21fe9b663e37a51ed82b058c047e6c26c069053c122ea5a24c8fa8fbbf8f83ba8b258ec2ea09f11d4e345f8b61',
    );
  });

  it('rejects a box sealed to another server', () => {
    const otherServer = X25519PrivateKey.generate();
    const sealed = sealClientInfo(info, client, otherServer.publicKey);
    expect(() => openClientInfo(sealed, server, client.publicKey)).toThrow(
      `ClientInfo frame: cannot open sealed info (${sealed.length} bytes) with the client's key: box open failed: invalid Poly1305 tag (wrong key or nonce, or altered bytes)`,
    );
  });

  it('rejects a box from a different client key', () => {
    const sealed = sealClientInfo(info, client, server.publicKey);
    expect(() => openClientInfo(sealed, server, X25519PrivateKey.generate().publicKey)).toThrow(DerpFrameError);
  });

  it('rejects a sealed info too short for nonce and tag', () => {
    expect(() => openClientInfo(new Uint8Array(30), server, client.publicKey)).toThrow(
      "ClientInfo frame: cannot open sealed info (30 bytes) with the client's key: box open failed: sealed length 30 is shorter than nonce plus tag (40 bytes)",
    );
  });

  it('rejects sealed JSON that is not ClientInfo', () => {
    const sealed = Buffer.concat([
      new Uint8Array(24),
      nacl.box(new TextEncoder().encode('[]'), new Uint8Array(24), server.publicKey, client.bytes),
    ]);
    expect(() => openClientInfo(sealed, server, client.publicKey)).toThrow('ClientInfo frame: JSON is an array, expected an object');
  });

  it('rejects a payload shorter than key and nonce', () => {
    expect(() => decodeClientInfo(new Uint8Array(55))).toThrow('ClientInfo frame: payload length 55, expected at least 56');
  });

  it('rejects a payload over 256 KiB', () => {
    expect(() => decodeClientInfo(new Uint8Array(MaxClientInfoLen + 1))).toThrow(
      `ClientInfo frame: payload length ${MaxClientInfoLen + 1} exceeds MaxClientInfoLen ${MaxClientInfoLen}`,
    );
    expect(decodeClientInfo(new Uint8Array(MaxClientInfoLen)).sealedInfo.length).toBe(MaxClientInfoLen - 32);
  });

  it('rejects bad arguments when encoding', () => {
    expect(() => encodeClientInfo(new Uint8Array(33), new Uint8Array(40))).toThrow(
      'ClientInfo frame: client public key length 33, expected 32',
    );
    expect(() => encodeClientInfo(client.publicKey, new Uint8Array(39))).toThrow(
      `ClientInfo frame: sealed info length 39 is outside 40..${MaxClientInfoLen - 32}`,
    );
  });
});

describe('ServerInfo JSON', () => {
  it('matches Go json.Marshal output', () => {
    // Output of json.Marshal(derp.ServerInfo{...}) from tailscale.com v1.92.5.
    expect(encodeServerInfoJson({ version: 2, tokenBucketBytesPerSecond: 0, tokenBucketBytesBurst: 0 })).toBe('{"version":2}');
    expect(encodeServerInfoJson({ version: 2, tokenBucketBytesPerSecond: 1000, tokenBucketBytesBurst: 2000 })).toBe(
      '{"version":2,"TokenBucketBytesPerSecond":1000,"TokenBucketBytesBurst":2000}',
    );
  });

  it('parses token bucket fields in any case', () => {
    expect(parseServerInfoJson('{"Version":2,"tokenbucketbytespersecond":5,"TOKENBUCKETBYTESBURST":6}')).toEqual({
      version: 2,
      tokenBucketBytesPerSecond: 5,
      tokenBucketBytesBurst: 6,
    });
  });

  it('reads missing fields as 0', () => {
    expect(parseServerInfoJson('{}')).toEqual({ version: 0, tokenBucketBytesPerSecond: 0, tokenBucketBytesBurst: 0 });
  });

  it('rejects a non-integer field', () => {
    expect(() => parseServerInfoJson('{"TokenBucketBytesBurst":true}')).toThrow(
      'ServerInfo frame: JSON field "TokenBucketBytesBurst" is true, expected an integer',
    );
  });

  it('rejects a non-integer value when encoding', () => {
    expect(() => encodeServerInfoJson({ version: 2, tokenBucketBytesPerSecond: 1.5, tokenBucketBytesBurst: 0 })).toThrow(
      'ServerInfo: TokenBucketBytesPerSecond 1.5 is not an integer',
    );
  });
});

describe('ServerInfo frame', () => {
  const info: ServerInfo = { version: ProtocolVersion, tokenBucketBytesPerSecond: 0, tokenBucketBytesBurst: 0 };

  it('round-trips through seal, frame and open', () => {
    const frame = encodeServerInfo(sealServerInfo(info, server, client.publicKey));
    const { type, payload } = readOneFrame(frame);
    expect(type).toBe(FrameType.ServerInfo);
    expect(openServerInfo(decodeServerInfo(payload), client, server.publicKey)).toEqual(info);
  });

  it('is readable by tweetnacl', () => {
    const sealed = sealServerInfo(info, server, client.publicKey);
    const opened = nacl.box.open(sealed.subarray(24), sealed.subarray(0, 24), server.publicKey, client.bytes);
    expect(new TextDecoder().decode(opened ?? new Uint8Array())).toBe('{"version":2}');
  });

  it('rejects a box from another server', () => {
    const sealed = sealServerInfo(info, X25519PrivateKey.generate(), client.publicKey);
    expect(() => openServerInfo(sealed, client, server.publicKey)).toThrow(/^ServerInfo frame: cannot open sealed info/);
  });

  it('rejects a payload shorter than nonce and tag', () => {
    expect(() => decodeServerInfo(new Uint8Array(39))).toThrow('ServerInfo frame: payload length 39, expected at least 40');
  });

  it('rejects a payload over nonce plus MaxInfoLen', () => {
    expect(() => decodeServerInfo(new Uint8Array(24 + MaxInfoLen + 1))).toThrow(
      `ServerInfo frame: payload length ${24 + MaxInfoLen + 1} exceeds nonce plus MaxInfoLen (${24 + MaxInfoLen})`,
    );
  });

  it('rejects a bad sealed length when encoding', () => {
    expect(() => encodeServerInfo(new Uint8Array(39))).toThrow(`ServerInfo frame: sealed info length 39 is outside 40..${24 + MaxInfoLen}`);
  });
});
