/**
 * Framing of map responses on the `/machine/map` stream.
 *
 * Each message is a 4-byte little-endian length followed by that many bytes of zstd data that
 * decompress to one JSON MapResponse. The data may hold several concatenated zstd frames,
 * which lets a server cache compressed pieces of a netmap and join them per recipient.
 * Note the byte order: little-endian here, big-endian in controlbase.
 */
import { zstdCompress, zstdDecompress, zstdRawFrame } from '../zstd.js';

export const LENGTH_PREFIX_SIZE = 4;

/** Below this many bytes of JSON, compression saves less than it costs, so raw blocks are used. */
export const COMPRESSION_THRESHOLD = 256;

/** Frames already-compressed zstd data (one or more frames) as one map stream message. */
export function frameCompressed(...zstdFrames: Uint8Array[]): Buffer {
  const length = zstdFrames.reduce((sum, frame) => sum + frame.length, 0);
  const message = Buffer.allocUnsafe(LENGTH_PREFIX_SIZE + length);
  message.writeUInt32LE(length, 0);
  let offset = LENGTH_PREFIX_SIZE;
  for (const frame of zstdFrames) {
    message.set(frame, offset);
    offset += frame.length;
  }
  return message;
}

/** Encodes a JSON text as one map stream message. */
export function encodeMapMessage(json: string | Uint8Array): Buffer {
  const data = typeof json === 'string' ? Buffer.from(json) : json;
  return frameCompressed(encodeZstdFrame(data));
}

/** Compresses `data` into one zstd frame, or wraps it in raw blocks when it is too small to gain. */
export function encodeZstdFrame(data: Uint8Array): Buffer {
  return data.length < COMPRESSION_THRESHOLD ? zstdRawFrame(data) : zstdCompress(data);
}

/**
 * Splits a byte stream into map messages and decodes their JSON; for tests and load tools that
 * play the client.
 */
export class MapMessageReader {
  private pending = Buffer.alloc(0);

  constructor(private readonly maxMessageSize = 64 * 1024 * 1024) {}

  /** Adds received bytes and returns every message now complete, decompressed and parsed. */
  push(chunk: Uint8Array): unknown[] {
    this.pending = this.pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk]);
    const messages: unknown[] = [];
    while (this.pending.length >= LENGTH_PREFIX_SIZE) {
      const length = this.pending.readUInt32LE(0);
      if (length > this.maxMessageSize) {
        throw new Error(`map message declares ${length} bytes, more than the limit of ${this.maxMessageSize}`);
      }
      if (this.pending.length < LENGTH_PREFIX_SIZE + length) break;
      const body = this.pending.subarray(LENGTH_PREFIX_SIZE, LENGTH_PREFIX_SIZE + length);
      this.pending = this.pending.subarray(LENGTH_PREFIX_SIZE + length);
      messages.push(JSON.parse(zstdDecompress(body).toString('utf8')));
    }
    return messages;
  }
}
