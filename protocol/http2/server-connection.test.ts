import { describe, expect, it } from 'vitest';

import {
  CLIENT_PREFACE,
  DEFAULT_WINDOW_SIZE,
  ErrorCode,
  FRAME_HEADER_LENGTH,
  Flag,
  FrameType,
  MAX_WINDOW_SIZE,
  SETTINGS_ACK_FRAME,
  SettingId,
  encodeFrame,
  encodeRstStream,
  encodeSettings,
  encodeWindowUpdate,
} from './frame.js';
import { HpackDecoder, encodeHeaders } from './hpack.js';
import { type FrameTransport, Http2ProtocolError, ServerConnection, type ServerConnectionOptions } from './server-connection.js';
import { StreamBodyError, StreamClosedError, type ServerStream } from './server-stream.js';

type Field = [string, string];

interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** Largest DATA payload a client may send before the server raises SETTINGS_MAX_FRAME_SIZE. */
const FRAME_SIZE = 16_384;

/** Splits bytes written by the server into frames. A partial frame at the end is a test failure. */
function parseFrames(bytes: Buffer): Frame[] {
  const frames: Frame[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (bytes.length - offset < FRAME_HEADER_LENGTH) throw new Error(`server wrote a partial frame header at offset ${offset}`);
    const length = bytes.readUIntBE(offset, 3);
    const end = offset + FRAME_HEADER_LENGTH + length;
    if (end > bytes.length) throw new Error(`server wrote a frame of ${length} bytes at offset ${offset}, but only ${bytes.length - offset - FRAME_HEADER_LENGTH} follow`);
    frames.push({
      type: bytes[offset + 3]!,
      flags: bytes[offset + 4]!,
      streamId: bytes.readUInt32BE(offset + 5) & 0x7fffffff,
      payload: Buffer.from(bytes.subarray(offset + FRAME_HEADER_LENGTH, end)),
    });
    offset = end;
  }
  return frames;
}

/** A transport that records what the server writes and completes each write on a microtask, or when the test calls completeWrites(). */
class FakeTransport implements FrameTransport {
  destroyed = false;
  /** With false, write callbacks wait until completeWrites(). */
  autoComplete = true;
  private written: Buffer[] = [];
  private readonly pendingCallbacks: Array<(error?: Error | null) => void> = [];

  write(data: Buffer, callback?: (error?: Error | null) => void): boolean {
    this.written.push(Buffer.from(data));
    if (callback !== undefined) {
      if (this.autoComplete) queueMicrotask(() => callback(null));
      else this.pendingCallbacks.push(callback);
    }
    return true;
  }

  destroy(): void {
    this.destroyed = true;
  }

  completeWrites(): void {
    for (const callback of this.pendingCallbacks.splice(0)) callback(null);
  }

  /** Frames written since the last call. */
  takeFrames(): Frame[] {
    const frames = parseFrames(Buffer.concat(this.written));
    this.written = [];
    return frames;
  }
}

/** The client side of one test connection: what the server wrote, and what it called back. */
class TestClient {
  readonly transport = new FakeTransport();
  readonly streams: ServerStream[] = [];
  readonly protocolErrors: Http2ProtocolError[] = [];
  readonly connection: ServerConnection;

  constructor(options: Partial<ServerConnectionOptions> = {}) {
    this.connection = new ServerConnection(this.transport, {
      onStream: (stream) => this.streams.push(stream),
      onProtocolError: (error) => this.protocolErrors.push(error),
      ...options,
    });
  }

  send(...frames: Buffer[]): void {
    this.connection.receive(Buffer.concat(frames));
  }

  frames(): Frame[] {
    return this.transport.takeFrames();
  }
}

/** Creates a client, sends the preface and the given SETTINGS, and discards the server's frames so far. */
function connect(settings: Array<[number, number]> = [], options: Partial<ServerConnectionOptions> = {}): TestClient {
  const client = new TestClient(options);
  client.send(CLIENT_PREFACE, encodeSettings(settings));
  client.frames();
  return client;
}

const REQUEST: Field[] = [
  [':method', 'POST'],
  [':scheme', 'https'],
  [':authority', 'coordinator.test'],
  [':path', '/machine/map'],
];

function requestBlock(extra: Field[] = []): Buffer {
  return encodeHeaders([...REQUEST, ...extra]);
}

function headersFrame(streamId: number, block: Buffer, { endStream = false, endHeaders = true } = {}): Buffer {
  const flags = (endStream ? Flag.endStream : 0) | (endHeaders ? Flag.endHeaders : 0);
  return encodeFrame(FrameType.headers, flags, streamId, block);
}

function continuationFrame(streamId: number, fragment: Buffer, endHeaders: boolean): Buffer {
  return encodeFrame(FrameType.continuation, endHeaders ? Flag.endHeaders : 0, streamId, fragment);
}

function dataFrame(streamId: number, data: Buffer | string, endStream = false): Buffer {
  return encodeFrame(FrameType.data, endStream ? Flag.endStream : 0, streamId, typeof data === 'string' ? Buffer.from(data) : data);
}

/** DATA with PADDED: pad length byte, data, then padLength (at most 255) zero bytes. */
function paddedDataFrame(streamId: number, data: Buffer, padLength: number, endStream = false): Buffer {
  const payload = Buffer.concat([Buffer.from([padLength]), data, Buffer.alloc(padLength)]);
  return encodeFrame(FrameType.data, Flag.padded | (endStream ? Flag.endStream : 0), streamId, payload);
}

function pingFrame(payload: Buffer, ack = false): Buffer {
  return encodeFrame(FrameType.ping, ack ? Flag.ack : 0, 0, payload);
}

/** Opens a request stream and returns the ServerStream that onStream received for it. */
function openStream(client: TestClient, streamId: number, { endStream = false, extra = [] as Field[] } = {}): ServerStream {
  const before = client.streams.length;
  client.send(headersFrame(streamId, requestBlock(extra), { endStream }));
  expect(client.streams).toHaveLength(before + 1);
  const stream = client.streams.at(-1)!;
  expect(stream.id).toBe(streamId);
  return stream;
}

/** Reads a body and marks the promise handled, so a rejection before the test awaits it is not reported as unhandled. */
function readBody(stream: ServerStream, limit: number, timeoutMs = 5_000): Promise<Buffer> {
  const body = stream.readBody(limit, timeoutMs);
  body.catch(() => {});
  return body;
}

function ofType(frames: Frame[], type: number): Frame[] {
  return frames.filter((frame) => frame.type === type);
}

function errorCodeOf(frame: Frame): number {
  return frame.payload.readUInt32BE(frame.type === FrameType.goaway ? 4 : 0);
}

function goawayOf(frame: Frame): { lastStreamId: number; code: number; debug: string } {
  return {
    lastStreamId: frame.payload.readUInt32BE(0) & 0x7fffffff,
    code: frame.payload.readUInt32BE(4),
    debug: frame.payload.subarray(8).toString('utf8'),
  };
}

function incrementOf(frame: Frame): number {
  return frame.payload.readUInt32BE(0) & 0x7fffffff;
}

function settingsOf(frame: Frame): Map<number, number> {
  const settings = new Map<number, number>();
  for (let offset = 0; offset < frame.payload.length; offset += 6) {
    settings.set(frame.payload.readUInt16BE(offset), frame.payload.readUInt32BE(offset + 2));
  }
  return settings;
}

