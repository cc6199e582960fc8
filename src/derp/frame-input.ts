/**
 * The server's reader of a client's DERP byte stream. Unlike protocol/derp's FrameReader, which
 * applies one length limit to every frame, it checks each frame's declared length against a rule
 * for its type as soon as the 5-byte header arrives, before buffering any payload. Frames of
 * types the server does not handle are skipped as their bytes arrive and never buffered, which
 * matches Go's derpserver (tailscale.com v1.92.5), which discards them with io.CopyN.
 */
import { DerpFrameError, FrameHeaderLen, frameTypeName } from '../../protocol/derp/index.js';

/** Handling of a frame type: accept a payload length within bounds, reject the type, or skip the frame. */
export type FrameRule = { min: number; max: number } | { reject: string } | 'skip';

export type FrameEvent =
  | { kind: 'frame'; type: number; payload: Uint8Array }
  /** A frame whose payload was discarded unread. */
  | { kind: 'skipped'; type: number; length: number };

export class FrameInput {
  // Chunks not yet consumed; chunks[head] starts at byte `offset`.
  private chunks: Buffer[] = [];
  private head = 0;
  private offset = 0;
  private bufferedLength = 0;
  private pending: { type: number; length: number; skip: boolean } | undefined;
  private skipped = 0;

  constructor(private ruleFor: (type: number) => FrameRule) {}

  /** Replaces the rules for frames whose header has not been read yet, for example after the handshake. */
  setRule(ruleFor: (type: number) => FrameRule): void {
    this.ruleFor = ruleFor;
  }

  /** Bytes received and not yet returned as part of a frame. */
  get buffered(): number {
    return this.bufferedLength;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.bufferedLength += chunk.length;
  }

  /**
   * Returns the next complete frame or skipped frame, or undefined until more bytes arrive.
   * @throws {DerpFrameError} when a header declares a length its type does not allow, or a type the rules reject.
   */
  next(): FrameEvent | undefined {
    if (this.pending === undefined) {
      if (this.bufferedLength < FrameHeaderLen) return undefined;
      const header = this.take(FrameHeaderLen);
      const type = header[0]!;
      const length = header.readUInt32BE(1);
      const rule = this.ruleFor(type);
      if (rule === 'skip') {
        this.pending = { type, length, skip: true };
        this.skipped = 0;
      } else if ('reject' in rule) {
        throw new DerpFrameError(type, rule.reject);
      } else if (length < rule.min || length > rule.max) {
        const expected = rule.min === rule.max ? `${rule.min}` : `${rule.min}..${rule.max}`;
        throw new DerpFrameError(type, `declared payload length ${length}, expected ${expected}`);
      } else {
        this.pending = { type, length, skip: false };
      }
    }

    const { type, length, skip } = this.pending;
    if (skip) {
      const count = Math.min(length - this.skipped, this.bufferedLength);
      this.discard(count);
      this.skipped += count;
      if (this.skipped < length) return undefined;
      this.pending = undefined;
      return { kind: 'skipped', type, length };
    }
    if (this.bufferedLength < length) return undefined;
    this.pending = undefined;
    return { kind: 'frame', type, payload: this.take(length) };
  }

  /** Describes the frame being read, for a log line when the connection ends mid-frame. */
  describePending(): string | undefined {
    if (this.pending === undefined) return undefined;
    return `${frameTypeName(this.pending.type)} frame of ${this.pending.length} bytes`;
  }

  /** Removes `length` buffered bytes; returns a view when they lie in one chunk, else a copy. */
  private take(length: number): Buffer {
    this.bufferedLength -= length;
    const first = this.chunks[this.head];
    if (length === 0 || first === undefined) return EMPTY;
    if (first.length - this.offset >= length) {
      const view = first.subarray(this.offset, this.offset + length);
      this.advance(length);
      return view;
    }
    const out = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const chunk = this.chunks[this.head]!;
      const count = Math.min(chunk.length - this.offset, length - filled);
      chunk.copy(out, filled, this.offset, this.offset + count);
      filled += count;
      this.advance(count);
    }
    return out;
  }

  private discard(length: number): void {
    this.bufferedLength -= length;
    let remaining = length;
    while (remaining > 0) {
      const chunk = this.chunks[this.head]!;
      const count = Math.min(chunk.length - this.offset, remaining);
      this.advance(count);
      remaining -= count;
    }
  }

  /** Moves past `count` bytes of the oldest chunk, which holds at least that many. */
  private advance(count: number): void {
    this.offset += count;
    if (this.offset < this.chunks[this.head]!.length) return;
    this.head += 1;
    this.offset = 0;
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}

const EMPTY = Buffer.alloc(0);
