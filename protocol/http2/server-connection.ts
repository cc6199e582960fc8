/**
 * The server side of one HTTP/2 connection with prior knowledge (RFC 9113), over any byte
 * stream: inside the control protocol, the plaintext of a controlbase connection.
 *
 * It covers what Tailscale clients use: the preface, SETTINGS, HEADERS and CONTINUATION with
 * HPACK, DATA with stream and connection flow control, WINDOW_UPDATE, PING, RST_STREAM and
 * GOAWAY. PRIORITY is accepted and ignored, and there is no server push. Advertising a header
 * table size of 0 makes the peer's encoder drop its dynamic table once it has our SETTINGS, so
 * an idle connection keeps no header state.
 *
 * Connection errors send GOAWAY and close the transport; stream errors send RST_STREAM.
 */
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW_SIZE,
  ErrorCode,
  FRAME_HEADER_LENGTH,
  Flag,
  type FrameHeader,
  FrameType,
  MAX_ALLOWED_FRAME_SIZE,
  MAX_WINDOW_SIZE,
  PING_PAYLOAD_LENGTH,
  SETTING_LENGTH,
  SETTINGS_ACK_FRAME,
  SettingId,
  encodeFrame,
  encodeGoaway,
  encodeRstStream,
  encodeSettings,
  encodeWindowUpdate,
  errorCodeName,
  readFrameHeader,
  readUint31,
  writeFrameHeader,
} from './frame.js';
import { HpackDecoder, HpackError } from './hpack.js';
import { ServerStream, type StreamOwner } from './server-stream.js';

/** The byte stream below: a controlbase connection, or a socket in tests. */
export interface FrameTransport {
  write(data: Buffer, callback?: (error?: Error | null) => void): unknown;
  /** Closes the sending side once earlier writes are out; without it, the transport is destroyed. */
  end?(): unknown;
  destroy(): void;
  readonly destroyed: boolean;
}

export interface ServerConnectionOptions {
  /** Called with each new request once its headers are complete. */
  onStream: (stream: ServerStream) => void;
  /** Called when the peer broke the protocol and the connection is being closed. */
  onProtocolError?: (error: Http2ProtocolError) => void;
  /** Streams open at once; more are refused with REFUSED_STREAM. */
  maxConcurrentStreams?: number;
  /** Largest decoded header list, by HPACK's accounting; larger requests end the connection. */
  maxHeaderListSize?: number;
  /** Time a stream's response may wait for the peer's window before the stream is reset; 60 s when unset. */
  sendStallTimeoutMs?: number;
  /** Called when a stream is reset because its response made no progress for sendStallTimeoutMs. */
  onStalledStream?: (stream: ServerStream) => void;
}

/** A violation of the protocol by the peer, with the error code sent for it. */
export class Http2ProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(`HTTP/2 ${errorCodeName(code)}: ${message}`);
    this.name = 'Http2ProtocolError';
  }
}

const DEFAULT_MAX_CONCURRENT_STREAMS = 100;
const DEFAULT_MAX_HEADER_LIST_SIZE = 64 * 1024;

/** Receive window given back to the peer in one WINDOW_UPDATE once this much was consumed. */
const CREDIT_THRESHOLD = Math.floor(DEFAULT_WINDOW_SIZE / 2);

/** Time after a GOAWAY before the connection is destroyed, if the client has not closed it. */
const GOAWAY_FLUSH_MS = 1_000;

const DEFAULT_SEND_STALL_TIMEOUT_MS = 60_000;

/**
 * Frames other than DATA handed to the transport and not yet flushed, after which the peer
 * counts as flooding: a client that sends PINGs, SETTINGS or requests and never reads the
 * responses would otherwise grow the server's memory without bound. DATA is bounded by flow
 * control instead. A client that reads has a handful outstanding.
 */
const MAX_UNFLUSHED_CONTROL_FRAMES = 4_096;

/** CONTINUATION frames per header block; empty ones would otherwise cost memory but no bytes. */
const MAX_CONTINUATION_FRAMES = 64;

/**
 * Streams reset per window, by the peer before their response was complete or by this side
 * for the peer's errors. Resetting streams as fast as they open costs the server a request
 * each but is not limited by the concurrency setting.
 */
const MAX_RESETS_PER_WINDOW = 200;
const RESET_WINDOW_MS = 10_000;

/** Streams remembered after this side reset them, whose late frames are ignored (RFC 9113 section 5.4.2). */
const RECENTLY_RESET_STREAMS = 16;

/** Headers that only mean something on an HTTP/1.1 connection (RFC 9113 section 8.2.2). */
const CONNECTION_SPECIFIC_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

const REQUEST_PSEUDO_HEADERS = new Set([':method', ':scheme', ':path', ':authority']);