/** Decodes a response header block with a fresh decoder, which works because responses use no dynamic table. */
function responseFields(frame: Frame): Field[] {
  return new HpackDecoder().decode(frame.payload, 1 << 16);
}

/** Window increments the server sent, summed per stream id (0 is the connection). */
function windowUpdates(frames: Frame[]): Map<number, number> {
  const sums = new Map<number, number>();
  for (const frame of ofType(frames, FrameType.windowUpdate)) {
    sums.set(frame.streamId, (sums.get(frame.streamId) ?? 0) + incrementOf(frame));
  }
  return sums;
}

/** Checks that the frames contain exactly one GOAWAY, with the given code, and returns its fields. */
function expectGoaway(frames: Frame[], code: number): { lastStreamId: number; code: number; debug: string } {
  const goaways = ofType(frames, FrameType.goaway);
  expect(goaways).toHaveLength(1);
  const goaway = goawayOf(goaways[0]!);
  expect(goaway.code).toBe(code);
  return goaway;
}

function expectRstStream(frames: Frame[], streamId: number, code: number): void {
  const resets = ofType(frames, FrameType.rstStream);
  expect(resets.map((frame) => [frame.streamId, errorCodeOf(frame)])).toEqual([[streamId, code]]);
}

/** Lets queued microtasks and the transport's write callbacks run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Sends `length` body bytes on a stream as a well-behaved client would: frames of at most
 * 16 KiB, never more than the windows the server granted, counting the WINDOW_UPDATEs it
 * sends back. Fails when the windows run out before the body is sent, and on any
 * RST_STREAM or GOAWAY. Returns the bytes sent.
 */
function sendBodyWithinWindows(client: TestClient, streamId: number, length: number, endStream: boolean): Buffer {
  const body = Buffer.alloc(length);
  for (let i = 0; i < length; i++) body[i] = i % 251;
  let streamWindow = DEFAULT_WINDOW_SIZE;
  let connectionWindow = DEFAULT_WINDOW_SIZE;
  let sent = 0;

  while (sent < length) {
    const size = Math.min(FRAME_SIZE, length - sent, streamWindow, connectionWindow);
    if (size <= 0) {
      throw new Error(`client stalled after ${sent} of ${length} bytes: stream window ${streamWindow}, connection window ${connectionWindow}`);
    }
    client.send(dataFrame(streamId, body.subarray(sent, sent + size), endStream && sent + size === length));
    sent += size;
    streamWindow -= size;
    connectionWindow -= size;

    const frames = client.frames();
    expect(ofType(frames, FrameType.rstStream)).toEqual([]);
    expect(ofType(frames, FrameType.goaway)).toEqual([]);
    streamWindow += windowUpdates(frames).get(streamId) ?? 0;
    connectionWindow += windowUpdates(frames).get(0) ?? 0;
  }
  return body;
}

describe('ServerConnection preface', () => {
  it('sends its SETTINGS before any input', () => {
    const client = new TestClient();

    const frames = client.frames();

    expect(frames).toHaveLength(1);
    expect(frames[0]!.type).toBe(FrameType.settings);
    expect(frames[0]!.flags).toBe(0);
    expect(frames[0]!.streamId).toBe(0);
    expect(settingsOf(frames[0]!)).toEqual(
      new Map([
        [SettingId.headerTableSize, 0],
        [SettingId.maxConcurrentStreams, 100],
        [SettingId.maxHeaderListSize, 65_536],
      ]),
    );
  });

  it('advertises the configured stream and header limits', () => {
    const client = new TestClient({ maxConcurrentStreams: 7, maxHeaderListSize: 4_096 });

    const settings = settingsOf(client.frames()[0]!);

    expect(settings.get(SettingId.headerTableSize)).toBe(0);
    expect(settings.get(SettingId.maxConcurrentStreams)).toBe(7);
    expect(settings.get(SettingId.maxHeaderListSize)).toBe(4_096);
  });

  it('acknowledges the client SETTINGS', () => {
    const client = new TestClient();
    client.frames();

    client.send(CLIENT_PREFACE, encodeSettings([[SettingId.initialWindowSize, 1_000]]));

    const frames = client.frames();
    expect(frames).toEqual([{ type: FrameType.settings, flags: Flag.ack, streamId: 0, payload: Buffer.alloc(0) }]);
  });

  it('rejects a first frame other than SETTINGS', async () => {
    const client = new TestClient();
    client.frames();

    client.send(CLIENT_PREFACE, pingFrame(Buffer.alloc(8)));

    const goaway = expectGoaway(client.frames(), ErrorCode.protocolError);
    expect(goaway.lastStreamId).toBe(0);
    expect(goaway.debug).toMatch(/SETTINGS/);
    expect(client.protocolErrors).toHaveLength(1);
    await settle();
    expect(client.transport.destroyed).toBe(true);
  });

  it('closes the connection on a wrong preface', async () => {
    const client = new TestClient();
    client.frames();

    client.send(Buffer.from('GET / HTTP/1.1\r\nHost: coordinator.test\r\n\r\n'));

    const goaway = expectGoaway(client.frames(), ErrorCode.protocolError);
    expect(goaway.debug).toMatch(/preface/);
    await settle();
    expect(client.transport.destroyed).toBe(true);
  });

  it('rejects a wrong partial preface', async () => {
    const client = new TestClient();
    client.frames();

    client.send(CLIENT_PREFACE.subarray(0, 5));
    expect(client.frames()).toEqual([]);
    client.send(Buffer.from('HTTP/1.1'));

    expectGoaway(client.frames(), ErrorCode.protocolError);
    await settle();
    expect(client.transport.destroyed).toBe(true);
  });

  it('ignores input after closing the connection', () => {
    const client = new TestClient();
    client.frames();
    client.send(CLIENT_PREFACE, pingFrame(Buffer.alloc(8)));
    client.frames();

    client.send(encodeSettings([]), pingFrame(Buffer.alloc(8)));

    expect(client.frames()).toEqual([]);
  });

  it('accepts a preface split over several chunks', () => {
    const client = new TestClient();
    client.frames();

    for (let offset = 0; offset < CLIENT_PREFACE.length; offset += 5) {
      client.connection.receive(CLIENT_PREFACE.subarray(offset, offset + 5));
    }
    expect(client.frames()).toEqual([]);
    client.send(encodeSettings([]));

    expect(client.frames().map((frame) => [frame.type, frame.flags])).toEqual([[FrameType.settings, Flag.ack]]);
  });

  it('accepts a connection delivered one byte at a time', async () => {
    const client = new TestClient();
    client.frames();
    const input = Buffer.concat([
      CLIENT_PREFACE,
      encodeSettings([[SettingId.maxFrameSize, 20_000]]),
      headersFrame(1, requestBlock([['content-length', '11']])),
      dataFrame(1, 'hello '),
      dataFrame(1, 'world', true),
    ]);

    for (const byte of input) client.connection.receive(Buffer.from([byte]));

    expect(client.protocolErrors).toEqual([]);
    expect(client.streams).toHaveLength(1);
    const stream = client.streams[0]!;
    expect(stream.method).toBe('POST');
    expect(stream.path).toBe('/machine/map');
    expect(stream.header('content-length')).toBe('11');
    expect((await readBody(stream, 100)).toString()).toBe('hello world');
    expect(ofType(client.frames(), FrameType.goaway)).toEqual([]);
  });
});

