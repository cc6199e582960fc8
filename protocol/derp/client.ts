/**
 * The client end of DERP over HTTPS (or a WebSocket), for tests, benchmarks and load tools.
 * Real clients are the judge of compatibility; this one lets the relay be exercised, and fed
 * malformed input, without a Go binary. Like Go's derp.Client (tailscale.com v1.92.5) it sends
 * its ClientInfo right after the ServerKey and does not wait for ServerInfo before sending.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import WebSocket, { createWebSocketStream } from 'ws';

import { NodePublic } from '../key.js';
import type { X25519PrivateKey } from '../x25519.js';
import { type ClientInfo, encodeClientInfo, sealClientInfo } from './client-info.js';
import { decodeHealth, decodePing, decodePong, decodeRestarting, encodeNotePreferred, encodePing, encodePong } from './control.js';
import { FrameType, ProtocolVersion } from './frame.js';
import { FrameReader } from './frame-reader.js';
import { encodeSendPacket, decodeRecvPacket } from './packets.js';
import { decodePeerGone } from './peer-gone.js';
import { type ServerInfo, decodeServerInfo, openServerInfo } from './server-info.js';
import { decodeServerKey } from './server-key.js';

export interface DerpDialOptions {
  /** Address to connect to. */
  host: string;
  port: number;
  /**
   * TLS settings, or false for plain HTTP. `serverName` is sent as SNI unless it is an IP
   * address, and `pinSha256` (hex) must equal the SHA-256 of the server's leaf certificate. The
   * certificate is not otherwise verified.
   */
  tls?: { serverName?: string; pinSha256?: string } | false;
  transport?: 'http' | 'websocket';
  /** Sends `Derp-Fast-Start: 1` and expects no HTTP response before the DERP frames. */
  fastStart?: boolean;
  /** The Upgrade header value of an HTTP upgrade; default "DERP". */
  upgrade?: string;
  /** Time limit for connecting, the upgrade and the ServerKey frame. Default 10 s. */
  timeoutMs?: number;
}

export interface DerpClientOptions extends DerpDialOptions {
  /** The node private key that identifies the client. */
  privateKey: X25519PrivateKey;
  /** Overrides for the ClientInfo; default `{version: 2, CanAckPings: true}` like tailscaled. */
  clientInfo?: Partial<ClientInfo>;
  /** Whether to reply to the server's Pings with Pongs, as tailscaled does. Default true. */
  answerPings?: boolean;
}

export type DerpMessage =
  | { type: 'packet'; source: NodePublic; packet: Buffer }
  | { type: 'serverInfo'; info: ServerInfo }
  | { type: 'keepAlive' }
  | { type: 'peerGone'; peer: NodePublic; reason: number }
  | { type: 'ping'; data: Buffer }
  | { type: 'pong'; data: Buffer }
  | { type: 'health'; problem: string }
  | { type: 'restarting'; reconnectInMs: number; tryForMs: number }
  | { type: 'other'; frameType: number; payload: Buffer };

/** An upgrade that did not end in 101 Switching Protocols. */
export class DerpDialError extends Error {
  constructor(
    readonly status: number | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'DerpDialError';
  }
}

/** Opens the connection and completes the HTTP upgrade. `head` contains the bytes read past the response. */
export async function dialDerpTransport(options: DerpDialOptions): Promise<{ socket: Duplex; head: Buffer }> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  if (options.transport === 'websocket') return dialWebSocket(options, timeoutMs);

  const socket = await connectSocket(options, timeoutMs);
  const hostHeader = options.tls !== false && options.tls?.serverName !== undefined ? options.tls.serverName : options.host;
  const headers = [`GET /derp HTTP/1.1`, `Host: ${hostHeader}`, `Upgrade: ${options.upgrade ?? 'DERP'}`, 'Connection: Upgrade'];
  if (options.fastStart === true) headers.push('Derp-Fast-Start: 1');
  socket.write(`${headers.join('\r\n')}\r\n\r\n`);
  if (options.fastStart === true) return { socket, head: Buffer.alloc(0) };

  return { socket, head: await readUpgradeResponse(socket, timeoutMs) };
}

