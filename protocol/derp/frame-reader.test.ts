import { randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { DerpFrameError, type Frame, FrameType, MaxPacketSize, encodeFrame } from './frame.js';
import { DefaultMaxFrameLen, FrameReader } from './frame-reader.js';

function sampleFrames(): Frame[] {
  return [
    { type: FrameType.ServerKey, payload: randomBytes(40) },
    { type: FrameType.KeepAlive, payload: new Uint8Array(0) },
    { type: FrameType.SendPacket, payload: randomBytes(32 + MaxPacketSize) },
    { type: FrameType.NotePreferred, payload: Uint8Array.of(1) },
    { type: 0x7f, payload: randomBytes(3) },
    { type: FrameType.RecvPacket, payload: randomBytes(32 + 1200) },
  ];
}

function concatFrames(frames: Frame[]): Buffer {
  return Buffer.concat(frames.map((frame) => encodeFrame(frame.type, frame.payload)));
}

function readAll(reader: FrameReader): Frame[] {
  return [...reader.frames()];
}

function expectSameFrames(actual: Frame[], expected: Frame[]): void {
  expect(actual.map((frame) => frame.type)).toEqual(expected.map((frame) => frame.type));
  for (const [i, frame] of actual.entries()) {
    expect(Buffer.from(frame.payload).equals(Buffer.from(expected[i]?.payload ?? new Uint8Array()))).toBe(true);
  }
}

describe('FrameReader', () => {
  it('reads frames pushed in one chunk', () => {
    const frames = sampleFrames();
    const reader = new FrameReader();
    reader.push(concatFrames(frames));
    expectSameFrames(readAll(reader), frames);
    expect(reader.buffered).toBe(0);
    expect(reader.read()).toBeUndefined();
  });

  it('reads frames fed byte by byte', () => {
    const frames = sampleFrames();
    const stream = concatFrames(frames);
    const reader = new FrameReader();
    const got: Frame[] = [];
    for (let i = 0; i < stream.length; i++) {
      reader.push(stream.subarray(i, i + 1));
      got.push(...readAll(reader));
    }
    expectSameFrames(got, frames);
    expect(reader.buffered).toBe(0);
  });

  it('reads frames fed in odd-sized chunks', () => {
    const frames = sampleFrames();
    const stream = concatFrames(frames);
    for (const chunkSize of [2, 3, 4, 5, 6, 7, 1000, 4096, 65537, 100_000]) {
      const reader = new FrameReader();
      const got: Frame[] = [];
      for (let offset = 0; offset < stream.length; offset += chunkSize) {
        reader.push(stream.subarray(offset, offset + chunkSize));
        got.push(...readAll(reader));
      }
      expectSameFrames(got, frames);
    }
  });

  it('waits for a split header', () => {
    const reader = new FrameReader();
    const frame = encodeFrame(FrameType.Ping, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    reader.push(frame.subarray(0, 3));
    expect(reader.read()).toBeUndefined();
    expect(reader.buffered).toBe(3);
    reader.push(frame.subarray(3, 9));
    expect(reader.read()).toBeUndefined();
    reader.push(frame.subarray(9));
    const got = reader.read();
    expect(got?.type).toBe(FrameType.Ping);
    expect(Buffer.from(got?.payload ?? []).toString('hex')).toBe('0102030405060708');
  });

  it('returns views for frames inside one chunk', () => {
    const reader = new FrameReader();
    const chunk = encodeFrame(FrameType.Pong, Uint8Array.of(9, 9, 9, 9, 9, 9, 9, 9));
    reader.push(chunk);
    const got = reader.read();
    expect(got?.payload.buffer).toBe(chunk.buffer);
  });

  it('ignores empty chunks', () => {
    const reader = new FrameReader();
    reader.push(new Uint8Array(0));
    expect(reader.read()).toBeUndefined();
    expect(reader.buffered).toBe(0);
  });

  it('rejects an oversized declared length before its payload arrives', () => {
    const reader = new FrameReader({ maxFrameLen: 100 });
    reader.push(Buffer.from('0400000065', 'hex'));
    expect(() => reader.read()).toThrow(
      new DerpFrameError(FrameType.SendPacket, 'declared payload length 101 exceeds the reader limit of 100 bytes'),
    );
    expect(reader.buffered).toBe(0);
  });

  it('accepts a declared length equal to the limit', () => {
    const reader = new FrameReader({ maxFrameLen: 100 });
    reader.push(encodeFrame(FrameType.SendPacket, new Uint8Array(100)));
    expect(reader.read()?.payload.length).toBe(100);
  });

  it('rejects a 4 GiB declared length with the default limit', () => {
    const reader = new FrameReader();
    expect(reader.maxFrameLen).toBe(DefaultMaxFrameLen);
    reader.push(Buffer.from('05ffffffff', 'hex'));
    expect(() => reader.read()).toThrow('RecvPacket frame: declared payload length 4294967295 exceeds the reader limit of 1048576 bytes');
  });

  it('stays failed after an oversized frame', () => {
    const reader = new FrameReader({ maxFrameLen: 8 });
    reader.push(Buffer.from('0200000009', 'hex'));
    expect(() => reader.read()).toThrow(DerpFrameError);
    reader.push(encodeFrame(FrameType.KeepAlive));
    expect(() => reader.read()).toThrow('ClientInfo frame: declared payload length 9 exceeds the reader limit of 8 bytes');
  });

  it('returns frames before an oversized one', () => {
    const reader = new FrameReader({ maxFrameLen: 8 });
    reader.push(Buffer.concat([encodeFrame(FrameType.KeepAlive), Buffer.from('0400000100', 'hex')]));
    expect(reader.read()?.type).toBe(FrameType.KeepAlive);
    expect(() => reader.read()).toThrow(DerpFrameError);
  });

  it('rejects an invalid limit', () => {
    expect(() => new FrameReader({ maxFrameLen: -1 })).toThrow('FrameReader: maxFrameLen -1 is not a uint32');
    expect(() => new FrameReader({ maxFrameLen: 2 ** 32 })).toThrow(RangeError);
  });

  it('stays fast when fed one byte at a time', () => {
    // 1 MiB in single-byte chunks exercises the chunk list; a quadratic
    // implementation takes minutes here.
    const payload = randomBytes(DefaultMaxFrameLen);
    const stream = encodeFrame(FrameType.SendPacket, payload);
    const reader = new FrameReader();
    const started = performance.now();
    let got: Frame | undefined;
    for (let i = 0; i < stream.length; i++) {
      reader.push(stream.subarray(i, i + 1));
      got = reader.read() ?? got;
    }
    expect(Buffer.from(got?.payload ?? []).equals(payload)).toBe(true);
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});