describe('ServerConnection header blocks', () => {
  it('joins HEADERS and two CONTINUATION frames', () => {
    const client = connect();
    const block = requestBlock([
      ['user-agent', 'tailscale test'],
      ['x-request-id', 'abc'],
    ]);

    client.send(headersFrame(1, block.subarray(0, 10), { endHeaders: false }));
    client.send(continuationFrame(1, block.subarray(10, 30), false));
    expect(client.streams).toEqual([]);
    client.send(continuationFrame(1, block.subarray(30), true));

    expect(client.streams).toHaveLength(1);
    const stream = client.streams[0]!;
    expect(stream.path).toBe('/machine/map');
    expect(stream.headers).toEqual([
      ['user-agent', 'tailscale test'],
      ['x-request-id', 'abc'],
    ]);
  });

  it('keeps END_STREAM of the HEADERS frame across CONTINUATION', async () => {
    const client = connect();
    const block = requestBlock();

    client.send(headersFrame(1, block.subarray(0, 4), { endHeaders: false, endStream: true }));
    client.send(continuationFrame(1, block.subarray(4), true));

    expect(client.streams).toHaveLength(1);
    expect(await readBody(client.streams[0]!, 10)).toEqual(Buffer.alloc(0));
  });

  it('rejects another frame inside a header block', async () => {
    const client = connect();
    const block = requestBlock();

    client.send(headersFrame(1, block.subarray(0, 6), { endHeaders: false }));
    client.send(pingFrame(Buffer.alloc(8)));

    const goaway = expectGoaway(client.frames(), ErrorCode.protocolError);
    expect(goaway.debug).toMatch(/CONTINUATION/);
    expect(client.streams).toEqual([]);
    await settle();
    expect(client.transport.destroyed).toBe(true);
  });

  it('rejects CONTINUATION on another stream', () => {
    const client = connect();
    const block = requestBlock();

    client.send(headersFrame(1, block.subarray(0, 6), { endHeaders: false }));
    client.send(continuationFrame(3, block.subarray(6), true));

    expectGoaway(client.frames(), ErrorCode.protocolError);
    expect(client.streams).toEqual([]);
  });

  it('rejects CONTINUATION without a header block', () => {
    const client = connect();

    client.send(continuationFrame(1, requestBlock(), true));

    expectGoaway(client.frames(), ErrorCode.protocolError);
  });

  it('rejects a header block over the list limit', () => {
    const client = connect([], { maxHeaderListSize: 200 });
    const block = requestBlock([['x-large', 'x'.repeat(300)]]);

    client.send(headersFrame(1, block.subarray(0, 50), { endHeaders: false }));
    client.send(continuationFrame(1, block.subarray(50), true));

    expectGoaway(client.frames(), ErrorCode.enhanceYourCalm);
    expect(client.streams).toEqual([]);
  });
});