/** A request whose headers break RFC 9113 section 8; the stream is reset with PROTOCOL_ERROR. */
class MalformedRequestError extends Error {}

export class ServerConnection implements StreamOwner {
  private readonly streams = new Map<number, ServerStream>();
  private readonly decoder = new HpackDecoder();
  private readonly maxConcurrentStreams: number;
  private readonly maxHeaderListSize: number;

  /** Received bytes not parsed yet: the start of a frame that is not complete. */
  private unparsed: Buffer[] = [];
  private unparsedLength = 0;
  /** Bytes `unparsed` must reach before parsing is worth trying again. */
  private bytesNeeded = 0;
  private prefaceReceived = false;
  private settingsReceived = false;
  private dead = false;
  /** Highest stream id the peer has opened. */
  private lastStreamId = 0;
  /** A header block split over CONTINUATION frames, while it is incomplete. */
  private headerBlock: HeaderBlock | undefined;

  // Flow control: the connection-level windows and the values of the peer's SETTINGS.
  private sendWindow = DEFAULT_WINDOW_SIZE;
  private receiveWindow = DEFAULT_WINDOW_SIZE;
  private peerInitialWindowSize = DEFAULT_WINDOW_SIZE;
  private peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  /** Streams with data queued while a window was empty. */
  private readonly blocked = new Set<ServerStream>();

  // Limits against peers that flood the connection.
  private unflushedControlFrames = 0;
  private resets = 0;
  private resetWindowStart = 0;
  /** Ids of the streams this side reset last, oldest first. */
  private readonly recentlyReset: number[] = [];

  constructor(
    private readonly transport: FrameTransport,
    private readonly options: ServerConnectionOptions,
  ) {
    this.maxConcurrentStreams = options.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS;
    this.maxHeaderListSize = options.maxHeaderListSize ?? DEFAULT_MAX_HEADER_LIST_SIZE;

    // The server's preface is a SETTINGS frame, sent without waiting for the client's.
    this.send(
      encodeSettings([
        [SettingId.headerTableSize, 0],
        [SettingId.maxConcurrentStreams, this.maxConcurrentStreams],
        [SettingId.maxHeaderListSize, this.maxHeaderListSize],
      ]),
    );
  }

  /** Requests open now. */
  get streamCount(): number {
    return this.streams.size;
  }

  /** Takes bytes from the transport. */
  receive(chunk: Buffer): void {
    if (this.dead) return;
    // A frame that arrives in many small chunks is joined once, when it is complete, instead of
    // copying the growing rest on every chunk.
    this.unparsed.push(chunk);
    this.unparsedLength += chunk.length;
    if (this.unparsedLength < this.bytesNeeded) return;
    let data = this.unparsed.length === 1 ? chunk : Buffer.concat(this.unparsed, this.unparsedLength);
    this.unparsed = [];
    this.unparsedLength = 0;
    this.bytesNeeded = 0;

    try {
      if (!this.prefaceReceived) {
        const compared = Math.min(data.length, CLIENT_PREFACE.length);
        if (!data.subarray(0, compared).equals(CLIENT_PREFACE.subarray(0, compared))) {
          throw new Http2ProtocolError(ErrorCode.protocolError, 'the connection does not start with the HTTP/2 client preface');
        }
        if (data.length < CLIENT_PREFACE.length) {
          // Checked again with every chunk, so a wrong preface fails at its first wrong byte.
          this.keepUnparsed(data, 0);
          return;
        }
        this.prefaceReceived = true;
        data = data.subarray(CLIENT_PREFACE.length);
      }

      let offset = 0;
      while (data.length - offset >= FRAME_HEADER_LENGTH) {
        const header = readFrameHeader(data, offset);
        if (header.length > DEFAULT_MAX_FRAME_SIZE) {
          throw new Http2ProtocolError(ErrorCode.frameSizeError, `frame of type ${header.type} has ${header.length} bytes, over SETTINGS_MAX_FRAME_SIZE ${DEFAULT_MAX_FRAME_SIZE}`);
        }
        const end = offset + FRAME_HEADER_LENGTH + header.length;
        if (end > data.length) break;
        this.handleFrame(header, data.subarray(offset + FRAME_HEADER_LENGTH, end));
        offset = end;
        if (this.dead) return;
        if (this.unflushedControlFrames > MAX_UNFLUSHED_CONTROL_FRAMES) {
          throw new Http2ProtocolError(ErrorCode.enhanceYourCalm, `the client does not read: ${this.unflushedControlFrames} frames are waiting to be sent`);
        }
        if (this.resets > MAX_RESETS_PER_WINDOW) {
          throw new Http2ProtocolError(ErrorCode.enhanceYourCalm, `more than ${MAX_RESETS_PER_WINDOW} streams were reset within ${RESET_WINDOW_MS / 1000} s`);
        }
      }
      if (offset < data.length) {
        const rest = data.subarray(offset);
        this.keepUnparsed(rest, rest.length >= FRAME_HEADER_LENGTH ? FRAME_HEADER_LENGTH + readFrameHeader(rest, 0).length : FRAME_HEADER_LENGTH);
      }
    } catch (error) {
      if (error instanceof Http2ProtocolError) this.fail(error);
      else throw error;
    }
  }

