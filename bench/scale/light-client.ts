/**
 * A simulated node for scale benchmarks: one ts2021 connection, one HTTP/2 session, a register
 * request and a streaming map request. It counts the map stream's bytes and messages by their
 * length prefixes and decompresses a message only while it watches for a node key, so one
 * process can hold thousands of them.
 */
import crypto from 'node:crypto';
import { once } from 'node:events';
import http2 from 'node:http2';

import type { ControlConn } from '../../protocol/controlbase/conn.js';
import { DiscoPublic, type MachinePublic, NodePublic } from '../../protocol/key.js';
import { LENGTH_PREFIX_SIZE } from '../../protocol/mapstream/frame.js';
import type { MapResponse } from '../../protocol/tailcfg/map.js';
import { dialControl } from '../../protocol/ts2021/client.js';
import { X25519PrivateKey } from '../../protocol/x25519.js';
import { zstdDecompress } from '../../protocol/zstd.js';

/** Milliseconds on a clock that processes on one machine share. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

// The window sizes of Go's x/net/http2 client transport (transportDefaultStreamFlow and
// transportDefaultConnFlow), so the server may send as far ahead as it would to a Go client.
const STREAM_WINDOW = 4 << 20;
const CONNECTION_WINDOW = 1 << 30;

export class LightClient {
  readonly machineKey = X25519PrivateKey.generate();
  readonly nodeKey = NodePublic.fromBytes(crypto.randomBytes(32));
  readonly discoKey = DiscoPublic.fromBytes(crypto.randomBytes(32));

  /** Bytes and complete messages received on the map stream. */
  bytes = 0;
  messages = 0;
  /** When the first message (the full map) was complete, by `wallClockMs`. */
  firstMapAt: number | undefined;
  /** The first message, kept only when `keepFirstMap` is set. */
  firstMap: Buffer | undefined;

  private conn: ControlConn | undefined;
  private session: http2.ClientHttp2Session | undefined;
  private mapStream: http2.ClientHttp2Stream | undefined;

  // Length-prefix parser state: the prefix being read, then the body bytes still to come.
  private readonly prefix = Buffer.alloc(LENGTH_PREFIX_SIZE);
  private prefixFill = 0;
  private bodyRemaining = 0;
  private bodyParts: Buffer[] | undefined;
  private watch: { key: string; onSeen: (at: number) => void } | undefined;
  private keepFirstMap = false;

  constructor(
    readonly hostname: string,
    private readonly serverUrl: string,
    private readonly serverPublic: MachinePublic,
  ) {}

  async connect(): Promise<void> {
    const conn = await dialControl({ serverUrl: this.serverUrl, machineKey: this.machineKey, serverPublic: this.serverPublic, timeoutMs: 60_000 });
    this.conn = conn;
    const session = http2.connect('http://control.invalid', { createConnection: () => conn, settings: { initialWindowSize: STREAM_WINDOW } });
    session.on('error', () => {});
    session.once('connect', () => session.setLocalWindowSize(CONNECTION_WINDOW));
    this.session = session;
  }

  /** Registers with a pre-auth key; throws when the server returns an error. */
  async register(authKey: string): Promise<void> {
    const { status, body } = await this.post('/machine/register', {
      Version: 131,
      NodeKey: this.nodeKey.toString(),
      OldNodeKey: `nodekey:${'0'.repeat(64)}`,
      Expiry: '0001-01-01T00:00:00Z',
      Hostinfo: { Hostname: this.hostname, OS: 'linux' },
      Auth: { AuthKey: authKey },
    });
    const error = (JSON.parse(body) as { Error?: string }).Error;
    if (status !== 200 || (error !== undefined && error !== '')) throw new Error(`${this.hostname}: register failed with HTTP ${status}: ${body.slice(0, 200)}`);
  }

  /**
   * Opens the map stream and resolves once the first message (the full map) is complete.
   * @param keepFirstMap keeps that message's bytes in `firstMap` for decoding.
   */
  async streamMap(options: { keepFirstMap?: boolean } = {}): Promise<void> {
    this.keepFirstMap = options.keepFirstMap ?? false;
    const stream = this.session!.request({ ':method': 'POST', ':path': '/machine/map' });
    this.mapStream = stream;
    stream.on('error', () => {});
    stream.end(
      JSON.stringify({
        Version: 131,
        Compress: 'zstd',
        KeepAlive: true,
        NodeKey: this.nodeKey.toString(),
        DiscoKey: this.discoKey.toString(),
        Stream: true,
        Hostinfo: { Hostname: this.hostname, OS: 'linux', NetInfo: { PreferredDERP: 900 } },
        Endpoints: ['127.0.0.1:41641'],
      }),
    );
    const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
    const status = Number(headers[':status']);
    if (status !== 200) throw new Error(`${this.hostname}: map request failed with HTTP ${status}`);
    const firstMap = new Promise<void>((resolve, reject) => {
      stream.on('data', (chunk: Buffer) => {
        this.receive(chunk);
        if (this.firstMapAt !== undefined) resolve();
      });
      stream.once('close', () => reject(new Error(`${this.hostname}: map stream closed before the full map arrived`)));
    });
    await firstMap;
  }

  /** Starts decompressing messages and calls `onSeen` once, when a PeersChanged carries `nodeKey`. */
  watchFor(nodeKey: string, onSeen: (at: number) => void): void {
    this.watch = { key: nodeKey, onSeen };
  }

  private receive(chunk: Buffer): void {
    this.bytes += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      if (this.prefixFill < LENGTH_PREFIX_SIZE) {
        const take = Math.min(LENGTH_PREFIX_SIZE - this.prefixFill, chunk.length - offset);
        chunk.copy(this.prefix, this.prefixFill, offset, offset + take);
        this.prefixFill += take;
        offset += take;
        if (this.prefixFill < LENGTH_PREFIX_SIZE) return;
        this.bodyRemaining = this.prefix.readUInt32LE(0);
        const keep = this.watch !== undefined || (this.keepFirstMap && this.firstMapAt === undefined);
        this.bodyParts = keep ? [] : undefined;
      }
      const take = Math.min(this.bodyRemaining, chunk.length - offset);
      this.bodyParts?.push(chunk.subarray(offset, offset + take));
      this.bodyRemaining -= take;
      offset += take;
      if (this.bodyRemaining === 0) this.finishMessage();
    }
  }

  private finishMessage(): void {
    this.messages += 1;
    this.prefixFill = 0;
    const parts = this.bodyParts;
    this.bodyParts = undefined;
    if (this.firstMapAt === undefined) {
      this.firstMapAt = wallClockMs();
      if (this.keepFirstMap && parts !== undefined) this.firstMap = Buffer.concat(parts);
      return;
    }
    const watch = this.watch;
    if (watch === undefined || parts === undefined) return;
    const text = zstdDecompress(Buffer.concat(parts)).toString('utf8');
    if (!text.includes(watch.key)) return;
    const message = JSON.parse(text) as MapResponse;
    if (!(message.PeersChanged ?? []).some((peer) => peer.Key === watch.key)) return;
    this.watch = undefined;
    watch.onSeen(wallClockMs());
  }

  private async post(path: string, body: unknown): Promise<{ status: number; body: string }> {
    const stream = this.session!.request({ ':method': 'POST', ':path': path });
    stream.end(JSON.stringify(body));
    const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
    const parts: Buffer[] = [];
    for await (const chunk of stream) parts.push(chunk as Buffer);
    return { status: Number(headers[':status']), body: Buffer.concat(parts).toString('utf8') };
  }

  get streaming(): boolean {
    return this.mapStream !== undefined && !this.mapStream.closed;
  }

  /** Ends the connection below the HTTP/2 session, which Node 20 handles without assertion failures. */
  close(): void {
    this.conn?.destroy();
  }
}