describe('ServerConnection request bodies', () => {
  it('returns a body that arrived before readBody', async () => {
    const client = connect();
    const stream = openStream(client, 1);
    client.send(dataFrame(1, 'first '), dataFrame(1, 'second', true));

    const body = await readBody(stream, 100);

    expect(body.toString()).toBe('first second');
  });

  it('returns a body that arrives after readBody', async () => {
    const client = connect();
    const stream = openStream(client, 1);
    const body = readBody(stream, 100);

    client.send(dataFrame(1, 'late'));
    client.send(dataFrame(1, ' body', true));

    expect((await body).toString()).toBe('late body');
  });

  it('keeps the stream usable after an oversized body', async () => {
    const client = connect();
    const stream = openStream(client, 1);
    const body = readBody(stream, 1_000);

    client.send(dataFrame(1, Buffer.alloc(1_500)));

    await expect(body).rejects.toBeInstanceOf(StreamBodyError);
    await expect(body).rejects.toMatchObject({ reason: 'too-large' });
    expect(stream.closed).toBe(false);

    stream.respond(413, { 'content-type': 'text/plain' });
    stream.end('request body too large');
    const frames = client.frames();
    const headers = ofType(frames, FrameType.headers);
    expect(headers).toHaveLength(1);
    expect(responseFields(headers[0]!)).toEqual([
      [':status', '413'],
      ['content-type', 'text/plain'],
    ]);
    const data = ofType(frames, FrameType.data);
    expect(Buffer.concat(data.map((frame) => frame.payload)).toString()).toBe('request body too large');
    expect(data.at(-1)!.flags & Flag.endStream).toBe(Flag.endStream);
  });

  it('discards the rest of an oversized body and credits its windows', async () => {
    const client = connect();
    const stream = openStream(client, 1);
    const body = readBody(stream, 1_000);

    // 200 KB is three times the initial window, so the client only gets through with credit.
    sendBodyWithinWindows(client, 1, 200_000, true);

    await expect(body).rejects.toMatchObject({ reason: 'too-large' });
    expect(stream.remoteEnded).toBe(true);
    expect(stream.closed).toBe(false);
    stream.respond(413);
    stream.end();
    expect(stream.closed).toBe(true);
    expect(stream.aborted).toBe(false);
  });

  it('credits unread chunks past the limit on a late read', async () => {
    const client = connect();
    const stream = openStream(client, 1);
    // Four frames fill the whole initial stream window before any handler reads them.
    const frameSizes = [FRAME_SIZE, FRAME_SIZE, FRAME_SIZE, DEFAULT_WINDOW_SIZE - 3 * FRAME_SIZE];
    for (const size of frameSizes) client.send(dataFrame(1, Buffer.alloc(size)));
    client.frames();

    const body = readBody(stream, 1_000);

    await expect(body).rejects.toMatchObject({ reason: 'too-large' });
    // All of the discarded body goes back to the client, which can then send the rest.
    expect(windowUpdates(client.frames()).get(1)).toBe(DEFAULT_WINDOW_SIZE);
  });

  it('rejects a body that does not arrive in time', async () => {
    const client = connect();
    const stream = openStream(client, 1);
    const body = readBody(stream, 100_000, 20);

    client.send(dataFrame(1, 'partial'));

    await expect(body).rejects.toMatchObject({ reason: 'timeout' });
    expect(stream.closed).toBe(false);
    // The late rest of the body is discarded, and its window is given back.
    client.send(dataFrame(1, Buffer.alloc(FRAME_SIZE)), dataFrame(1, Buffer.alloc(FRAME_SIZE)));
    expect(windowUpdates(client.frames()).get(1)).toBe(2 * FRAME_SIZE + 'partial'.length);
  });

  it('rejects readBody when the client resets the stream', async () => {
    const client = connect();
    const stream = openStream(client, 1);
    const closes: boolean[] = [];
    stream.on('close', () => closes.push(stream.aborted));
    const body = readBody(stream, 100_000);
    client.send(dataFrame(1, 'some'));

    client.send(encodeRstStream(1, ErrorCode.cancel));

    await expect(body).rejects.toMatchObject({ reason: 'aborted' });
    expect(closes).toEqual([true]);
    expect(stream.closed).toBe(true);
    expect(client.connection.streamCount).toBe(0);
  });

  it('rejects readBody on a stream the client already reset', async () => {
    const client = connect();
    const stream = openStream(client, 1);
    client.send(encodeRstStream(1, ErrorCode.cancel));

    await expect(readBody(stream, 100)).rejects.toMatchObject({ reason: 'aborted' });
  });

  it('rejects readBody when the transport closes', async () => {
    const client = connect();
    const stream = openStream(client, 1);
    const body = readBody(stream, 100);

    client.connection.transportClosed();

    await expect(body).rejects.toMatchObject({ reason: 'aborted' });
    expect(stream.aborted).toBe(true);
  });

  it('rejects a second readBody', async () => {
    const client = connect();
    const stream = openStream(client, 1, { endStream: true });
    await readBody(stream, 100);

    await expect(readBody(stream, 100)).rejects.toThrow(/body read twice/);
  });

  it('grants windows for a large body as it is read', async () => {
    const client = connect();
    const stream = openStream(client, 1);
    const body = readBody(stream, 1_000_000);

    const sent = sendBodyWithinWindows(client, 1, 200_000, true);

    expect(await body).toEqual(sent);
  });

  it('holds back stream credit until the body is read', () => {
    const client = connect();
    openStream(client, 1);

    client.send(dataFrame(1, Buffer.alloc(FRAME_SIZE)), dataFrame(1, Buffer.alloc(FRAME_SIZE)));

    // The connection window is credited on receipt, the stream window only when read.
    const updates = windowUpdates(client.frames());
    expect(updates.get(0)).toBe(2 * FRAME_SIZE);
    expect(updates.has(1)).toBe(false);
  });

  it('resets a stream whose client overruns the stream window', () => {
    const client = connect();
    const stream = openStream(client, 1);

    for (let i = 0; i < 3; i++) client.send(dataFrame(1, Buffer.alloc(FRAME_SIZE)));
    expect(ofType(client.frames(), FrameType.rstStream)).toEqual([]);
    // 4 × 16384 is one byte over the 65535-byte window.
    client.send(dataFrame(1, Buffer.alloc(FRAME_SIZE)));

    const frames = client.frames();
    expectRstStream(frames, 1, ErrorCode.flowControlError);
    expect(ofType(frames, FrameType.goaway)).toEqual([]);
    expect(stream.closed).toBe(true);
    expect(stream.aborted).toBe(true);
  });

  // NOTE: no test covers an overrun of the connection window (GOAWAY FLOW_CONTROL_ERROR)
  // because no input reaches it. The server returns connection window as soon as half of
  // it was used, so with frames of at most 16 KiB the window never drops below 16 KiB.

  it('counts DATA padding against the stream window', () => {
    const client = connect();
    openStream(client, 1);
    for (let i = 0; i < 3; i++) client.send(dataFrame(1, Buffer.alloc(FRAME_SIZE)));
    client.frames();

    // 16183 data bytes fit in the 16383 left, but with the pad length byte and 200 bytes
    // of padding the payload is 16384 bytes, one over.
    client.send(paddedDataFrame(1, Buffer.alloc(FRAME_SIZE - 201), 200));

    expectRstStream(client.frames(), 1, ErrorCode.flowControlError);
  });

  it('credits DATA padding at once and keeps only the data', async () => {
    const client = connect();
    const stream = openStream(client, 1);
    // Each frame has 100 data bytes and 256 bytes of padding with its pad length byte.
    const frame = (i: number): Buffer => paddedDataFrame(1, Buffer.alloc(100, i), 255);

    for (let i = 0; i < 127; i++) client.send(frame(i));
    expect(windowUpdates(client.frames()).has(1)).toBe(false);
    // 128 × 256 = 32768 bytes of padding crosses half the stream window.
    client.send(frame(127));

    expect(windowUpdates(client.frames()).get(1)).toBe(128 * 256);
    client.send(dataFrame(1, '', true));
    const body = await readBody(stream, 100_000);
    expect(body).toEqual(Buffer.concat(Array.from({ length: 128 }, (_, i) => Buffer.alloc(100, i))));
  });

  it('resets a stream that sends more than its content-length', async () => {
    const client = connect();
    const stream = openStream(client, 1, { extra: [['content-length', '10']] });
    const body = readBody(stream, 100);

    client.send(dataFrame(1, '0123456789'));
    expect(client.frames()).toEqual([]);
    client.send(dataFrame(1, 'x'));

    expectRstStream(client.frames(), 1, ErrorCode.protocolError);
    await expect(body).rejects.toMatchObject({ reason: 'aborted' });
  });

  it('resets a stream that ends short of its content-length', async () => {
    const client = connect();
    const stream = openStream(client, 1, { extra: [['content-length', '10']] });
    const body = readBody(stream, 100);

    client.send(dataFrame(1, '01234', true));

    expectRstStream(client.frames(), 1, ErrorCode.protocolError);
    await expect(body).rejects.toMatchObject({ reason: 'aborted' });
  });

  it('rejects HEADERS with END_STREAM and a nonzero content-length', () => {
    const client = connect();

    client.send(headersFrame(1, requestBlock([['content-length', '5']]), { endStream: true }));

    expectRstStream(client.frames(), 1, ErrorCode.protocolError);
    expect(client.streams).toEqual([]);
  });

  it('accepts a body that matches its content-length', async () => {
    const client = connect();
    const stream = openStream(client, 1, { extra: [['content-length', '10']] });

    client.send(dataFrame(1, '01234'), dataFrame(1, '56789', true));

    expect(ofType(client.frames(), FrameType.rstStream)).toEqual([]);
    expect((await readBody(stream, 100)).toString()).toBe('0123456789');
  });

  it('resets DATA after the client ended the stream', () => {
    const client = connect();
    openStream(client, 1, { endStream: true });

    client.send(dataFrame(1, 'late'));

    const frames = client.frames();
    expectRstStream(frames, 1, ErrorCode.streamClosed);
    expect(ofType(frames, FrameType.goaway)).toEqual([]);
  });

  it('rejects DATA on an idle stream', () => {
    const client = connect();

    client.send(dataFrame(1, 'early'));

    expectGoaway(client.frames(), ErrorCode.protocolError);
  });
});

