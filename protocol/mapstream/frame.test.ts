import { decompress as referenceDecompress } from 'fzstd';
import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { zstdCompress, zstdRawFrame } from '../zstd.js';
import { MapMessageReader, encodeMapMessage, frameCompressed } from './frame.js';

const decodeWithReference = (frames: Uint8Array) => Buffer.from(referenceDecompress(frames)).toString();

describe('map stream framing', () => {
  it('prefixes each message with its little-endian length', () => {
    const message = encodeMapMessage('{"KeepAlive":true}');
    expect(message.readUInt32LE(0)).toBe(message.length - 4);
    expect(decodeWithReference(message.subarray(4))).toBe('{"KeepAlive":true}');
  });

  it('produces compressed frames a reference decoder reads', () => {
    const peers = Array.from({ length: 200 }, (_, id) => ({ ID: id + 1, Key: `nodekey:${crypto.randomBytes(32).toString('hex')}` }));
    const json = JSON.stringify({ Peers: peers });
    const message = encodeMapMessage(json);
    expect(message.length).toBeLessThan(json.length);
    expect(decodeWithReference(message.subarray(4))).toBe(json);
  });

  it('produces raw-block frames a reference decoder reads, across block boundaries', () => {
    for (const size of [0, 1, 131_071, 131_072, 131_073, 300_000]) {
      const data = crypto.randomBytes(size);
      expect(Buffer.from(referenceDecompress(zstdRawFrame(data))).equals(data), `size ${size}`).toBe(true);
    }
  });

  it('joins several frames into one JSON document', () => {
    const parts = ['{"Peers":[{"ID":1}', ',{"ID":2}', ']}'];
    const message = frameCompressed(zstdCompress(Buffer.from(parts[0]!)), zstdRawFrame(Buffer.from(parts[1]!)), zstdCompress(Buffer.from(parts[2]!)));
    expect(JSON.parse(decodeWithReference(message.subarray(4)))).toEqual({ Peers: [{ ID: 1 }, { ID: 2 }] });
  });

  it('reads messages split at any point', () => {
    const stream = Buffer.concat([encodeMapMessage('{"A":1}'), encodeMapMessage(JSON.stringify({ B: 'x'.repeat(1000) }))]);
    const reader = new MapMessageReader();
    const messages: unknown[] = [];
    for (const byte of stream) messages.push(...reader.push(Buffer.of(byte)));
    expect(messages).toEqual([{ A: 1 }, { B: 'x'.repeat(1000) }]);
  });

  it('rejects a declared length over the limit', () => {
    const reader = new MapMessageReader(100);
    const header = Buffer.alloc(4);
    header.writeUInt32LE(101);
    expect(() => reader.push(header)).toThrow(/declares 101 bytes, more than the limit of 100/);
  });
});