  /** Keeps the start of an incomplete frame until `needed` bytes are there. */
  private keepUnparsed(rest: Buffer, needed: number): void {
    // A copy, so an idle connection does not keep a whole chunk alive for a few bytes.
    this.unparsed = [Buffer.from(rest)];
    this.unparsedLength = rest.length;
    this.bytesNeeded = needed;
  }

  /** Aborts every open stream because the transport is gone. */
  transportClosed(): void {
    this.dead = true;
    this.unparsed = [];
    this.unparsedLength = 0;
    this.headerBlock = undefined;
    for (const stream of [...this.streams.values()]) this.closeStream(stream, true);
    this.blocked.clear();
  }

  /** Sends GOAWAY with NO_ERROR: the peer should open no new streams here. */
  goAway(debug = ''): void {
    if (!this.dead) this.send(encodeGoaway(this.lastStreamId, ErrorCode.noError, debug));
  }

  // --- StreamOwner ---

  sendHeaders(stream: ServerStream, block: Buffer, endStream: boolean): void {
    if (block.length > this.peerMaxFrameSize) {
      // Response headers here are a status and a content type, far under the 16 KiB minimum.
      throw new Error(`HTTP/2 stream ${stream.id}: response header block of ${block.length} bytes exceeds the peer's frame size`);
    }
    this.send(encodeFrame(FrameType.headers, Flag.endHeaders | (endStream ? Flag.endStream : 0), stream.id, block));
    if (endStream) this.onLocalEnd(stream);
  }

  flush(stream: ServerStream): void {
    if (stream.closed) return;
    const frames: Buffer[] = [];
    const callbacks: Array<(error?: Error) => void> = [];
    let bytes = 0;
    let ended = false;

    while (stream.queue.length > 0) {
      const write = stream.queue[0]!;
      const remaining = write.data.length - write.offset;
      if (remaining === 0 && !write.end) {
        stream.queue.shift();
        if (write.onWritten !== undefined) callbacks.push(write.onWritten);
        continue;
      }
      // An empty write, such as a bare END_STREAM, needs no window even when it is negative.
      const allowed = remaining === 0 ? 0 : Math.min(remaining, stream.sendWindow, this.sendWindow);
      if (allowed <= 0 && remaining > 0) break;

      const finishes = allowed === remaining;
      frames.push(this.dataFrames(stream.id, write.data.subarray(write.offset, write.offset + allowed), finishes && write.end));
      write.offset += allowed;
      stream.sendWindow -= allowed;
      this.sendWindow -= allowed;
      stream.queuedBytes -= allowed;
      bytes += allowed;
      if (!finishes) break;

      stream.queue.shift();
      if (write.onWritten !== undefined) callbacks.push(write.onWritten);
      if (write.end) {
        ended = true;
        break;
      }
    }

    this.trackStall(stream, bytes > 0);
    if (frames.length === 0) {
      for (const callback of callbacks) queueMicrotask(() => callback());
      return;
    }

    stream.inFlightBytes += bytes;
    this.send(frames.length === 1 ? frames[0]! : Buffer.concat(frames), (error) => {
      stream.inFlightBytes -= bytes;
      for (const callback of callbacks) callback(error ?? undefined);
    }, 'data');
    if (ended) this.onLocalEnd(stream);
  }

  /**
   * Keeps a timer on a stream whose response waits for the peer's window, and resets the
   * stream when the window stays shut: otherwise a client that never reads would keep it, and
   * with it the connection, open for good.
   */
  private trackStall(stream: ServerStream, progressed: boolean): void {
    if (stream.queue.length === 0) {
      this.blocked.delete(stream);
      clearTimeout(stream.stallTimer);
      stream.stallTimer = undefined;
      return;
    }
    this.blocked.add(stream);
    if (stream.stallTimer !== undefined && !progressed) return;
    clearTimeout(stream.stallTimer);
    stream.stallTimer = setTimeout(() => {
      stream.stallTimer = undefined;
      if (stream.closed) return;
      this.options.onStalledStream?.(stream);
      this.reset(stream, ErrorCode.cancel);
    }, this.options.sendStallTimeoutMs ?? DEFAULT_SEND_STALL_TIMEOUT_MS);
    stream.stallTimer.unref();
  }

