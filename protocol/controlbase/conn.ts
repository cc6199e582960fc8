/**
 * A controlbase connection after the handshake: a Duplex of plaintext bytes over a transport
 * that carries encrypted records.
 *
 * The plaintext is one byte stream. Writes are cut into records of at most 4077 plaintext
 * bytes, and upper-layer frames (HTTP/2 for the control protocol) may straddle records. The
 * 3-byte record header is not authenticated, but a changed length breaks the tag of that
 * record. Any record type other than 0x04, any record over 4096 bytes and any failed
 * decryption ends the connection, as in Tailscale's implementation: there is no way to resync.
 */
import { Duplex } from 'node:stream';

import type { MachinePublic } from '../key.js';
import { TAG_LENGTH } from '../noise/primitives.js';
import type { HandshakeResult } from './handshake.js';
import { HEADER_LENGTH, MAX_MESSAGE_SIZE, MAX_PLAINTEXT_SIZE, MessageType, writeHeader } from './messages.js';

/** A record that breaks the framing rules; the connection cannot continue after one. */
export class FrameError extends Error {
  constructor(message: string) {
    super(`controlbase: ${message}`);
    this.name = 'FrameError';
  }
}

export interface ControlConnOptions {
  /** Bytes that arrived after the handshake but before this object existed. */
  initialData?: Uint8Array;
  /**
   * Largest single write to the transport. Over a WebSocket each write becomes one message,
   * and Tailscale's browser client (coder/websocket) rejects messages over 32768 bytes.
   */
  maxTransportWrite?: number;
}

const EMPTY = Buffer.alloc(0);

export class ControlConn extends Duplex {
  readonly peer: MachinePublic;
  readonly protocolVersion: number;
  readonly handshakeHash: Uint8Array;

  private readonly session: HandshakeResult;
  private readonly maxTransportWrite: number;
  private pending: Buffer = EMPTY;
  private transportPaused = false;

  /**
   * @param transport the byte stream below: a TCP socket, or a WebSocket turned into a stream.
   */
  constructor(
    private readonly transport: Duplex,
    session: HandshakeResult,
    options: ControlConnOptions = {},
  ) {
    super({ allowHalfOpen: false });
    const initialData = options.initialData;
    this.maxTransportWrite = options.maxTransportWrite ?? Infinity;
    this.session = session;
    this.peer = session.peer;
    this.protocolVersion = session.protocolVersion;
    this.handshakeHash = session.handshakeHash;

    transport.on('data', (chunk: Buffer) => this.receive(chunk));
    transport.on('end', () => this.push(null));
    transport.on('error', (error) => this.destroy(error));
    transport.on('close', () => {
      if (!this.destroyed) this.destroy();
    });
    if (initialData !== undefined && initialData.length > 0) this.receive(Buffer.from(initialData));
  }

  private receive(chunk: Buffer): void {
    if (this.destroyed) return;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);

    while (this.pending.length >= HEADER_LENGTH) {
      const type = this.pending[0]!;
      const length = this.pending.readUInt16BE(1);
      if (type !== MessageType.record) {
        this.destroy(new FrameError(`received message type 0x${type.toString(16).padStart(2, '0')} after the handshake, expected 0x04`));
        return;
      }
      if (HEADER_LENGTH + length > MAX_MESSAGE_SIZE) {
        this.destroy(new FrameError(`record of ${HEADER_LENGTH + length} bytes exceeds the maximum of ${MAX_MESSAGE_SIZE}`));
        return;
      }
      if (length < TAG_LENGTH) {
        this.destroy(new FrameError(`record of ${length} bytes is shorter than its ${TAG_LENGTH}-byte tag`));
        return;
      }
      if (this.pending.length < HEADER_LENGTH + length) break;

      const ciphertext = this.pending.subarray(HEADER_LENGTH, HEADER_LENGTH + length);
      this.pending = this.pending.length === HEADER_LENGTH + length ? EMPTY : this.pending.subarray(HEADER_LENGTH + length);
      let plaintext: Buffer;
      try {
        plaintext = this.session.receive.open(ciphertext);
      } catch (error) {
        this.destroy(new FrameError(`decrypting record ${this.session.receive.messageCount - 1}: ${(error as Error).message}`));
        return;
      }
      if (plaintext.length > 0 && !this.push(plaintext) && !this.transportPaused) {
        this.transportPaused = true;
        this.transport.pause();
      }
    }
    // A copy of a partial record, so an idle connection does not keep a whole read alive.
    if (this.pending.length > 0 && this.pending.length < chunk.length) this.pending = Buffer.from(this.pending);
  }

  override _read(): void {
    if (this.transportPaused) {
      this.transportPaused = false;
      this.transport.resume();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (chunk.length === 0) {
      callback();
      return;
    }
    this.writeToTransport(this.seal(chunk), callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.writeToTransport(this.seal(Buffer.concat(chunks.map((c) => c.chunk))), callback);
  }

  private writeToTransport(data: Buffer, callback: (error?: Error | null) => void): void {
    let offset = 0;
    while (data.length - offset > this.maxTransportWrite) {
      this.transport.write(data.subarray(offset, offset + this.maxTransportWrite));
      offset += this.maxTransportWrite;
    }
    this.transport.write(data.subarray(offset), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.transport.end(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.transport.destroy();
    callback(error);
  }

  /** Splits plaintext into records and seals each; returns the bytes for the transport. */
  private seal(plaintext: Buffer): Buffer {
    const recordCount = Math.ceil(plaintext.length / MAX_PLAINTEXT_SIZE);
    const out = Buffer.allocUnsafe(plaintext.length + recordCount * (HEADER_LENGTH + TAG_LENGTH));
    let written = 0;
    for (let offset = 0; offset < plaintext.length; offset += MAX_PLAINTEXT_SIZE) {
      const ciphertext = this.session.send.seal(plaintext.subarray(offset, offset + MAX_PLAINTEXT_SIZE));
      writeHeader(out, written, MessageType.record, ciphertext.length);
      ciphertext.copy(out, written + HEADER_LENGTH);
      written += HEADER_LENGTH + ciphertext.length;
    }
    return out;
  }
}
