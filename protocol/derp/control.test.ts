import { describe, expect, it } from 'vitest';

import {
  MaxPingPayloadLen,
  decodeHealth,
  decodeKeepAlive,
  decodeNotePreferred,
  decodePing,
  decodePong,
  decodeRestarting,
  encodeHealth,
  encodeKeepAlive,
  encodeNotePreferred,
  encodePing,
  encodePong,
  encodeRestarting,
} from './control.js';
import { DerpFrameError, FrameType } from './frame.js';
import { FrameReader } from './frame-reader.js';

const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const pingData = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);

function readOneFrame(bytes: Uint8Array): { type: number; payload: Uint8Array } {
  const reader = new FrameReader();
  reader.push(bytes);
  const frame = reader.read();
  if (frame === undefined) {
    throw new Error('no complete frame in the encoded bytes');
  }
  return frame;
}

describe('KeepAlive frame', () => {
  it('is a bare header', () => {
    expect(toHex(encodeKeepAlive())).toBe('0600000000');
  });

  it('decodes any payload', () => {
    expect(() => decodeKeepAlive(new Uint8Array(0))).not.toThrow();
    expect(() => decodeKeepAlive(new Uint8Array(5))).not.toThrow();
  });
});

describe('NotePreferred frame', () => {
  it('round-trips true and false', () => {
    expect(toHex(encodeNotePreferred(true))).toBe('070000000101');
    expect(toHex(encodeNotePreferred(false))).toBe('070000000100');
    expect(decodeNotePreferred(readOneFrame(encodeNotePreferred(true)).payload)).toBe(true);
    expect(decodeNotePreferred(readOneFrame(encodeNotePreferred(false)).payload)).toBe(false);
  });

  it('reads any non-zero byte as preferred', () => {
    expect(decodeNotePreferred(Uint8Array.of(0x02))).toBe(true);
  });

  it('rejects a payload that is not one byte', () => {
    expect(() => decodeNotePreferred(Uint8Array.of(1, 0))).toThrow(
      new DerpFrameError(FrameType.NotePreferred, 'payload length 2, expected 1'),
    );
    expect(() => decodeNotePreferred(new Uint8Array(0))).toThrow('NotePreferred frame: payload length 0, expected 1');
  });
});

describe('Ping frame', () => {
  it('round-trips 8 bytes', () => {
    const frame = encodePing(pingData);
    expect(toHex(frame)).toBe('12000000080102030405060708');
    const { type, payload } = readOneFrame(frame);
    expect(type).toBe(FrameType.Ping);
    expect(toHex(decodePing(payload))).toBe(toHex(pingData));
  });

  it('returns the first 8 bytes of a longer payload', () => {
    const payload = new Uint8Array(MaxPingPayloadLen).fill(9);
    payload.set(pingData);
    expect(toHex(decodePing(payload))).toBe(toHex(pingData));
  });

  it('rejects a payload shorter than 8 bytes', () => {
    expect(() => decodePing(new Uint8Array(7))).toThrow('Ping frame: payload length 7, expected at least 8');
  });

  it('rejects a payload over 1000 bytes', () => {
    expect(() => decodePing(new Uint8Array(1001))).toThrow('Ping frame: payload length 1001 exceeds 1000');
  });

  it('rejects data that is not 8 bytes when encoding', () => {
    expect(() => encodePing(new Uint8Array(9))).toThrow('Ping frame: data length 9, expected 8');
  });
});

describe('Pong frame', () => {
  it('round-trips 8 bytes', () => {
    const frame = encodePong(pingData);
    expect(toHex(frame)).toBe('13000000080102030405060708');
    const { type, payload } = readOneFrame(frame);
    expect(type).toBe(FrameType.Pong);
    expect(toHex(decodePong(payload))).toBe(toHex(pingData));
  });

  it('rejects a payload shorter than 8 bytes', () => {
    expect(() => decodePong(new Uint8Array(3))).toThrow('Pong frame: payload length 3, expected at least 8');
  });

  it('rejects data that is not 8 bytes when encoding', () => {
    expect(() => encodePong(new Uint8Array(7))).toThrow('Pong frame: data length 7, expected 8');
  });
});

describe('Health frame', () => {
  it('round-trips UTF-8 text', () => {
    const { type, payload } = readOneFrame(encodeHealth('duplicate connection — 重复'));
    expect(type).toBe(FrameType.Health);
    expect(decodeHealth(payload)).toBe('duplicate connection — 重复');
  });

  it('encodes healthy as an empty payload', () => {
    expect(toHex(encodeHealth(''))).toBe('1400000000');
    expect(decodeHealth(new Uint8Array(0))).toBe('');
  });

  it('replaces invalid UTF-8', () => {
    expect(decodeHealth(Uint8Array.of(0x61, 0xff))).toBe('a\uFFFD');
  });
});

describe('Restarting frame', () => {
  it('round-trips both durations', () => {
    const frame = encodeRestarting({ reconnectInMs: 1500, tryForMs: 0xffffffff });
    expect(toHex(frame)).toBe('1500000008000005dcffffffff');
    const { type, payload } = readOneFrame(frame);
    expect(type).toBe(FrameType.Restarting);
    expect(decodeRestarting(payload)).toEqual({ reconnectInMs: 1500, tryForMs: 0xffffffff });
  });

  it('ignores bytes after the first 8', () => {
    const payload = Buffer.from('000000010000000203', 'hex');
    expect(decodeRestarting(payload)).toEqual({ reconnectInMs: 1, tryForMs: 2 });
  });

  it('reads an unaligned payload view', () => {
    const backing = Buffer.from('ff0000000100000002', 'hex');
    expect(decodeRestarting(backing.subarray(1))).toEqual({ reconnectInMs: 1, tryForMs: 2 });
  });

  it('rejects a payload shorter than 8 bytes', () => {
    expect(() => decodeRestarting(new Uint8Array(7))).toThrow('Restarting frame: payload length 7, expected at least 8');
  });

  it('rejects durations that are not uint32 when encoding', () => {
    expect(() => encodeRestarting({ reconnectInMs: -1, tryForMs: 0 })).toThrow('Restarting frame: reconnectInMs -1 is not a uint32');
    expect(() => encodeRestarting({ reconnectInMs: 0, tryForMs: 2 ** 32 })).toThrow(
      'Restarting frame: tryForMs 4294967296 is not a uint32',
    );
  });
});