describe('ServerConnection response flow control', () => {
  it('sends a response only as fast as the client window allows', async () => {
    const client = connect([[SettingId.initialWindowSize, 1_000]]);
    const stream = openStream(client, 1, { endStream: true });
    client.transport.autoComplete = false;
    const data = Buffer.alloc(5_000);
    for (let i = 0; i < data.length; i++) data[i] = i % 256;
    const results: Array<Error | undefined> = [];

    stream.respond(200);
    stream.write(data, (error) => results.push(error));

    let frames = client.frames();
    expect(frames.map((frame) => [frame.type, frame.payload.length])).toEqual([
      [FrameType.headers, 1],
      [FrameType.data, 1_000],
    ]);
    expect(frames[1]!.flags).toBe(0);
    // 4000 bytes wait for the window and 1000 for the transport.
    expect(stream.bufferedBytes).toBe(5_000);
    client.transport.completeWrites();
    expect(stream.bufferedBytes).toBe(4_000);

    const received = [frames[1]!.payload];
    for (let i = 1; i <= 4; i++) {
      client.send(encodeWindowUpdate(1, 1_000));
      frames = client.frames();
      expect(frames.map((frame) => [frame.type, frame.payload.length])).toEqual([[FrameType.data, 1_000]]);
      received.push(frames[0]!.payload);
      expect(stream.bufferedBytes).toBe(5_000 - 1_000 * i);
      await settle();
      expect(results).toEqual([]);
      client.transport.completeWrites();
      expect(stream.bufferedBytes).toBe(4_000 - 1_000 * i);
      await settle();
      expect(results).toEqual(i === 4 ? [undefined] : []);
    }
    expect(Buffer.concat(received)).toEqual(data);
  });

  it('calls back after the transport write', async () => {
    const client = connect();
    const stream = openStream(client, 1, { endStream: true });
    client.transport.autoComplete = false;
    const results: Array<Error | undefined> = [];

    stream.write(Buffer.from('payload'), (error) => results.push(error));
    await settle();
    expect(results).toEqual([]);
    expect(stream.bufferedBytes).toBe(7);

    client.transport.completeWrites();
    expect(results).toEqual([undefined]);
    expect(stream.bufferedBytes).toBe(0);
  });

  it('applies a new initial window to open streams, below zero too', async () => {
    const client = connect([[SettingId.initialWindowSize, 1_000]]);
    const stream = openStream(client, 1, { endStream: true });
    stream.write(Buffer.alloc(3_000));
    expect(ofType(client.frames(), FrameType.data).map((frame) => frame.payload.length)).toEqual([1_000]);

    // The window drops from 0 to -500.
    client.send(encodeSettings([[SettingId.initialWindowSize, 500]]));
    expect(client.frames().map((frame) => frame.type)).toEqual([FrameType.settings]);
    client.send(encodeWindowUpdate(1, 600));
    expect(ofType(client.frames(), FrameType.data).map((frame) => frame.payload.length)).toEqual([100]);

    // The window grows by 1500, from 0 to 1500.
    client.send(encodeSettings([[SettingId.initialWindowSize, 2_000]]));
    expect(ofType(client.frames(), FrameType.data).map((frame) => frame.payload.length)).toEqual([1_500]);
    await settle();
    expect(stream.bufferedBytes).toBe(400);
  });

  it('applies the initial window to streams opened later', () => {
    const client = connect();
    client.send(encodeSettings([[SettingId.initialWindowSize, 100]]));
    const stream = openStream(client, 1, { endStream: true });
    client.frames();

    stream.write(Buffer.alloc(300));

    expect(ofType(client.frames(), FrameType.data).map((frame) => frame.payload.length)).toEqual([100]);
  });

  it('cuts DATA at the default max frame size', () => {
    const client = connect();
    const stream = openStream(client, 1, { endStream: true });

    stream.end(Buffer.alloc(40_000));

    const data = ofType(client.frames(), FrameType.data);
    expect(data.map((frame) => frame.payload.length)).toEqual([16_384, 16_384, 7_232]);
    expect(data.map((frame) => frame.flags)).toEqual([0, 0, Flag.endStream]);
  });

  it('cuts DATA at the max frame size the client set', () => {
    const client = connect([
      [SettingId.maxFrameSize, 32_768],
      [SettingId.initialWindowSize, 100_000],
    ]);
    const stream = openStream(client, 1, { endStream: true });

    stream.write(Buffer.alloc(40_000));

    expect(ofType(client.frames(), FrameType.data).map((frame) => frame.payload.length)).toEqual([32_768, 7_232]);
  });

  it('rejects a max frame size outside the allowed range', () => {
    const client = connect();

    client.send(encodeSettings([[SettingId.maxFrameSize, 16_383]]));

    expectGoaway(client.frames(), ErrorCode.protocolError);
  });

  it('shares the connection window between streams', async () => {
    const client = connect([[SettingId.initialWindowSize, 1_000_000]]);
    const first = openStream(client, 1, { endStream: true });
    const second = openStream(client, 3, { endStream: true });
    const sentOn = (frames: Frame[], streamId: number): number =>
      ofType(frames, FrameType.data)
        .filter((frame) => frame.streamId === streamId)
        .reduce((sum, frame) => sum + frame.payload.length, 0);

    first.write(Buffer.alloc(50_000));
    second.write(Buffer.alloc(50_000));
    let frames = client.frames();
    expect(sentOn(frames, 1)).toBe(50_000);
    expect(sentOn(frames, 3)).toBe(DEFAULT_WINDOW_SIZE - 50_000);

    client.send(encodeWindowUpdate(0, 20_000));
    frames = client.frames();
    expect(sentOn(frames, 3)).toBe(20_000);
    await settle();
    expect(second.bufferedBytes).toBe(50_000 - (DEFAULT_WINDOW_SIZE - 50_000) - 20_000);

    client.send(encodeWindowUpdate(0, 100_000));
    expect(sentOn(client.frames(), 3)).toBe(50_000 - (DEFAULT_WINDOW_SIZE - 50_000) - 20_000);
    await settle();
    expect(second.bufferedBytes).toBe(0);
  });

  it('does not send zero-length DATA while the window is empty', () => {
    const client = connect([[SettingId.initialWindowSize, 0]]);
    const stream = openStream(client, 1, { endStream: true });
    stream.respond(200);
    client.frames();

    stream.write(Buffer.alloc(10));

    expect(client.frames()).toEqual([]);
    expect(stream.bufferedBytes).toBe(10);
  });

  it('sends END_STREAM with no data while the window is empty', () => {
    const client = connect([[SettingId.initialWindowSize, 0]]);
    const stream = openStream(client, 1, { endStream: true });
    stream.respond(200);
    client.frames();

    stream.end();

    const frames = client.frames();
    expect(frames.map((frame) => [frame.type, frame.flags, frame.payload.length])).toEqual([[FrameType.data, Flag.endStream, 0]]);
    expect(stream.closed).toBe(true);
  });

  it('sends END_STREAM with no data while the window is negative', () => {
    const client = connect([[SettingId.initialWindowSize, 1_000]]);
    const stream = openStream(client, 1, { endStream: true });
    stream.write(Buffer.alloc(1_000));
    client.send(encodeSettings([[SettingId.initialWindowSize, 500]]));
    client.frames();

    stream.end();

    const frames = client.frames();
    expect(frames.map((frame) => [frame.type, frame.flags, frame.payload.length])).toEqual([[FrameType.data, Flag.endStream, 0]]);
    expect(stream.closed).toBe(true);
  });

  it('resets a stream whose window update overflows', () => {
    const client = connect();
    const stream = openStream(client, 1, { endStream: true });

    client.send(encodeWindowUpdate(1, MAX_WINDOW_SIZE));

    const frames = client.frames();
    expectRstStream(frames, 1, ErrorCode.flowControlError);
    expect(ofType(frames, FrameType.goaway)).toEqual([]);
    expect(stream.closed).toBe(true);
  });

  it('closes the connection when its window update overflows', async () => {
    const client = connect();
    openStream(client, 1, { endStream: true });

    client.send(encodeWindowUpdate(0, MAX_WINDOW_SIZE));

    const goaway = expectGoaway(client.frames(), ErrorCode.flowControlError);
    expect(goaway.lastStreamId).toBe(1);
    expect(client.protocolErrors).toHaveLength(1);
    const error = client.protocolErrors[0]!;
    expect(error).toBeInstanceOf(Http2ProtocolError);
    expect(error.code).toBe(ErrorCode.flowControlError);
    expect(error.message).toMatch(/FLOW_CONTROL_ERROR/);
    expect(error.message).toMatch(/WINDOW_UPDATE/);
    expect(goaway.debug).toBe(error.message);
    await settle();
    expect(client.transport.destroyed).toBe(true);
  });

  it('rejects an initial window that overflows a stream', () => {
    const client = connect();
    const stream = openStream(client, 1, { endStream: true });
    client.send(encodeWindowUpdate(1, MAX_WINDOW_SIZE - DEFAULT_WINDOW_SIZE));
    expect(client.frames()).toEqual([]);

    client.send(encodeSettings([[SettingId.initialWindowSize, DEFAULT_WINDOW_SIZE + 1]]));

    expectGoaway(client.frames(), ErrorCode.flowControlError);
    expect(stream.aborted).toBe(true);
  });
});