/** Reads the HTTP response head of an upgrade and returns the bytes after it; the socket is left paused. */
function readUpgradeResponse(socket: Duplex, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const finish = (error: Error | undefined, rest?: Buffer) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      if (error === undefined) {
        resolve(rest!);
        return;
      }
      socket.destroy();
      reject(error);
    };
    const onData = (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = received.subarray(0, end).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
      if (status === 101) {
        finish(undefined, received.subarray(end + 4));
        return;
      }
      const body = received.subarray(end + 4).toString('utf8').trim();
      finish(new DerpDialError(Number.isNaN(status) ? undefined : status, `upgrade failed: ${head.split('\r\n')[0]} ${body}`));
    };
    const onClose = () => finish(new DerpDialError(undefined, 'connection closed before the HTTP response'));
    const timer = setTimeout(() => finish(new Error(`no HTTP response within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

async function connectSocket(options: DerpDialOptions, timeoutMs: number): Promise<net.Socket> {
  const settings = options.tls === false ? undefined : (options.tls ?? {});
  const socket =
    settings === undefined
      ? net.connect({ host: options.host, port: options.port })
      : tls.connect({
          host: options.host,
          port: options.port,
          ...(settings.serverName !== undefined && net.isIP(settings.serverName) === 0 ? { servername: settings.serverName } : {}),
          // Trust comes from the pin below, as in Tailscale's sha256-raw CertName.
          rejectUnauthorized: false,
        });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connecting to ${options.host}:${options.port} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once(settings === undefined ? 'connect' : 'secureConnect', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  if (settings?.pinSha256 !== undefined) {
    const leaf = (socket as tls.TLSSocket).getPeerCertificate().raw;
    const hash = createHash('sha256').update(leaf).digest('hex');
    if (hash !== settings.pinSha256.toLowerCase()) {
      socket.destroy();
      throw new Error(`server certificate SHA-256 ${hash} does not match the pin ${settings.pinSha256}`);
    }
  }
  return socket;
}

async function dialWebSocket(options: DerpDialOptions, timeoutMs: number): Promise<{ socket: Duplex; head: Buffer }> {
  const scheme = options.tls === false ? 'ws' : 'wss';
  const host = net.isIPv6(options.host) ? `[${options.host}]` : options.host;
  const websocket = new WebSocket(`${scheme}://${host}:${options.port}/derp`, 'derp', {
    rejectUnauthorized: false,
    handshakeTimeout: timeoutMs,
    perMessageDeflate: false,
  });
  await new Promise<void>((resolve, reject) => {
    websocket.once('open', () => resolve());
    websocket.once('error', reject);
    websocket.once('unexpected-response', (_request, response) => reject(new DerpDialError(response.statusCode, `WebSocket upgrade failed: HTTP ${response.statusCode}`)));
  });
  return { socket: createWebSocketStream(websocket), head: Buffer.alloc(0) };
}

export class DerpClient {
  readonly publicKey: NodePublic;
  /** Called for every received packet instead of queueing it, when set; benchmarks use it. */
  onPacket: ((source: Uint8Array, packet: Uint8Array) => void) | undefined;
  /** Resolves when the connection has closed, for whatever reason. */
  readonly closed: Promise<void>;

  private readonly queue: DerpMessage[] = [];
  private readonly waiters: Array<() => void> = [];
  private isClosed = false;
  private closeError: Error | undefined;

  private constructor(
    readonly socket: Duplex,
    readonly serverPublic: NodePublic,
    private readonly privateKey: X25519PrivateKey,
    private readonly answerPings: boolean,
  ) {
    this.publicKey = NodePublic.fromBytes(privateKey.publicKey);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('close', () => this.markClosed(new Error('connection closed')));
    socket.on('error', (error: Error) => this.markClosed(error));
  }

  /** Dials, reads the ServerKey and sends the ClientInfo. ServerInfo arrives later as a message. */
  static async connect(options: DerpClientOptions): Promise<DerpClient> {
    const { socket, head } = await dialDerpTransport(options);
    const reader = new FrameReader();
    reader.push(head);
    const serverKey = await readFirstFrame(socket, reader, options.timeoutMs ?? 10_000);
    if (serverKey.type !== FrameType.ServerKey) {
      socket.destroy();
      throw new Error(`expected a ServerKey frame, got type 0x${serverKey.type.toString(16)}`);
    }
    const serverPublic = NodePublic.fromBytes(decodeServerKey(serverKey.payload));

    const info: ClientInfo = { meshKey: undefined, version: ProtocolVersion, canAckPings: true, isProber: false, ...options.clientInfo };
    socket.write(encodeClientInfo(options.privateKey.publicKey, sealClientInfo(info, options.privateKey, serverPublic.bytes)));

    const client = new DerpClient(socket, serverPublic, options.privateKey, options.answerPings ?? true);
    client.takeOver(reader);
    return client;
  }

  /** Sends a packet to `destination` through the relay; returns false when the socket buffer is full. */
  send(destination: NodePublic, packet: Uint8Array): boolean {
    return this.socket.write(encodeSendPacket(destination.bytes, packet));
  }

