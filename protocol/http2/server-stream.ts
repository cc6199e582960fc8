/**
 * One request on a server connection: its headers, its body as it arrives, and the response.
 *
 * The body is kept until a handler reads it, and the stream's receive window is only credited
 * as the handler takes the bytes, so a stream never buffers more than one window of unread body.
 * Response data waits in a queue until the peer's flow-control windows allow it out.
 */
import { EventEmitter } from 'node:events';

import { ErrorCode } from './frame.js';
import { encodeHeaders } from './hpack.js';

/** The reason a request body could not be read. */
export type BodyFailure = 'too-large' | 'timeout' | 'aborted';

export class StreamBodyError extends Error {
  constructor(
    readonly reason: BodyFailure,
    message: string,
  ) {
    super(message);
    this.name = 'StreamBodyError';
  }
}

/** A write on a stream that was reset or whose connection closed before the data went out. */
export class StreamClosedError extends Error {
  constructor(streamId: number) {
    super(`HTTP/2 stream ${streamId} closed before the data was sent`);
    this.name = 'StreamClosedError';
  }
}

/** The operations a stream needs from its connection. */
export interface StreamOwner {
  /** Sends a response header block on the stream. */
  sendHeaders(stream: ServerStream, block: Buffer, endStream: boolean): void;
  /** Sends as much of the stream's queued data as the windows allow. */
  flush(stream: ServerStream): void;
  /** Gives the peer back `bytes` of the stream's receive window. */
  credit(stream: ServerStream, bytes: number): void;
  /** Sends RST_STREAM and closes the stream. */
  reset(stream: ServerStream, code: number): void;
}

/** Response bytes waiting for the peer's window. */
export interface QueuedWrite {
  data: Buffer;
  /** Bytes of data already sent. */
  offset: number;
  /** The last write on the stream: its last frame carries END_STREAM. */
  end: boolean;
  onWritten: ((error?: Error) => void) | undefined;
}

interface BodyReader {
  limit: number;
  resolve: (body: Buffer) => void;
  reject: (error: StreamBodyError) => void;
  timer: NodeJS.Timeout;
}

export class ServerStream extends EventEmitter {
  /** Bytes the peer may still send before it needs a WINDOW_UPDATE. */
  receiveWindow: number;
  /** Body bytes read by the handler and not yet given back to the peer's window. */
  consumedBytes = 0;
  /** Bytes this side may still send on the stream, by the peer's SETTINGS and WINDOW_UPDATEs. */
  sendWindow: number;
  /** Body bytes declared by content-length, checked against what arrives. */
  expectedBodyLength: number | undefined;
  receivedBodyLength = 0;

  /** The peer sent END_STREAM. */
  remoteEnded = false;
  /** This side's END_STREAM has been handed to the transport. */
  localEnded = false;
  headersSent = false;
  /** Closed: both sides ended, or the stream was reset, or the connection is gone. */
  closed = false;
  /** Closed before both sides ended normally. */
  aborted = false;

  readonly queue: QueuedWrite[] = [];
  /** Bytes queued and not yet handed to the transport. */
  queuedBytes = 0;
  /** Bytes handed to the transport whose write has not completed. */
  inFlightBytes = 0;
  /** Runs while queued data waits for the peer's window; see ServerConnection.trackStall. */
  stallTimer: NodeJS.Timeout | undefined;

  // Body bytes that arrived before a handler asked for them, or the handler reading them.
  private unread: ByteCollector | undefined;
  private reader: BodyReader | undefined;
  private bodyRead = false;
  /** end() was called, and its data may still wait for the window. */
  private endQueued = false;
  /** The body is being thrown away: read in full, over its limit, or timed out. */
  private discarding = false;
  private body: ByteCollector | undefined;

  constructor(
    readonly id: number,
    readonly method: string,
    readonly path: string,
    /** Regular header fields in arrival order, names in lower case. */
    readonly headers: ReadonlyArray<readonly [string, string]>,
    initialWindows: { receive: number; send: number },
    private readonly owner: StreamOwner,
  ) {
    super();
    this.receiveWindow = initialWindows.receive;
    this.sendWindow = initialWindows.send;
  }

  /** Returns the first value of a header field, by its lower-case name. */
  header(name: string): string | undefined {
    return this.headers.find(([n]) => n === name)?.[1];
  }

  /** Bytes written but not yet handed over and completed by the transport. */
  get bufferedBytes(): number {
    return this.queuedBytes + this.inFlightBytes;
  }

  /**
   * Reads the whole request body, up to `limit` bytes within `timeoutMs`. Over the limit or out
   * of time it rejects, discards the rest of the body and leaves the stream open for the
   * response. A reset or a closed connection rejects with reason 'aborted'.
   */
  readBody(limit: number, timeoutMs: number): Promise<Buffer> {
    if (this.bodyRead) return Promise.reject(new Error(`HTTP/2 stream ${this.id}: body read twice`));
    this.bodyRead = true;
    return new Promise((resolve, reject) => {
      if (this.aborted) {
        reject(new StreamBodyError('aborted', 'the client closed the stream before the request body was complete'));
        return;
      }
      const timer = setTimeout(() => {
        this.stopReading(new StreamBodyError('timeout', `request body not complete within ${timeoutMs} ms`));
      }, timeoutMs);
      this.reader = { limit, resolve, reject, timer };
      this.body = new ByteCollector(Math.min(this.expectedBodyLength ?? INITIAL_BODY_CAPACITY, limit), limit);
      const unread = this.unread?.bytes();
      this.unread = undefined;
      if (unread !== undefined) this.take(unread);
      if (this.remoteEnded && this.reader !== undefined) this.finishBody();
    });
  }