  credit(stream: ServerStream, bytes: number): void {
    // Data after END_STREAM cannot come, so its window need not be returned.
    if (stream.closed || stream.remoteEnded) return;
    stream.consumedBytes += bytes;
    if (stream.consumedBytes < CREDIT_THRESHOLD) return;
    stream.receiveWindow += stream.consumedBytes;
    this.send(encodeWindowUpdate(stream.id, stream.consumedBytes));
    stream.consumedBytes = 0;
  }

  reset(stream: ServerStream, code: number): void {
    if (stream.closed) return;
    if (code !== ErrorCode.noError && code !== ErrorCode.cancel) this.countReset();
    this.send(encodeRstStream(stream.id, code));
    this.rememberReset(stream.id);
    this.closeStream(stream, code !== ErrorCode.noError);
  }

  // --- Frames from the peer ---

  private handleFrame(header: FrameHeader, payload: Buffer): void {
    if (!this.settingsReceived && header.type !== FrameType.settings) {
      throw new Http2ProtocolError(ErrorCode.protocolError, `first frame after the preface has type ${header.type}, expected SETTINGS`);
    }
    if (this.headerBlock !== undefined && header.type !== FrameType.continuation) {
      throw new Http2ProtocolError(ErrorCode.protocolError, `frame of type ${header.type} inside the header block of stream ${this.headerBlock.streamId}, expected CONTINUATION`);
    }

    switch (header.type) {
      case FrameType.data:
        return this.onData(header, payload);
      case FrameType.headers:
        return this.onHeaders(header, payload);
      case FrameType.priority:
        return this.onPriority(header, payload);
      case FrameType.rstStream:
        return this.onRstStream(header, payload);
      case FrameType.settings:
        return this.onSettings(header, payload);
      case FrameType.pushPromise:
        throw new Http2ProtocolError(ErrorCode.protocolError, 'a client sent PUSH_PROMISE');
      case FrameType.ping:
        return this.onPing(header, payload);
      case FrameType.goaway:
        return this.onGoaway(header, payload);
      case FrameType.windowUpdate:
        return this.onWindowUpdate(header, payload);
      case FrameType.continuation:
        return this.onContinuation(header, payload);
      default:
      // Unknown frame types are ignored (RFC 9113 section 4.1).
    }
  }

  /** DATA: [pad length u8 if PADDED] | data | padding. */
  private onData(header: FrameHeader, payload: Buffer): void {
    if (header.streamId === 0) throw new Http2ProtocolError(ErrorCode.protocolError, 'DATA on stream 0');
    if (header.streamId > this.lastStreamId) throw new Http2ProtocolError(ErrorCode.protocolError, `DATA on idle stream ${header.streamId}`);

    // The whole payload, padding included, counts against the connection window (section 6.9.1).
    this.receiveWindow -= payload.length;
    if (this.receiveWindow < 0) throw new Http2ProtocolError(ErrorCode.flowControlError, `DATA of ${payload.length} bytes on stream ${header.streamId} overflows the connection window`);
    this.creditConnection();

    const data = this.unpad(header, payload, 'DATA');
    const stream = this.streams.get(header.streamId);
    if (stream === undefined && this.recentlyReset.includes(header.streamId)) return;
    if (stream === undefined || stream.remoteEnded) {
      this.resetStreamId(header.streamId, ErrorCode.streamClosed, stream);
      return;
    }
    stream.receiveWindow -= payload.length;
    if (stream.receiveWindow < 0) {
      this.reset(stream, ErrorCode.flowControlError);
      return;
    }
    // Padding is consumed at once; only the data waits for a reader.
    this.credit(stream, payload.length - data.length);

    stream.receivedBodyLength += data.length;
    if (stream.expectedBodyLength !== undefined && stream.receivedBodyLength > stream.expectedBodyLength) {
      this.reset(stream, ErrorCode.protocolError);
      return;
    }
    stream.receiveData(data);
    if ((header.flags & Flag.endStream) !== 0) this.onRemoteEnd(stream);
  }