describe('ServerConnection response ends', () => {
  it('ends early with END_STREAM and RST_STREAM NO_ERROR', () => {
    const client = connect();
    const stream = openStream(client, 1);
    const closes: boolean[] = [];
    stream.on('close', () => closes.push(stream.aborted));

    stream.respond(200);
    stream.end('done');

    const frames = client.frames();
    expect(frames.map((frame) => [frame.type, frame.flags])).toEqual([
      [FrameType.headers, Flag.endHeaders],
      [FrameType.data, Flag.endStream],
      [FrameType.rstStream, 0],
    ]);
    expect(frames[1]!.payload.toString()).toBe('done');
    expect(errorCodeOf(frames[2]!)).toBe(ErrorCode.noError);
    expect(closes).toEqual([false]);
    expect(stream.closed).toBe(true);
    expect(client.connection.streamCount).toBe(0);
  });

  it('closes without RST_STREAM after the client ended', () => {
    const client = connect();
    const stream = openStream(client, 1, { endStream: true });

    stream.end('done');

    expect(ofType(client.frames(), FrameType.rstStream)).toEqual([]);
    expect(stream.closed).toBe(true);
    expect(stream.aborted).toBe(false);
    expect(client.connection.streamCount).toBe(0);
  });

  it('sends status 200 on end without respond', () => {
    const client = connect();
    const stream = openStream(client, 1, { endStream: true });

    stream.end();

    const frames = client.frames();
    expect(frames.map((frame) => [frame.type, frame.flags])).toEqual([[FrameType.headers, Flag.endHeaders | Flag.endStream]]);
    expect(responseFields(frames[0]!)).toEqual([[':status', '200']]);
  });

  it('sends status 200 before data on end without respond', () => {
    const client = connect();
    const stream = openStream(client, 1, { endStream: true });

    stream.end('{}');

    const frames = client.frames();
    expect(frames.map((frame) => [frame.type, frame.flags])).toEqual([
      [FrameType.headers, Flag.endHeaders],
      [FrameType.data, Flag.endStream],
    ]);
    expect(responseFields(frames[0]!)).toEqual([[':status', '200']]);
  });

  it('fails a write after end with StreamClosedError', async () => {
    const client = connect();
    const stream = openStream(client, 1, { endStream: true });
    stream.end('done');
    client.frames();
    const results: Array<Error | undefined> = [];

    stream.write(Buffer.from('late'), (error) => results.push(error));
    stream.end('again', (error) => results.push(error));

    await settle();
    expect(results).toHaveLength(2);
    expect(results[0]).toBeInstanceOf(StreamClosedError);
    expect(results[1]).toBeInstanceOf(StreamClosedError);
    expect(client.frames()).toEqual([]);
  });

  it('fails a write queued behind a blocked end', async () => {
    const client = connect([[SettingId.initialWindowSize, 10]]);
    const stream = openStream(client, 1, { endStream: true });
    const results: Array<Error | undefined> = [];
    stream.end(Buffer.alloc(20), (error) => results.push(error));

    stream.write(Buffer.from('late'), (error) => results.push(error));
    client.send(encodeWindowUpdate(1, 100));

    await settle();
    const data = ofType(client.frames(), FrameType.data);
    expect(data.map((frame) => [frame.payload.length, frame.flags])).toEqual([
      [10, 0],
      [10, Flag.endStream],
    ]);
    expect(results).toHaveLength(2);
    expect(results[0]).toBeInstanceOf(StreamClosedError);
    expect(results[1]).toBeUndefined();
  });

  it('fails a write after close with StreamClosedError', async () => {
    const client = connect();
    const stream = openStream(client, 1, { endStream: true });
    stream.close();
    expectRstStream(client.frames(), 1, ErrorCode.cancel);
    const results: Array<Error | undefined> = [];

    stream.write(Buffer.from('late'), (error) => results.push(error));

    await settle();
    expect(results).toHaveLength(1);
    expect(results[0]).toBeInstanceOf(StreamClosedError);
    expect(client.frames()).toEqual([]);
  });

  it('fails queued writes when the client resets the stream', () => {
    const client = connect([[SettingId.initialWindowSize, 0]]);
    const stream = openStream(client, 1, { endStream: true });
    const results: Array<Error | undefined> = [];
    stream.write(Buffer.alloc(100), (error) => results.push(error));
    stream.end(Buffer.alloc(100), (error) => results.push(error));
    expect(stream.bufferedBytes).toBe(200);

    client.send(encodeRstStream(1, ErrorCode.cancel));

    expect(results).toHaveLength(2);
    expect(results[0]).toBeInstanceOf(StreamClosedError);
    expect(results[1]).toBeInstanceOf(StreamClosedError);
    expect(stream.bufferedBytes).toBe(0);
    expect(stream.aborted).toBe(true);
    expect(ofType(client.frames(), FrameType.data)).toEqual([]);
  });

  it('fails queued writes when the transport closes', () => {
    const client = connect([[SettingId.initialWindowSize, 0]]);
    const first = openStream(client, 1, { endStream: true });
    const second = openStream(client, 3, { endStream: true });
    const results: Array<Error | undefined> = [];
    first.write(Buffer.alloc(100), (error) => results.push(error));
    second.write(Buffer.alloc(100), (error) => results.push(error));

    client.connection.transportClosed();

    expect(results).toHaveLength(2);
    expect(results.every((error) => error instanceof StreamClosedError)).toBe(true);
    expect(first.aborted).toBe(true);
    expect(second.aborted).toBe(true);
    expect(client.connection.streamCount).toBe(0);
  });
});

describe('ServerConnection stream limits', () => {
  /** Request pseudo-headers with :path as a literal with incremental indexing (0x40 | static name index 4). */
  const indexingBlock = Buffer.concat([
    encodeHeaders([
      [':method', 'GET'],
      [':scheme', 'https'],
      [':authority', 'coordinator.test'],
    ]),
    Buffer.from([0x44, 8]),
    Buffer.from('/indexed', 'latin1'),
  ]);
  /** The same request with :path as index 62, the newest dynamic table entry. */
  const indexedBlock = Buffer.concat([
    encodeHeaders([
      [':method', 'GET'],
      [':scheme', 'https'],
      [':authority', 'coordinator.test'],
    ]),
    Buffer.from([0x80 | 62]),
  ]);

  it('refuses a stream beyond the concurrency limit', () => {
    const client = connect([], { maxConcurrentStreams: 1 });
    openStream(client, 1);

    client.send(headersFrame(3, indexingBlock, { endStream: true }));

    const frames = client.frames();
    expectRstStream(frames, 3, ErrorCode.refusedStream);
    expect(ofType(frames, FrameType.goaway)).toEqual([]);
    expect(client.streams).toHaveLength(1);
    expect(client.connection.streamCount).toBe(1);
  });

  it('decodes the header block of a refused stream', () => {
    const client = connect([], { maxConcurrentStreams: 1 });
    const first = openStream(client, 1);
    client.send(headersFrame(3, indexingBlock, { endStream: true }));
    first.end();
    client.frames();

    client.send(headersFrame(5, indexedBlock, { endStream: true }));

    expect(client.frames()).toEqual([]);
    expect(client.streams.map((stream) => [stream.id, stream.path])).toEqual([
      [1, '/machine/map'],
      [5, '/indexed'],
    ]);
  });

  it('accepts streams again once one closes', () => {
    const client = connect([], { maxConcurrentStreams: 1 });
    openStream(client, 1, { endStream: true }).end();

    openStream(client, 3, { endStream: true });

    expect(ofType(client.frames(), FrameType.rstStream)).toEqual([]);
  });

  it('rejects dynamic table entries after SETTINGS ACK', async () => {
    const client = connect();
    client.send(headersFrame(1, indexingBlock, { endStream: true }));
    expect(client.streams.map((stream) => stream.path)).toEqual(['/indexed']);

    client.send(SETTINGS_ACK_FRAME);
    client.send(headersFrame(3, indexedBlock, { endStream: true }));

    const goaway = expectGoaway(client.frames(), ErrorCode.compressionError);
    expect(goaway.lastStreamId).toBe(1);
    expect(client.streams).toHaveLength(1);
    await settle();
    expect(client.transport.destroyed).toBe(true);
  });

  it('rejects a table size increase after SETTINGS ACK', () => {
    const client = connect();
    client.send(SETTINGS_ACK_FRAME);

    // Dynamic table size update to 4096: 001 11111, then 4065 in two continuation bytes.
    client.send(headersFrame(1, Buffer.concat([Buffer.from([0x3f, 0xe1, 0x1f]), requestBlock()]), { endStream: true }));

    expectGoaway(client.frames(), ErrorCode.compressionError);
    expect(client.streams).toEqual([]);
  });

  it('accepts a table size update to 0', () => {
    const client = connect();
    client.send(SETTINGS_ACK_FRAME);

    client.send(headersFrame(1, Buffer.concat([Buffer.from([0x20]), requestBlock()]), { endStream: true }));

    expect(client.frames()).toEqual([]);
    expect(client.streams).toHaveLength(1);
  });
});