  /** Sends the response headers. */
  respond(status: number, headers: Record<string, string> = {}, endStream = false): void {
    if (this.closed) return;
    if (this.headersSent) throw new Error(`HTTP/2 stream ${this.id}: response headers sent twice`);
    this.headersSent = true;
    const fields: Array<[string, string]> = [[':status', String(status)]];
    for (const [name, value] of Object.entries(headers)) fields.push([name.toLowerCase(), value]);
    if (endStream) this.localEnded = true;
    this.owner.sendHeaders(this, encodeHeaders(fields), endStream);
  }

  /** Queues response data; `onWritten` runs once it is handed to the transport and written, or with an error when the stream closes first. */
  write(data: Buffer, onWritten?: (error?: Error) => void): void {
    this.enqueue(data, false, onWritten);
  }

  /** Ends the response, with a 200 status if none was sent. */
  end(data?: Buffer | string, onWritten?: (error?: Error) => void): void {
    if (this.closed || this.endQueued || this.localEnded) {
      if (onWritten !== undefined) queueMicrotask(() => onWritten(this.closed ? new StreamClosedError(this.id) : undefined));
      return;
    }
    const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : (data ?? Buffer.alloc(0));
    if (!this.headersSent) {
      if (body.length === 0) {
        this.respond(200, {}, true);
        if (onWritten !== undefined) queueMicrotask(onWritten);
        return;
      }
      this.respond(200);
    }
    this.enqueue(body, true, onWritten);
  }

  /** Resets the stream, for example because a handler gave up on it. */
  close(code: number = ErrorCode.cancel): void {
    if (!this.closed) this.owner.reset(this, code);
  }

  private enqueue(data: Buffer, end: boolean, onWritten: ((error?: Error) => void) | undefined): void {
    if (this.closed || this.localEnded || this.endQueued) {
      if (onWritten !== undefined) queueMicrotask(() => onWritten(new StreamClosedError(this.id)));
      return;
    }
    if (!this.headersSent) this.respond(200);
    this.endQueued = end;
    this.queue.push({ data, offset: 0, end, onWritten });
    this.queuedBytes += data.length;
    this.owner.flush(this);
  }

  // --- Called by the connection ---

  /** Body bytes from a DATA frame, already counted against the windows. */
  receiveData(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.discarding) {
      this.owner.credit(this, chunk.length);
      return;
    }
    if (this.reader !== undefined) {
      this.take(chunk);
      return;
    }
    // No handler has asked yet: keep a copy, so the connection's read buffer can be freed. The
    // stream's window, which is not credited until the bytes are read, bounds the copy.
    this.unread ??= new ByteCollector(INITIAL_BODY_CAPACITY, Infinity);
    this.unread.append(chunk);
  }

  /** Records the peer's END_STREAM. */
  receiveEnd(): void {
    this.remoteEnded = true;
    if (this.reader !== undefined) this.finishBody();
  }

  /** Marks the stream closed and emits 'close'. `aborted` is true when it did not end normally. */
  markClosed(aborted: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.aborted = aborted;
    this.unread = undefined;
    if (aborted) this.stopReading(new StreamBodyError('aborted', 'the client closed the stream before the request body was complete'));
    else if (this.reader !== undefined) this.stopReading(new StreamBodyError('aborted', 'the stream closed before the request body was complete'));
    const error = new StreamClosedError(this.id);
    for (const write of this.queue.splice(0)) write.onWritten?.(error);
    this.queuedBytes = 0;
    this.emit('close');
  }

  private take(chunk: Buffer): void {
    const reader = this.reader;
    if (reader === undefined) {
      // The read already failed on an earlier unread chunk: the rest is discarded.
      this.owner.credit(this, chunk.length);
      return;
    }
    if (this.body!.length + chunk.length > reader.limit) {
      this.owner.credit(this, chunk.length);
      this.stopReading(new StreamBodyError('too-large', `request body exceeds ${reader.limit} bytes`));
      return;
    }
    this.body!.append(chunk);
    this.owner.credit(this, chunk.length);
  }

  private finishBody(): void {
    const reader = this.reader!;
    const body = this.body!.bytes();
    this.reader = undefined;
    this.body = undefined;
    this.discarding = true;
    clearTimeout(reader.timer);
    reader.resolve(body);
  }

  /** Fails a pending read and discards the rest of the body. */
  private stopReading(error: StreamBodyError): void {
    this.discarding = true;
    const reader = this.reader;
    this.reader = undefined;
    this.body = undefined;
    if (reader === undefined) return;
    clearTimeout(reader.timer);
    reader.reject(error);
  }
}

/** Capacity a body starts with when its length is not declared; it doubles as needed. */
const INITIAL_BODY_CAPACITY = 1024;

/**
 * Bytes appended in pieces into one buffer that doubles as it fills. A body sent as a million
 * one-byte DATA frames then costs its bytes, not a million buffer objects.
 */
class ByteCollector {
  private buffer: Buffer;
  length = 0;

  constructor(
    initialCapacity: number,
    /** Capacity never grows past this; callers check the limit before they append. */
    private readonly maxCapacity: number,
  ) {
    this.buffer = Buffer.allocUnsafe(initialCapacity);
  }

  append(chunk: Buffer): void {
    const needed = this.length + chunk.length;
    if (needed > this.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(needed, Math.min(this.buffer.length * 2, this.maxCapacity)));
      this.buffer.copy(grown, 0, 0, this.length);
      this.buffer = grown;
    }
    chunk.copy(this.buffer, this.length);
    this.length = needed;
  }

  /** Returns the bytes appended so far, without copying them. */
  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}

export interface ServerStream {
  on(event: 'close', listener: () => void): this;
  once(event: 'close', listener: () => void): this;
  off(event: 'close', listener: () => void): this;
}