  ping(data: Uint8Array): void {
    this.socket.write(encodePing(data));
  }

  notePreferred(preferred: boolean): void {
    this.socket.write(encodeNotePreferred(preferred));
  }

  /** Writes arbitrary bytes, for tests of malformed input. */
  writeRaw(bytes: Uint8Array): boolean {
    return this.socket.write(bytes);
  }

  /** Resolves with the next queued message; rejects when none arrives in time or the connection closed. */
  async next(timeoutMs = 5_000): Promise<DerpMessage> {
    return this.waitFor(() => true, timeoutMs);
  }

  /** Resolves with the first message, queued or future, that `match` accepts; other messages stay queued. */
  async waitFor(match: (message: DerpMessage) => boolean, timeoutMs = 5_000): Promise<DerpMessage> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const index = this.queue.findIndex(match);
      if (index !== -1) return this.queue.splice(index, 1)[0]!;
      if (this.isClosed) throw this.closeError ?? new Error('connection closed');
      const remaining = deadline - performance.now();
      if (remaining <= 0) throw new Error(`no matching DERP message within ${timeoutMs} ms (queued: ${this.queue.map((m) => m.type).join(', ') || 'none'})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Messages received and not yet taken by `next` or `waitFor`. */
  get pending(): readonly DerpMessage[] {
    return this.queue;
  }

  close(): void {
    this.socket.destroy();
  }

  private takeOver(reader: FrameReader): void {
    const onData = (chunk: Buffer) => {
      reader.push(chunk);
      try {
        for (let frame = reader.read(); frame !== undefined; frame = reader.read()) this.handle(frame.type, Buffer.from(frame.payload.buffer, frame.payload.byteOffset, frame.payload.length));
      } catch (error) {
        this.markClosed(error as Error);
        this.socket.destroy();
      }
    };
    this.socket.on('data', onData);
    onData(Buffer.alloc(0));
    this.socket.resume();
  }

  private handle(type: number, payload: Buffer): void {
    switch (type) {
      case FrameType.RecvPacket: {
        const { source, packet } = decodeRecvPacket(payload);
        if (this.onPacket !== undefined) {
          this.onPacket(source, packet);
          return;
        }
        this.push({ type: 'packet', source: NodePublic.fromBytes(source), packet: Buffer.from(packet) });
        return;
      }
      case FrameType.ServerInfo:
        this.push({ type: 'serverInfo', info: openServerInfo(decodeServerInfo(payload), this.privateKey, this.serverPublic.bytes) });
        return;
      case FrameType.KeepAlive:
        this.push({ type: 'keepAlive' });
        return;
      case FrameType.PeerGone: {
        const gone = decodePeerGone(payload);
        this.push({ type: 'peerGone', peer: NodePublic.fromBytes(gone.peer), reason: gone.reason });
        return;
      }
      case FrameType.Ping: {
        const data = Buffer.from(decodePing(payload));
        if (this.answerPings) this.socket.write(encodePong(data));
        this.push({ type: 'ping', data });
        return;
      }
      case FrameType.Pong:
        this.push({ type: 'pong', data: Buffer.from(decodePong(payload)) });
        return;
      case FrameType.Health:
        this.push({ type: 'health', problem: decodeHealth(payload) });
        return;
      case FrameType.Restarting:
        this.push({ type: 'restarting', ...decodeRestarting(payload) });
        return;
      default:
        this.push({ type: 'other', frameType: type, payload: Buffer.from(payload) });
    }
  }

  private push(message: DerpMessage): void {
    this.queue.push(message);
    this.wake();
  }

  private markClosed(error: Error): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeError = error;
    this.wake();
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}

/** Reads frames from a paused socket until the first one is complete. */
function readFirstFrame(socket: Duplex, reader: FrameReader, timeoutMs: number): Promise<{ type: number; payload: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const finish = (error: Error | undefined, frame?: { type: number; payload: Uint8Array }) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      if (error !== undefined) {
        socket.destroy();
        reject(error);
      } else resolve(frame!);
    };
    const check = () => {
      try {
        const frame = reader.read();
        if (frame !== undefined) finish(undefined, frame);
      } catch (error) {
        finish(error as Error);
      }
    };
    const onData = (chunk: Buffer) => {
      reader.push(chunk);
      check();
    };
    const onClose = () => finish(new Error('connection closed before the ServerKey frame'));
    const timer = setTimeout(() => finish(new Error(`no ServerKey frame within ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', onData);
    socket.on('close', onClose);
    check();
    socket.resume();
  });
}