describe('ServerConnection request validation', () => {
  const malformed: Array<[string, Field[]]> = [
    ['an upper-case header name', [...REQUEST, ['X-Upper', '1']]],
    ['no :path', REQUEST.filter(([name]) => name !== ':path')],
    ['no :method', REQUEST.filter(([name]) => name !== ':method')],
    ['no :scheme', REQUEST.filter(([name]) => name !== ':scheme')],
    ['a connection header', [...REQUEST, ['connection', 'keep-alive']]],
    ['a transfer-encoding header', [...REQUEST, ['transfer-encoding', 'chunked']]],
    ['a pseudo-header after a regular one', [...REQUEST.slice(0, 3), ['user-agent', 'test'], REQUEST[3]!]],
    ['te other than trailers', [...REQUEST, ['te', 'gzip']]],
    ['an unknown pseudo-header', [...REQUEST, [':status', '200']]],
    ['a repeated pseudo-header', [...REQUEST, [':path', '/other']]],
    ['a content-length that is not a number', [...REQUEST, ['content-length', '1e3']]],
  ];

  for (const [problem, fields] of malformed) {
    it(`resets a request with ${problem}`, () => {
      const client = connect();

      client.send(headersFrame(1, encodeHeaders(fields), { endStream: true }));

      const frames = client.frames();
      expectRstStream(frames, 1, ErrorCode.protocolError);
      expect(ofType(frames, FrameType.goaway)).toEqual([]);
      expect(client.streams).toEqual([]);
      // The connection stays usable.
      openStream(client, 3, { endStream: true });
    });
  }

  it('accepts te: trailers', () => {
    const client = connect();

    const stream = openStream(client, 1, { endStream: true, extra: [['te', 'trailers']] });

    expect(stream.header('te')).toBe('trailers');
    expect(client.frames()).toEqual([]);
  });

  it('accepts trailers that end the stream', async () => {
    const client = connect();
    const stream = openStream(client, 1);
    const body = readBody(stream, 100);

    client.send(dataFrame(1, 'abc'));
    client.send(headersFrame(1, encodeHeaders([['x-checksum', '1']]), { endStream: true }));

    expect((await body).toString()).toBe('abc');
    expect(client.frames()).toEqual([]);
    expect(stream.remoteEnded).toBe(true);
  });

  it('resets trailers without END_STREAM', async () => {
    const client = connect();
    const stream = openStream(client, 1);
    const body = readBody(stream, 100);

    client.send(headersFrame(1, encodeHeaders([['x-checksum', '1']])));

    expectRstStream(client.frames(), 1, ErrorCode.protocolError);
    await expect(body).rejects.toMatchObject({ reason: 'aborted' });
  });

  it('resets trailers with a pseudo-header', () => {
    const client = connect();
    openStream(client, 1);

    client.send(headersFrame(1, encodeHeaders([[':path', '/']]), { endStream: true }));

    expectRstStream(client.frames(), 1, ErrorCode.protocolError);
  });

  it('rejects an even stream id', () => {
    const client = connect();

    client.send(headersFrame(2, requestBlock(), { endStream: true }));

    expectGoaway(client.frames(), ErrorCode.protocolError);
    expect(client.streams).toEqual([]);
  });

  it('rejects a stream id lower than one already used', () => {
    const client = connect();
    openStream(client, 5, { endStream: true });

    client.send(headersFrame(3, requestBlock(), { endStream: true }));

    const goaway = expectGoaway(client.frames(), ErrorCode.streamClosed);
    expect(goaway.lastStreamId).toBe(5);
    expect(client.streams).toHaveLength(1);
  });

  it('rejects a reused stream id', () => {
    const client = connect();
    openStream(client, 1, { endStream: true }).end();
    client.frames();

    client.send(headersFrame(1, requestBlock(), { endStream: true }));

    expectGoaway(client.frames(), ErrorCode.streamClosed);
    expect(client.streams).toHaveLength(1);
  });

  it('resets a stream that depends on itself', () => {
    const client = connect();
    const priority = Buffer.from([0, 0, 0, 1, 16]);

    client.send(encodeFrame(FrameType.headers, Flag.endHeaders | Flag.endStream | Flag.priority, 1, Buffer.concat([priority, requestBlock()])));

    expectRstStream(client.frames(), 1, ErrorCode.protocolError);
    expect(client.streams).toEqual([]);
  });
});

describe('ServerConnection control frames', () => {
  it('answers PING with ACK and the same payload', () => {
    const client = connect();
    const payload = Buffer.from('01234567');

    client.send(pingFrame(payload));

    expect(client.frames()).toEqual([{ type: FrameType.ping, flags: Flag.ack, streamId: 0, payload }]);
  });

  it('does not answer a PING ACK', () => {
    const client = connect();

    client.send(pingFrame(Buffer.from('01234567'), true));

    expect(client.frames()).toEqual([]);
  });

  it('rejects a PING of the wrong length', () => {
    const client = connect();

    client.send(pingFrame(Buffer.alloc(7)));

    const goaway = expectGoaway(client.frames(), ErrorCode.frameSizeError);
    expect(goaway.debug).toMatch(/PING/);
  });

  it('names the frame in the protocol error', () => {
    const client = connect();

    client.send(encodeFrame(FrameType.settings, 0, 1, Buffer.alloc(0)));

    expect(client.protocolErrors).toHaveLength(1);
    const error = client.protocolErrors[0]!;
    expect(error).toBeInstanceOf(Http2ProtocolError);
    expect(error.code).toBe(ErrorCode.protocolError);
    expect(error.message).toBe('HTTP/2 PROTOCOL_ERROR: SETTINGS on stream 1');
  });

  it('ignores PRIORITY and unknown frame types', () => {
    const client = connect();
    openStream(client, 1);

    client.send(encodeFrame(FrameType.priority, 0, 1, Buffer.from([0, 0, 0, 0, 16])));
    client.send(encodeFrame(0xfa, 0, 0, Buffer.from('extension')));

    expect(client.frames()).toEqual([]);
  });

  it('sends GOAWAY NO_ERROR on goAway and keeps open streams', () => {
    const client = connect();
    const stream = openStream(client, 3, { endStream: true });

    client.connection.goAway('shutting down');

    const goaway = expectGoaway(client.frames(), ErrorCode.noError);
    expect(goaway.lastStreamId).toBe(3);
    expect(goaway.debug).toBe('shutting down');
    stream.end('still answered');
    expect(ofType(client.frames(), FrameType.data)).toHaveLength(1);
    expect(client.transport.destroyed).toBe(false);
  });
});

