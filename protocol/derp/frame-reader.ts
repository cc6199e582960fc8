import { DerpFrameError, type Frame, FrameHeaderLen } from './frame.js';

/**
 * Default limit on a frame's declared payload length: 1 MiB, the limit Go's DERP
 * client applies to every frame it receives. It leaves room for the largest frame
 * of either side (ForwardPacket: 64 bytes of keys plus MaxPacketSize).
 */
export const DefaultMaxFrameLen = 1 << 20;

export interface FrameReaderOptions {
  /** Largest declared payload length accepted, in bytes. Defaults to {@link DefaultMaxFrameLen}. */
  maxFrameLen?: number;
}

/**
 * Splits a DERP byte stream into frames. Push each chunk from a socket's 'data'
 * event, then call read() until it returns undefined:
 *
 *   socket.on('data', (chunk) => {
 *     reader.push(chunk);
 *     for (let frame = reader.read(); frame !== undefined; frame = reader.read()) handle(frame);
 *   });
 *
 * A header that declares more than maxFrameLen bytes makes read() throw
 * DerpFrameError as soon as the header arrives, before its payload is buffered.
 * The reader then stays failed and every later read() throws the same error.
 *
 * Payloads may be views into pushed chunks, so callers must not modify a chunk
 * after pushing it.
 */
export class FrameReader {
  readonly maxFrameLen: number;

  // Pushed chunks. chunks[head] is the oldest one that still has unread bytes.
  // A head index instead of shift() keeps byte-by-byte feeding linear.
  private chunks: Uint8Array[] = [];
  private head = 0;
  private firstChunkOffset = 0;
  private bufferedLength = 0;
  private pendingHeader: { type: number; payloadLength: number } | undefined;
  private failure: DerpFrameError | undefined;

  constructor(options: FrameReaderOptions = {}) {
    const maxFrameLen = options.maxFrameLen ?? DefaultMaxFrameLen;
    if (!Number.isInteger(maxFrameLen) || maxFrameLen < 0 || maxFrameLen > 0xffffffff) {
      throw new RangeError(`FrameReader: maxFrameLen ${maxFrameLen} is not a uint32`);
    }
    this.maxFrameLen = maxFrameLen;
  }

  /** Bytes pushed and not yet consumed. A header that read() has parsed no longer counts. */
  get buffered(): number {
    return this.bufferedLength;
  }

  /** Appends bytes received from the connection. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) {
      return;
    }
    this.chunks.push(chunk);
    this.bufferedLength += chunk.length;
  }

  /** Returns the next complete frame, or undefined until more bytes arrive. */
  read(): Frame | undefined {
    if (this.failure !== undefined) {
      throw this.failure;
    }

    if (this.pendingHeader === undefined) {
      if (this.bufferedLength < FrameHeaderLen) {
        return undefined;
      }
      const header = this.take(FrameHeaderLen);
      const type = header[0] ?? 0;
      const payloadLength = new DataView(header.buffer, header.byteOffset, FrameHeaderLen).getUint32(1);
      if (payloadLength > this.maxFrameLen) {
        this.failure = new DerpFrameError(
          type,
          `declared payload length ${payloadLength} exceeds the reader limit of ${this.maxFrameLen} bytes`,
        );
        this.chunks = [];
        this.head = 0;
        this.bufferedLength = 0;
        throw this.failure;
      }
      this.pendingHeader = { type, payloadLength };
    }

    const { type, payloadLength } = this.pendingHeader;
    if (this.bufferedLength < payloadLength) {
      return undefined;
    }
    this.pendingHeader = undefined;
    return { type, payload: this.take(payloadLength) };
  }

  /** Yields every complete frame buffered so far. */
  *frames(): Generator<Frame, void, undefined> {
    for (let frame = this.read(); frame !== undefined; frame = this.read()) {
      yield frame;
    }
  }

  /** Removes length bytes from the front of the buffer. The caller has checked that they are buffered. */
  private take(length: number): Uint8Array {
    this.bufferedLength -= length;
    const first = this.chunks[this.head];
    if (length === 0 || first === undefined) {
      return new Uint8Array(0);
    }

    // Fast path: the bytes lie in the oldest chunk, so return a view without copying.
    if (first.length - this.firstChunkOffset >= length) {
      const view = first.subarray(this.firstChunkOffset, this.firstChunkOffset + length);
      this.firstChunkOffset += length;
      if (this.firstChunkOffset === first.length) {
        this.dropOldestChunk();
      }
      return view;
    }

    const out = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const chunk = this.chunks[this.head];
      if (chunk === undefined) {
        throw new Error(`FrameReader: internal error, buffer ran out ${length - filled} bytes early`);
      }
      const available = chunk.length - this.firstChunkOffset;
      const count = Math.min(available, length - filled);
      out.set(chunk.subarray(this.firstChunkOffset, this.firstChunkOffset + count), filled);
      filled += count;
      if (count === available) {
        this.dropOldestChunk();
      } else {
        this.firstChunkOffset += count;
      }
    }
    return out;
  }

  private dropOldestChunk(): void {
    this.chunks[this.head] = EMPTY;
    this.head += 1;
    this.firstChunkOffset = 0;
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}

const EMPTY = new Uint8Array(0);
