import { describe, expect, it } from 'vitest';

import { FrameType } from './frame.js';
import { FrameReader } from './frame-reader.js';
import { decodeClosePeer, decodeWatchConns, encodeClosePeer, encodeWatchConns, parseMeshKey } from './mesh.js';
import { PeerGoneReason, decodePeerGone, encodePeerGone } from './peer-gone.js';
import { PeerPresentFlags, PeerPresentLen, decodePeerPresent, encodePeerPresent } from './peer-present.js';

const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const key = Uint8Array.from({ length: 32 }, (_, i) => i);

function readOneFrame(bytes: Uint8Array): { type: number; payload: Uint8Array } {
  const reader = new FrameReader();
  reader.push(bytes);
  const frame = reader.read();
  if (frame === undefined) {
    throw new Error('no complete frame in the encoded bytes');
  }
  return frame;
}

describe('PeerGone frame', () => {
  it('round-trips both reasons', () => {
    for (const reason of [PeerGoneReason.Disconnected, PeerGoneReason.NotHere]) {
      const frame = encodePeerGone(key, reason);
      expect(toHex(frame.subarray(0, 5))).toBe('0800000021');
      expect(frame[frame.length - 1]).toBe(reason);
      const { type, payload } = readOneFrame(frame);
      expect(type).toBe(FrameType.PeerGone);
      const decoded = decodePeerGone(payload);
      expect(toHex(decoded.peer)).toBe(toHex(key));
      expect(decoded.reason).toBe(reason);
    }
  });

  it('reads a missing reason as Disconnected', () => {
    expect(decodePeerGone(key).reason).toBe(PeerGoneReason.Disconnected);
  });

  it('ignores bytes after the reason', () => {
    expect(decodePeerGone(Buffer.concat([key, Uint8Array.of(1, 9, 9)])).reason).toBe(PeerGoneReason.NotHere);
  });

  it('rejects a payload shorter than the key', () => {
    expect(() => decodePeerGone(new Uint8Array(31))).toThrow('PeerGone frame: payload length 31, expected at least 32');
  });

  it('rejects a bad key when encoding', () => {
    expect(() => encodePeerGone(new Uint8Array(2), PeerGoneReason.NotHere)).toThrow('PeerGone frame: peer key length 2, expected 32');
  });
});

describe('PeerPresent frame', () => {
  it('writes the 51-byte layout of Go servers', () => {
    const frame = encodePeerPresent(key, { ip: '192.0.2.7', port: 41641 }, PeerPresentFlags.IsRegular);
    expect(PeerPresentLen).toBe(51);
    expect(toHex(frame.subarray(0, 5))).toBe('0900000033');
    expect(toHex(frame.subarray(5 + 32))).toBe('00000000000000000000ffffc0000207a2a901');
  });

  it('round-trips IPv4 as plain IPv4', () => {
    const { type, payload } = readOneFrame(encodePeerPresent(key, { ip: '192.0.2.7', port: 41641 }, PeerPresentFlags.IsRegular));
    expect(type).toBe(FrameType.PeerPresent);
    const decoded = decodePeerPresent(payload);
    expect(toHex(decoded.peer)).toBe(toHex(key));
    expect(decoded.address).toEqual({ ip: '192.0.2.7', port: 41641 });
    expect(decoded.flags).toBe(PeerPresentFlags.IsRegular);
  });

  it('round-trips IPv6 and combined flags', () => {
    const flags = PeerPresentFlags.IsMeshPeer | PeerPresentFlags.NotIdeal;
    const decoded = decodePeerPresent(readOneFrame(encodePeerPresent(key, { ip: '2001:db8::1', port: 443 }, flags)).payload);
    expect(decoded.address).toEqual({ ip: '2001:db8::1', port: 443 });
    expect(decoded.flags).toBe(0x0a);
  });

  it('unmaps an IPv4-mapped socket address', () => {
    const decoded = decodePeerPresent(readOneFrame(encodePeerPresent(key, { ip: '::ffff:127.0.0.1', port: 1 }, 1)).payload);
    expect(decoded.address).toEqual({ ip: '127.0.0.1', port: 1 });
  });

  it('reads the key-only layout of old servers', () => {
    expect(decodePeerPresent(key)).toEqual({ peer: key, address: undefined, flags: undefined });
    expect(decodePeerPresent(Buffer.concat([key, new Uint8Array(17)])).address).toBeUndefined();
  });

  it('reads the layout without flags', () => {
    const payload = readOneFrame(encodePeerPresent(key, { ip: '10.0.0.1', port: 80 }, 1)).payload.subarray(0, 50);
    const decoded = decodePeerPresent(payload);
    expect(decoded.address).toEqual({ ip: '10.0.0.1', port: 80 });
    expect(decoded.flags).toBeUndefined();
  });

  it('rejects a payload shorter than the key', () => {
    expect(() => decodePeerPresent(new Uint8Array(20))).toThrow('PeerPresent frame: payload length 20, expected at least 32');
  });

  it('rejects bad arguments when encoding', () => {
    expect(() => encodePeerPresent(key, { ip: '10.0.0.1', port: 65536 }, 1)).toThrow('PeerPresent frame: port 65536 is outside 0..65535');
    expect(() => encodePeerPresent(key, { ip: '10.0.0.1', port: 1 }, 256)).toThrow('PeerPresent frame: flags 256 is not a byte');
    expect(() => encodePeerPresent(key, { ip: 'localhost', port: 1 }, 1)).toThrow('invalid IP address "localhost"');
    expect(() => encodePeerPresent(new Uint8Array(0), { ip: '10.0.0.1', port: 1 }, 1)).toThrow(
      'PeerPresent frame: peer key length 0, expected 32',
    );
  });
});

describe('WatchConns frame', () => {
  it('is a bare header', () => {
    expect(toHex(encodeWatchConns())).toBe('1000000000');
    expect(() => decodeWatchConns(readOneFrame(encodeWatchConns()).payload)).not.toThrow();
  });

  it('rejects a non-empty payload', () => {
    expect(() => decodeWatchConns(new Uint8Array(1))).toThrow('WatchConns frame: payload length 1, expected 0');
  });
});

describe('ClosePeer frame', () => {
  it('round-trips the key', () => {
    const { type, payload } = readOneFrame(encodeClosePeer(key));
    expect(type).toBe(FrameType.ClosePeer);
    expect(toHex(decodeClosePeer(payload))).toBe(toHex(key));
  });

  it('rejects a payload that is not 32 bytes', () => {
    expect(() => decodeClosePeer(new Uint8Array(33))).toThrow('ClosePeer frame: payload length 33, expected 32');
    expect(() => decodeClosePeer(new Uint8Array(31))).toThrow('ClosePeer frame: payload length 31, expected 32');
  });

  it('rejects a bad key when encoding', () => {
    expect(() => encodeClosePeer(new Uint8Array(31))).toThrow('ClosePeer frame: peer key length 31, expected 32');
  });
});

describe('parseMeshKey', () => {
  it('trims whitespace and accepts either case', () => {
    const text = '  00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\n';
    expect(toHex(parseMeshKey(text))).toBe('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff');
  });

  it('rejects text that is not 64 hex digits', () => {
    expect(() => parseMeshKey('abcd')).toThrow('invalid DERP mesh key: expected 64 hexadecimal digits, got 4 characters');
    expect(() => parseMeshKey('z'.repeat(64))).toThrow('invalid DERP mesh key: expected 64 hexadecimal digits, got 64 characters');
  });
});