describe('ServerConnection flood limits', () => {
  it('closes a connection whose client sends PINGs and never reads', () => {
    const client = connect();
    client.transport.autoComplete = false;

    const pings = Array.from({ length: 5_000 }, () => pingFrame(Buffer.alloc(8)));
    client.send(...pings);

    const frames = client.frames();
    expect(ofType(frames, FrameType.ping).length).toBeLessThan(5_000);
    expectGoaway(frames, ErrorCode.enhanceYourCalm);
    expect(client.protocolErrors[0]!.message).toContain('the client does not read');
  });

  it('keeps a connection whose client reads its PING answers', async () => {
    const client = connect();
    for (let round = 0; round < 10; round++) {
      client.send(...Array.from({ length: 1_000 }, () => pingFrame(Buffer.alloc(8))));
      await settle();
    }

    const frames = client.frames();
    expect(ofType(frames, FrameType.ping)).toHaveLength(10_000);
    expect(ofType(frames, FrameType.goaway)).toHaveLength(0);
  });

  it('limits empty CONTINUATION frames in one header block', () => {
    const client = connect();
    client.send(headersFrame(1, requestBlock(), { endHeaders: false }));

    client.send(...Array.from({ length: 100 }, () => continuationFrame(1, Buffer.alloc(0), false)));

    const goaway = expectGoaway(client.frames(), ErrorCode.enhanceYourCalm);
    expect(goaway.debug).toContain('more than 64 CONTINUATION frames');
  });

  it('accepts a header block over a few CONTINUATION frames', () => {
    const client = connect();
    const block = requestBlock([['user-agent', 'x'.repeat(600)]]);
    const pieces = [block.subarray(0, 200), block.subarray(200, 400), block.subarray(400)];

    client.send(headersFrame(1, pieces[0]!, { endHeaders: false, endStream: true }), continuationFrame(1, pieces[1]!, false), continuationFrame(1, pieces[2]!, true));

    expect(client.streams).toHaveLength(1);
    expect(client.streams[0]!.header('user-agent')).toHaveLength(600);
  });

  it('closes a connection whose client resets streams as fast as it opens them', () => {
    const client = connect();
    const frames: Buffer[] = [];
    for (let i = 0; i < 250; i++) {
      const streamId = 1 + 2 * i;
      frames.push(headersFrame(streamId, requestBlock(), { endStream: true }), encodeRstStream(streamId, ErrorCode.cancel));
    }

    client.send(...frames);

    const goaway = expectGoaway(client.frames(), ErrorCode.enhanceYourCalm);
    expect(goaway.debug).toContain('more than 200 streams were reset');
  });

  it('counts streams it resets for the client\'s errors towards the same limit', () => {
    const client = connect();
    const frames: Buffer[] = [];
    for (let i = 0; i < 250; i++) {
      const streamId = 1 + 2 * i;
      // A zero window increment is a stream error, so the server resets the stream itself.
      frames.push(headersFrame(streamId, requestBlock(), { endStream: true }), encodeWindowUpdate(streamId, 0));
    }

    client.send(...frames);

    const goaway = expectGoaway(client.frames(), ErrorCode.enhanceYourCalm);
    expect(goaway.debug).toContain('more than 200 streams were reset');
    expect(client.streams.length).toBeLessThan(250);
  });

  it('collects a body sent in one-byte DATA frames', async () => {
    const client = connect();
    const stream = openStream(client, 1);
    const body = Buffer.from('x'.repeat(5_000) + 'end');
    const bodyRead = readBody(stream, 1024 * 1024);

    client.send(...[...body].map((byte) => dataFrame(1, Buffer.from([byte]))), dataFrame(1, '', true));

    expect((await bodyRead).equals(body)).toBe(true);
  });

  it('ignores trailers and data on a stream it reset', async () => {
    const client = connect();
    const untouched = openStream(client, 1);
    const answered = openStream(client, 3);
    answered.respond(404);
    answered.end('not found\n');
    await settle();
    expectRstStream(client.frames(), 3, ErrorCode.noError);

    client.send(dataFrame(3, 'late body'), headersFrame(3, encodeHeaders([['x-trailer', '1']]), { endStream: true }));

    expect(client.frames()).toEqual([]);
    expect(client.protocolErrors).toEqual([]);
    expect(untouched.closed).toBe(false);
  });

  it('resets a stream whose response waits for a window that never opens', async () => {
    const stalled: ServerStream[] = [];
    const client = connect([[SettingId.initialWindowSize, 0]], { sendStallTimeoutMs: 50, onStalledStream: (stream) => stalled.push(stream) });
    const stream = openStream(client, 1, { endStream: true });
    let closed = false;
    stream.once('close', () => {
      closed = true;
    });

    stream.end('a response nobody reads');
    await new Promise((resolve) => setTimeout(resolve, 150));

    expect(closed).toBe(true);
    expect(stalled).toEqual([stream]);
    expectRstStream(client.frames(), 1, ErrorCode.cancel);
  });

  it('keeps a stream whose window opens before the stall timeout', async () => {
    const client = connect([[SettingId.initialWindowSize, 10]], { sendStallTimeoutMs: 100 });
    const stream = openStream(client, 1, { endStream: true });

    stream.end(Buffer.alloc(40));
    for (let step = 0; step < 3; step++) {
      await new Promise((resolve) => setTimeout(resolve, 60));
      client.send(encodeWindowUpdate(1, 10));
    }
    await settle();

    const data = ofType(client.frames(), FrameType.data);
    expect(data.reduce((sum, frame) => sum + frame.payload.length, 0)).toBe(40);
    expect(stream.closed).toBe(true);
    expect(stream.aborted).toBe(false);
  });

  it('joins a frame that arrives one byte at a time', () => {
    const client = connect();
    const frame = headersFrame(1, requestBlock([['user-agent', 'y'.repeat(3_000)]]), { endStream: true });

    for (const byte of frame) client.connection.receive(Buffer.from([byte]));

    expect(client.streams).toHaveLength(1);
    expect(client.streams[0]!.header('user-agent')).toHaveLength(3_000);
  });
});

describe('ServerConnection protocol errors', () => {
  it('half-closes a transport that can, so the GOAWAY arrives before the close', async () => {
    const transport = Object.assign(new FakeTransport(), { ended: false, end() { this.ended = true; } });
    const connection = new ServerConnection(transport, { onStream: () => {} });
    connection.receive(Buffer.concat([CLIENT_PREFACE, encodeSettings([]), encodeFrame(FrameType.data, 0, 0, Buffer.alloc(1))]));
    await settle();

    expectGoaway(transport.takeFrames(), ErrorCode.protocolError);
    expect(transport.ended).toBe(true);
    expect(transport.destroyed).toBe(false);
  });
});