  /** HEADERS: [pad length u8 if PADDED] | [dependency u32, weight u8 if PRIORITY] | header block fragment | padding. */
  private onHeaders(header: FrameHeader, payload: Buffer): void {
    if (header.streamId === 0) throw new Http2ProtocolError(ErrorCode.protocolError, 'HEADERS on stream 0');
    let fragment = this.unpad(header, payload, 'HEADERS');
    // A stream cannot depend on itself (section 5.3.1); the block is still decoded below.
    let selfDependent = false;
    if ((header.flags & Flag.priority) !== 0) {
      if (fragment.length < 5) throw new Http2ProtocolError(ErrorCode.frameSizeError, `HEADERS on stream ${header.streamId} too short for its priority fields`);
      selfDependent = readUint31(fragment, 0) === header.streamId;
      fragment = fragment.subarray(5);
    }

    const block = { streamId: header.streamId, flags: header.flags, selfDependent, fragments: [] as Buffer[], length: fragment.length, continuations: 0 };
    if ((header.flags & Flag.endHeaders) !== 0) {
      this.onHeaderBlock(block, fragment);
      return;
    }
    // A copy, so a header block waiting for CONTINUATION does not keep the whole read alive.
    block.fragments.push(Buffer.from(fragment));
    this.headerBlock = block;
  }

  private onContinuation(header: FrameHeader, payload: Buffer): void {
    const block = this.headerBlock;
    if (block === undefined || block.streamId !== header.streamId) {
      throw new Http2ProtocolError(ErrorCode.protocolError, `CONTINUATION on stream ${header.streamId} without a header block in progress there`);
    }
    block.length += payload.length;
    block.continuations += 1;
    if (block.length > this.maxHeaderListSize) {
      throw new Http2ProtocolError(ErrorCode.enhanceYourCalm, `header block on stream ${header.streamId} exceeds ${this.maxHeaderListSize} bytes`);
    }
    if (block.continuations > MAX_CONTINUATION_FRAMES) {
      throw new Http2ProtocolError(ErrorCode.enhanceYourCalm, `header block on stream ${header.streamId} spans more than ${MAX_CONTINUATION_FRAMES} CONTINUATION frames`);
    }
    if (payload.length > 0) block.fragments.push(Buffer.from(payload));
    if ((header.flags & Flag.endHeaders) === 0) return;
    this.headerBlock = undefined;
    this.onHeaderBlock(block, Buffer.concat(block.fragments, block.length));
  }

  /** Handles a complete header block: a new request, or trailers on an open one. */
  private onHeaderBlock({ streamId, flags, selfDependent }: HeaderBlock, block: Buffer): void {
    // Every block is decoded, even for a refused stream, to keep the HPACK state in step.
    let fields: Array<[string, string]>;
    try {
      fields = this.decoder.decode(block, this.maxHeaderListSize);
    } catch (error) {
      if (error instanceof HpackError) throw new Http2ProtocolError(ErrorCode.compressionError, `stream ${streamId}: ${error.message}`);
      throw error;
    }
    const endStream = (flags & Flag.endStream) !== 0;

    const existing = this.streams.get(streamId);
    if (existing !== undefined) {
      // Trailers: allowed once, with END_STREAM and without pseudo-headers (section 8.1).
      if (existing.remoteEnded) throw new Http2ProtocolError(ErrorCode.streamClosed, `HEADERS on stream ${streamId} after its END_STREAM`);
      if (!endStream || fields.some(([name]) => name.startsWith(':'))) {
        this.reset(existing, ErrorCode.protocolError);
        return;
      }
      this.onRemoteEnd(existing);
      return;
    }
    if (streamId <= this.lastStreamId) {
      // Trailers may still be on their way after this side reset the stream.
      if (this.recentlyReset.includes(streamId)) return;
      throw new Http2ProtocolError(ErrorCode.streamClosed, `HEADERS on closed stream ${streamId}`);
    }
    if (streamId % 2 === 0) throw new Http2ProtocolError(ErrorCode.protocolError, `client opened even stream id ${streamId}`);
    this.lastStreamId = streamId;
    if (selfDependent) {
      this.resetStreamId(streamId, ErrorCode.protocolError);
      return;
    }

    if (this.streams.size >= this.maxConcurrentStreams) {
      this.resetStreamId(streamId, ErrorCode.refusedStream);
      return;
    }

    let request: ParsedRequest;
    try {
      request = parseRequestHeaders(fields);
    } catch (error) {
      if (!(error instanceof MalformedRequestError)) throw error;
      this.resetStreamId(streamId, ErrorCode.protocolError);
      return;
    }
    const stream = new ServerStream(streamId, request.method, request.path, request.headers, { receive: DEFAULT_WINDOW_SIZE, send: this.peerInitialWindowSize }, this);
    stream.expectedBodyLength = request.contentLength;
    this.streams.set(streamId, stream);
    if (endStream) {
      if (request.contentLength !== undefined && request.contentLength !== 0) {
        this.reset(stream, ErrorCode.protocolError);
        return;
      }
      stream.receiveEnd();
    }
    this.options.onStream(stream);
  }

