import { randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { DiscoMagic, MinDiscoPacketLen, looksLikeDiscoPacket } from './disco.js';
import { DerpFrameError, FrameType, MaxPacketSize } from './frame.js';
import { FrameReader } from './frame-reader.js';
import {
  decodeForwardPacket,
  decodeRecvPacket,
  decodeSendPacket,
  encodeForwardPacket,
  encodeRecvPacket,
  encodeRecvPacketPrefix,
  encodeSendPacket,
} from './packets.js';

const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const keyA = new Uint8Array(32).fill(0xaa);
const keyB = new Uint8Array(32).fill(0xbb);

function readOneFrame(bytes: Uint8Array): { type: number; payload: Uint8Array } {
  const reader = new FrameReader();
  reader.push(bytes);
  const frame = reader.read();
  if (frame === undefined) {
    throw new Error('no complete frame in the encoded bytes');
  }
  return frame;
}

describe('SendPacket frame', () => {
  it('round-trips destination and packet', () => {
    const packet = randomBytes(1400);
    const frame = encodeSendPacket(keyA, packet);
    expect(toHex(frame.subarray(0, 5))).toBe(`04${(32 + 1400).toString(16).padStart(8, '0')}`);
    const { type, payload } = readOneFrame(frame);
    expect(type).toBe(FrameType.SendPacket);
    const decoded = decodeSendPacket(payload);
    expect(toHex(decoded.destination)).toBe(toHex(keyA));
    expect(toHex(decoded.packet)).toBe(toHex(packet));
  });

  it('accepts an empty packet and a MaxPacketSize packet', () => {
    expect(decodeSendPacket(encodeSendPacket(keyA, new Uint8Array(0)).subarray(5)).packet.length).toBe(0);
    expect(decodeSendPacket(encodeSendPacket(keyA, new Uint8Array(MaxPacketSize)).subarray(5)).packet.length).toBe(MaxPacketSize);
  });

  it('rejects a payload shorter than the key', () => {
    expect(() => decodeSendPacket(new Uint8Array(31))).toThrow('SendPacket frame: payload length 31, expected at least 32');
  });

  it('rejects a packet over MaxPacketSize', () => {
    expect(() => decodeSendPacket(new Uint8Array(32 + MaxPacketSize + 1))).toThrow(
      new DerpFrameError(FrameType.SendPacket, 'packet length 65537 exceeds MaxPacketSize 65536'),
    );
  });

  it('rejects bad arguments when encoding', () => {
    expect(() => encodeSendPacket(new Uint8Array(31), new Uint8Array(1))).toThrow(
      'SendPacket frame: destination key length 31, expected 32',
    );
    expect(() => encodeSendPacket(keyA, new Uint8Array(MaxPacketSize + 1))).toThrow(
      'SendPacket frame: packet length 65537 exceeds MaxPacketSize 65536',
    );
  });
});

describe('RecvPacket frame', () => {
  it('round-trips source and packet', () => {
    const packet = randomBytes(100);
    const { type, payload } = readOneFrame(encodeRecvPacket(keyB, packet));
    expect(type).toBe(FrameType.RecvPacket);
    const decoded = decodeRecvPacket(payload);
    expect(toHex(decoded.source)).toBe(toHex(keyB));
    expect(toHex(decoded.packet)).toBe(toHex(packet));
  });

  it('prefix plus packet equals the whole frame', () => {
    const packet = randomBytes(777);
    const joined = Buffer.concat([encodeRecvPacketPrefix(keyB, packet.length), packet]);
    expect(toHex(joined)).toBe(toHex(encodeRecvPacket(keyB, packet)));
  });

  it('rejects a payload shorter than the key', () => {
    expect(() => decodeRecvPacket(new Uint8Array(10))).toThrow('RecvPacket frame: payload length 10, expected at least 32');
  });

  it('rejects a packet over MaxPacketSize', () => {
    expect(() => decodeRecvPacket(new Uint8Array(32 + MaxPacketSize + 1))).toThrow(
      'RecvPacket frame: packet length 65537 exceeds MaxPacketSize 65536',
    );
  });

  it('rejects bad arguments when encoding', () => {
    expect(() => encodeRecvPacket(new Uint8Array(0), new Uint8Array(1))).toThrow('RecvPacket frame: source key length 0, expected 32');
    expect(() => encodeRecvPacketPrefix(keyB, MaxPacketSize + 1)).toThrow('RecvPacket frame: packet length 65537 is outside 0..65536');
    expect(() => encodeRecvPacketPrefix(keyB, -1)).toThrow(RangeError);
  });
});

describe('ForwardPacket frame', () => {
  it('round-trips both keys and the packet', () => {
    const packet = randomBytes(64);
    const { type, payload } = readOneFrame(encodeForwardPacket(keyA, keyB, packet));
    expect(type).toBe(FrameType.ForwardPacket);
    const decoded = decodeForwardPacket(payload);
    expect(toHex(decoded.source)).toBe(toHex(keyA));
    expect(toHex(decoded.destination)).toBe(toHex(keyB));
    expect(toHex(decoded.packet)).toBe(toHex(packet));
  });

  it('rejects a payload shorter than two keys', () => {
    expect(() => decodeForwardPacket(new Uint8Array(63))).toThrow('ForwardPacket frame: payload length 63, expected at least 64');
  });

  it('rejects a packet over MaxPacketSize', () => {
    expect(() => decodeForwardPacket(new Uint8Array(64 + MaxPacketSize + 1))).toThrow(
      'ForwardPacket frame: packet length 65537 exceeds MaxPacketSize 65536',
    );
  });

  it('rejects bad keys when encoding', () => {
    expect(() => encodeForwardPacket(keyA, new Uint8Array(1), new Uint8Array(0))).toThrow(
      'ForwardPacket frame: destination key length 1, expected 32',
    );
    expect(() => encodeForwardPacket(new Uint8Array(1), keyB, new Uint8Array(0))).toThrow(
      'ForwardPacket frame: source key length 1, expected 32',
    );
  });
});

describe('looksLikeDiscoPacket', () => {
  const disco = Buffer.concat([DiscoMagic, randomBytes(32 + 24)]);

  it('accepts magic plus key plus nonce', () => {
    expect(Buffer.from(DiscoMagic).toString('utf8')).toBe('TS💬');
    expect(MinDiscoPacketLen).toBe(62);
    expect(looksLikeDiscoPacket(disco)).toBe(true);
    expect(looksLikeDiscoPacket(Buffer.concat([disco, randomBytes(40)]))).toBe(true);
  });

  it('rejects a packet one byte too short', () => {
    expect(looksLikeDiscoPacket(disco.subarray(0, MinDiscoPacketLen - 1))).toBe(false);
  });

  it('rejects a wrong magic byte', () => {
    for (let i = 0; i < DiscoMagic.length; i++) {
      const wrong = Buffer.from(disco);
      wrong[i] = (wrong[i] ?? 0) ^ 0x01;
      expect(looksLikeDiscoPacket(wrong)).toBe(false);
    }
  });

  it('rejects a WireGuard packet', () => {
    const wireGuardData = Buffer.concat([Buffer.from('04000000', 'hex'), randomBytes(100)]);
    expect(looksLikeDiscoPacket(wireGuardData)).toBe(false);
  });
});
