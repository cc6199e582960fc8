/**
 * Zstandard frames (RFC 8878) for the map stream, which 1.92 clients always decompress.
 *
 * Compression uses the native zstd library through `zstd-napi`, because Node 20 has no zstd
 * in `node:zlib`. Messages too small to gain from compression go out as a frame of raw
 * blocks, which costs a few header bytes and no CPU; clients decode both the same way.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const zstdNative = require('zstd-napi') as {
  compress(data: Uint8Array, parameters?: { compressionLevel?: number }): Buffer;
  decompress(data: Uint8Array): Buffer;
};

export const ZSTD_MAGIC = 0xfd2fb528;
const MAX_RAW_BLOCK_SIZE = 128 * 1024;

/** Compresses `data` into one zstd frame; level 1 matches the speed Tailscale's own encoder aims for. */
export function zstdCompress(data: Uint8Array, level = 1): Buffer {
  return zstdNative.compress(data, { compressionLevel: level });
}

/** Decompresses one or more concatenated zstd frames. */
export function zstdDecompress(data: Uint8Array): Buffer {
  return zstdNative.decompress(data);
}

/**
 * Wraps `data` in a zstd frame of raw (uncompressed) blocks: the magic number, a frame header
 * with the single-segment flag and a 4-byte content size, then blocks of at most 128 KiB, each
 * with a 3-byte little-endian header `size << 3 | type 0 << 1 | last`.
 */
export function zstdRawFrame(data: Uint8Array): Buffer {
  const blockCount = Math.max(1, Math.ceil(data.length / MAX_RAW_BLOCK_SIZE));
  const frame = Buffer.allocUnsafe(4 + 1 + 4 + blockCount * 3 + data.length);
  frame.writeUInt32LE(ZSTD_MAGIC, 0);
  frame[4] = 0xa0; // frame content size field of 4 bytes, single segment, no checksum
  frame.writeUInt32LE(data.length, 5);

  let offset = 9;
  for (let block = 0; block < blockCount; block++) {
    const start = block * MAX_RAW_BLOCK_SIZE;
    const size = Math.min(MAX_RAW_BLOCK_SIZE, data.length - start);
    const last = block === blockCount - 1 ? 1 : 0;
    frame.writeUIntLE((size << 3) | last, offset, 3);
    offset += 3;
    frame.set(data.subarray(start, start + size), offset);
    offset += size;
  }
  return frame;
}