  /** PRIORITY: dependency u32 | weight u8. Priorities are ignored, but the frame is checked. */
  private onPriority(header: FrameHeader, payload: Buffer): void {
    if (header.streamId === 0) throw new Http2ProtocolError(ErrorCode.protocolError, 'PRIORITY on stream 0');
    if (payload.length !== 5) {
      this.resetStreamId(header.streamId, ErrorCode.frameSizeError);
      return;
    }
    if (readUint31(payload, 0) === header.streamId) this.resetStreamId(header.streamId, ErrorCode.protocolError);
  }

  /** RST_STREAM: error code u32. */
  private onRstStream(header: FrameHeader, payload: Buffer): void {
    if (header.streamId === 0) throw new Http2ProtocolError(ErrorCode.protocolError, 'RST_STREAM on stream 0');
    if (payload.length !== 4) throw new Http2ProtocolError(ErrorCode.frameSizeError, `RST_STREAM of ${payload.length} bytes, expected 4`);
    if (header.streamId > this.lastStreamId) throw new Http2ProtocolError(ErrorCode.protocolError, `RST_STREAM on idle stream ${header.streamId}`);
    const stream = this.streams.get(header.streamId);
    if (stream === undefined) return;
    this.closeStream(stream, true);
    this.countReset();
  }

  /** SETTINGS: a list of (identifier u16, value u32); with ACK, empty. */
  private onSettings(header: FrameHeader, payload: Buffer): void {
    if (header.streamId !== 0) throw new Http2ProtocolError(ErrorCode.protocolError, `SETTINGS on stream ${header.streamId}`);
    if ((header.flags & Flag.ack) !== 0) {
      if (payload.length !== 0) throw new Http2ProtocolError(ErrorCode.frameSizeError, `SETTINGS acknowledgement with ${payload.length} bytes of payload`);
      // The peer has received our header table size of 0, so its encoder must shrink its table
      // to nothing in its next block (RFC 7541 section 4.2), as Go's does.
      this.decoder.setMaxTableSize(0);
      return;
    }
    if (payload.length % SETTING_LENGTH !== 0) throw new Http2ProtocolError(ErrorCode.frameSizeError, `SETTINGS of ${payload.length} bytes, not a multiple of ${SETTING_LENGTH}`);

    for (let offset = 0; offset < payload.length; offset += SETTING_LENGTH) {
      const id = payload.readUInt16BE(offset);
      const value = payload.readUInt32BE(offset + 2);
      switch (id) {
        case SettingId.enablePush:
          if (value > 1) throw new Http2ProtocolError(ErrorCode.protocolError, `SETTINGS_ENABLE_PUSH is ${value}, expected 0 or 1`);
          break;
        case SettingId.initialWindowSize:
          this.setPeerInitialWindowSize(value);
          break;
        case SettingId.maxFrameSize:
          if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_ALLOWED_FRAME_SIZE) {
            throw new Http2ProtocolError(ErrorCode.protocolError, `SETTINGS_MAX_FRAME_SIZE is ${value}, outside ${DEFAULT_MAX_FRAME_SIZE}..${MAX_ALLOWED_FRAME_SIZE}`);
          }
          this.peerMaxFrameSize = value;
          break;
        default:
        // The peer's header table size, concurrency and header list limits concern what this
        // side sends: static-table and literal headers, no pushes, two response fields.
      }
    }
    this.settingsReceived = true;
    this.send(SETTINGS_ACK_FRAME);
    this.flushBlocked();
  }

  /** Applies a new SETTINGS_INITIAL_WINDOW_SIZE to every open stream (section 6.9.2). */
  private setPeerInitialWindowSize(value: number): void {
    if (value > MAX_WINDOW_SIZE) throw new Http2ProtocolError(ErrorCode.flowControlError, `SETTINGS_INITIAL_WINDOW_SIZE is ${value}, over ${MAX_WINDOW_SIZE}`);
    const delta = value - this.peerInitialWindowSize;
    this.peerInitialWindowSize = value;
    for (const stream of this.streams.values()) {
      stream.sendWindow += delta;
      if (stream.sendWindow > MAX_WINDOW_SIZE) throw new Http2ProtocolError(ErrorCode.flowControlError, `SETTINGS_INITIAL_WINDOW_SIZE ${value} overflows the window of stream ${stream.id}`);
    }
  }

  /** PING: 8 opaque bytes, echoed back with ACK. */
  private onPing(header: FrameHeader, payload: Buffer): void {
    if (header.streamId !== 0) throw new Http2ProtocolError(ErrorCode.protocolError, `PING on stream ${header.streamId}`);
    if (payload.length !== PING_PAYLOAD_LENGTH) throw new Http2ProtocolError(ErrorCode.frameSizeError, `PING of ${payload.length} bytes, expected ${PING_PAYLOAD_LENGTH}`);
    if ((header.flags & Flag.ack) !== 0) return;
    this.send(encodeFrame(FrameType.ping, Flag.ack, 0, payload));
  }

  /** GOAWAY: last stream id u32 | error code u32 | debug data. Open streams may finish. */
  private onGoaway(header: FrameHeader, payload: Buffer): void {
    if (header.streamId !== 0) throw new Http2ProtocolError(ErrorCode.protocolError, `GOAWAY on stream ${header.streamId}`);
    if (payload.length < 8) throw new Http2ProtocolError(ErrorCode.frameSizeError, `GOAWAY of ${payload.length} bytes, expected at least 8`);
  }

  /** WINDOW_UPDATE: increment u31. */
  private onWindowUpdate(header: FrameHeader, payload: Buffer): void {
    if (payload.length !== 4) throw new Http2ProtocolError(ErrorCode.frameSizeError, `WINDOW_UPDATE of ${payload.length} bytes, expected 4`);
    const increment = readUint31(payload, 0);

    if (header.streamId === 0) {
      if (increment === 0) throw new Http2ProtocolError(ErrorCode.protocolError, 'WINDOW_UPDATE with increment 0 on the connection');
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW_SIZE) throw new Http2ProtocolError(ErrorCode.flowControlError, `WINDOW_UPDATE of ${increment} overflows the connection window`);
      this.flushBlocked();
      return;
    }

    if (header.streamId > this.lastStreamId) throw new Http2ProtocolError(ErrorCode.protocolError, `WINDOW_UPDATE on idle stream ${header.streamId}`);
    const stream = this.streams.get(header.streamId);
    if (stream === undefined) return;
    if (increment === 0) {
      this.reset(stream, ErrorCode.protocolError);
      return;
    }
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW_SIZE) {
      this.reset(stream, ErrorCode.flowControlError);
      return;
    }
    this.flush(stream);
  }

  // --- Helpers ---

  /** Strips the pad length byte and the padding of a PADDED frame. */
  private unpad(header: FrameHeader, payload: Buffer, frame: string): Buffer {
    if ((header.flags & Flag.padded) === 0) return payload;
    if (payload.length < 1) throw new Http2ProtocolError(ErrorCode.frameSizeError, `padded ${frame} on stream ${header.streamId} has no pad length`);
    const padLength = payload[0]!;
    if (padLength >= payload.length) {
      throw new Http2ProtocolError(ErrorCode.protocolError, `${frame} on stream ${header.streamId} has ${padLength} bytes of padding in a ${payload.length}-byte payload`);
    }
    return payload.subarray(1, payload.length - padLength);
  }

  /** Gives back connection window once enough of it was used. */
  private creditConnection(): void {
    const missing = DEFAULT_WINDOW_SIZE - this.receiveWindow;
    if (missing < CREDIT_THRESHOLD) return;
    this.receiveWindow += missing;
    this.send(encodeWindowUpdate(0, missing));
  }

  private onRemoteEnd(stream: ServerStream): void {
    if (stream.expectedBodyLength !== undefined && stream.receivedBodyLength !== stream.expectedBodyLength) {
      this.reset(stream, ErrorCode.protocolError);
      return;
    }
    stream.receiveEnd();
    if (stream.localEnded) this.closeStream(stream, false);
  }

  /** This side's END_STREAM went out: the stream closes, and a request body still coming is cut off. */
  private onLocalEnd(stream: ServerStream): void {
    stream.localEnded = true;
    if (stream.remoteEnded) {
      this.closeStream(stream, false);
      return;
    }
    // The response is complete, so the rest of the request is not needed (section 8.1).
    this.reset(stream, ErrorCode.noError);
  }

  /** Resets a stream that may no longer exist as an object. */
  private resetStreamId(streamId: number, code: number, stream = this.streams.get(streamId)): void {
    if (stream !== undefined) {
      this.reset(stream, code);
      return;
    }
    this.countReset();
    this.send(encodeRstStream(streamId, code));
  }

  /** Counts a stream reset towards MAX_RESETS_PER_WINDOW, which the receive loop checks. */
  private countReset(): void {
    const now = Date.now();
    if (now - this.resetWindowStart > RESET_WINDOW_MS) {
      this.resetWindowStart = now;
      this.resets = 0;
    }
    this.resets += 1;
  }

  private rememberReset(streamId: number): void {
    this.recentlyReset.push(streamId);
    if (this.recentlyReset.length > RECENTLY_RESET_STREAMS) this.recentlyReset.shift();
  }

  private closeStream(stream: ServerStream, aborted: boolean): void {
    this.streams.delete(stream.id);
    this.blocked.delete(stream);
    clearTimeout(stream.stallTimer);
    stream.stallTimer = undefined;
    stream.markClosed(aborted);
  }

  private flushBlocked(): void {
    for (const stream of [...this.blocked]) {
      if (this.sendWindow <= 0) return;
      this.flush(stream);
    }
  }

  /** Cuts data into DATA frames of at most the peer's frame size, in one buffer. */
  private dataFrames(streamId: number, data: Buffer, endStream: boolean): Buffer {
    const frameCount = Math.max(1, Math.ceil(data.length / this.peerMaxFrameSize));
    const out = Buffer.allocUnsafe(data.length + frameCount * FRAME_HEADER_LENGTH);
    let written = 0;
    for (let i = 0; i < frameCount; i++) {
      const start = i * this.peerMaxFrameSize;
      const length = Math.min(this.peerMaxFrameSize, data.length - start);
      const last = i === frameCount - 1;
      writeFrameHeader(out, written, length, FrameType.data, last && endStream ? Flag.endStream : 0, streamId);
      data.copy(out, written + FRAME_HEADER_LENGTH, start, start + length);
      written += FRAME_HEADER_LENGTH + length;
    }
    return out;
  }

  private send(frame: Buffer, callback?: (error?: Error | null) => void, kind: 'control' | 'data' = 'control'): void {
    if (this.transport.destroyed) {
      if (callback !== undefined) queueMicrotask(() => callback(new Error('HTTP/2 connection closed')));
      return;
    }
    if (kind === 'data') {
      this.transport.write(frame, callback);
      return;
    }
    this.unflushedControlFrames += 1;
    this.transport.write(frame, (error) => {
      this.unflushedControlFrames -= 1;
      callback?.(error);
    });
  }

  /** Ends the connection for a protocol violation: GOAWAY, then the transport closes. */
  private fail(error: Http2ProtocolError): void {
    if (this.dead) return;
    this.options.onProtocolError?.(error);
    this.send(encodeGoaway(this.lastStreamId, error.code, error.message));
    this.transportClosed();
    const timer = setTimeout(() => this.transport.destroy(), GOAWAY_FLUSH_MS);
    timer.unref();
    this.send(Buffer.alloc(0), () => {
      if (this.transport.end === undefined) {
        clearTimeout(timer);
        this.transport.destroy();
        return;
      }
      // Half-closing and reading on lets the GOAWAY arrive: destroying a socket with unread
      // input makes the kernel send a TCP reset, which can overtake it. The timer destroys the
      // transport if the client does not close its side.
      this.transport.end();
    });
  }
}

interface HeaderBlock {
  streamId: number;
  /** Flags of the HEADERS frame that started the block. */
  flags: number;
  selfDependent: boolean;
  fragments: Buffer[];
  length: number;
  /** CONTINUATION frames so far. */
  continuations: number;
}

interface ParsedRequest {
  method: string;
  path: string;
  headers: Array<[string, string]>;
  contentLength: number | undefined;
}

/** Checks a request's header list against RFC 9113 section 8.3 and splits off its pseudo-headers. */
function parseRequestHeaders(fields: Array<[string, string]>): ParsedRequest {
  const pseudo = new Map<string, string>();
  const headers: Array<[string, string]> = [];
  let contentLength: number | undefined;

  for (const [name, value] of fields) {
    if (name !== name.toLowerCase()) throw new MalformedRequestError(`header name ${name} has upper-case letters`);
    if (name.startsWith(':')) {
      if (headers.length > 0) throw new MalformedRequestError(`pseudo-header ${name} after a regular header`);
      if (!REQUEST_PSEUDO_HEADERS.has(name)) throw new MalformedRequestError(`unknown pseudo-header ${name}`);
      if (pseudo.has(name)) throw new MalformedRequestError(`pseudo-header ${name} repeated`);
      pseudo.set(name, value);
      continue;
    }
    if (CONNECTION_SPECIFIC_HEADERS.has(name)) throw new MalformedRequestError(`connection-specific header ${name}`);
    if (name === 'te' && value !== 'trailers') throw new MalformedRequestError(`te header is ${value}, only "trailers" is allowed`);
    if (name === 'content-length') {
      if (!/^[0-9]{1,15}$/.test(value)) throw new MalformedRequestError(`content-length ${value} is not a number`);
      contentLength = Number(value);
    }
    headers.push([name, value]);
  }

  const method = pseudo.get(':method');
  const path = pseudo.get(':path');
  if (method === undefined || method === '') throw new MalformedRequestError('no :method');
  if (!pseudo.has(':scheme')) throw new MalformedRequestError('no :scheme');
  if (path === undefined || path === '') throw new MalformedRequestError('no :path');
  return { method, path, headers, contentLength };
}
