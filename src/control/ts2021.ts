/**
 * The `/ts2021` endpoint: turns an HTTP upgrade or a WebSocket into a controlbase connection
 * and hands it to the Noise server. Both transports meet in `completeHandshake`, so everything
 * after the first message runs the same code.
 *
 * Each failure ends only the connection it happened on and is logged with the remote address
 * and the reason. Malformed requests get an HTTP 400; a handshake that fails after the
 * headers were accepted gets a controlbase error message, which clients print as
 * `server error: "…"`.
 */
import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream } from 'ws';

import { ControlConn } from '../../protocol/controlbase/conn.js';
import { HandshakeError, peekProtocolVersion, respondToInitiation } from '../../protocol/controlbase/handshake.js';
import { encodeErrorMessage } from '../../protocol/controlbase/messages.js';
import {
  HANDSHAKE_HEADER,
  SWITCHING_PROTOCOLS_HEAD,
  UpgradeRequestError,
  WEBSOCKET_SUBPROTOCOL,
  checkUpgradeHeaders,
  decodeHandshakeValue,
} from '../../protocol/ts2021/upgrade.js';
import type { X25519PrivateKey } from '../../protocol/x25519.js';
import { parseRequestTarget } from '../http/request-target.js';
import type { Logger } from '../log.js';
import { LogLimiter } from '../log-limiter.js';
import { sourceAddressKey } from '../source-address.js';

/**
 * Oldest client protocol (capability) version served: 106, Tailscale 1.74, the same floor
 * Headscale 0.28 uses. Older clients lack fields this server relies on.
 */
export const MIN_PROTOCOL_VERSION = 106;

/** Largest WebSocket message sent; Tailscale's browser client reads at most 32768 bytes per message. */
const MAX_WEBSOCKET_MESSAGE = 16 * 1024;

export interface Ts2021Options {
  serverKey: X25519PrivateKey;
  log: Logger;
  onConnection: (conn: ControlConn, remoteAddress: string) => void;
  /** Connections served at once; an upgrade beyond it gets HTTP 503 before the handshake. */
  maxConnections: number;
  /** Returns the number of connections being served. */
  connectionCount: () => number;
  /** Connections at once from one IPv4 address or IPv6 /64; further upgrades from there get HTTP 503. */
  maxConnectionsPerAddress: number;
  /** Returns the client's IP address behind a trusted reverse proxy; the TCP peer is used when unset. */
  clientAddress?: (request: IncomingMessage) => string;
}

/** Log lines per minute about upgrades rejected by maxConnections; the rest are counted. */
const OVERLOAD_LOGS_PER_MINUTE = 10;

export class Ts2021Endpoint {
  private readonly websockets = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    // Controlbase records are at most 4096 bytes, but a client may batch several per message.
    maxPayload: 1024 * 1024,
    handleProtocols: (protocols) => (protocols.has(WEBSOCKET_SUBPROTOCOL) ? WEBSOCKET_SUBPROTOCOL : false),
  });

  private readonly overloadLogs = new LogLimiter(OVERLOAD_LOGS_PER_MINUTE, 60_000);
  /** Connections served per source address key (see sourceAddressKey). */
  private readonly perAddress = new Map<string, number>();

  constructor(private readonly options: Ts2021Options) {}

  /** Handles an `upgrade` event for the `/ts2021` path. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const remoteAddress = describeRemote(request, this.options.clientAddress);
    const isWebSocket = (request.headers.upgrade ?? '').toLowerCase() === 'websocket';
    if (this.options.connectionCount() >= this.options.maxConnections) {
      this.rejectOverloaded(socket, 'control.max_connections', { remote: remoteAddress, maxConnections: this.options.maxConnections }, 'too many control connections');
      return;
    }
    const sourceKey = sourceAddressKey(remoteAddress);
    if ((this.perAddress.get(sourceKey) ?? 0) >= this.options.maxConnectionsPerAddress) {
      const fields = { remote: remoteAddress, maxConnectionsPerAddress: this.options.maxConnectionsPerAddress };
      this.rejectOverloaded(socket, 'control.max_connections_per_address', fields, `too many control connections from ${sourceKey}`);
      return;
    }
    try {
      if (isWebSocket) {
        this.upgradeWebSocket(request, socket, head, remoteAddress);
      } else {
        this.upgradePlain(request, socket, head, remoteAddress);
      }
    } catch (error) {
      if (!(error instanceof UpgradeRequestError)) throw error;
      this.options.log.info({ remote: remoteAddress, reason: error.message, websocket: isWebSocket }, 'rejected ts2021 upgrade');
      rejectUpgrade(socket, error.status, error.message);
    }
  }

  /** Rejects an upgrade with 503 because of the limit `setting`, logging at most OVERLOAD_LOGS_PER_MINUTE lines. */
  private rejectOverloaded(socket: Duplex, setting: string, fields: Record<string, unknown>, reason: string): void {
    const suppressed = this.overloadLogs.take();
    if (suppressed !== undefined) this.options.log.warn({ ...fields, suppressedSinceLastLog: suppressed }, `rejected ts2021 upgrade: ${setting} reached`);
    socket.on('error', () => {});
    rejectUpgrade(socket, 503, `${reason}; try again later`);
  }

  /** Counts a connection under its source address until it closes, and hands it on. */
  private accept(conn: ControlConn, remoteAddress: string): void {
    const key = sourceAddressKey(remoteAddress);
    this.perAddress.set(key, (this.perAddress.get(key) ?? 0) + 1);
    conn.once('close', () => {
      const left = (this.perAddress.get(key) ?? 1) - 1;
      if (left > 0) this.perAddress.set(key, left);
      else this.perAddress.delete(key);
    });
    this.options.onConnection(conn, remoteAddress);
  }

  private upgradePlain(request: IncomingMessage, socket: Duplex, head: Buffer, remoteAddress: string): void {
    checkUpgradeHeaders(request.headers.upgrade, request.headers.connection);
    const initiation = decodeHandshakeValue(request.headers[HANDSHAKE_HEADER.toLowerCase()]);

    socket.on('error', (error) => this.options.log.debug({ remote: remoteAddress, err: error.message }, 'ts2021 socket failed'));
    const reply = this.completeHandshake(initiation, remoteAddress);
    socket.write(SWITCHING_PROTOCOLS_HEAD);
    if (reply.ok) {
      socket.write(reply.response);
      this.accept(new ControlConn(socket, reply.session, { initialData: head }), remoteAddress);
    } else {
      socket.end(reply.errorMessage);
    }
  }

  private upgradeWebSocket(request: IncomingMessage, socket: Duplex, head: Buffer, remoteAddress: string): void {
    const url = parseRequestTarget(request.url);
    if (url === undefined) throw new UpgradeRequestError(400, 'invalid request target');
    const initiation = decodeHandshakeValue(url.searchParams.get(HANDSHAKE_HEADER));
    const offered = (request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!offered.includes(WEBSOCKET_SUBPROTOCOL)) {
      throw new UpgradeRequestError(400, `WebSocket subprotocol ${WEBSOCKET_SUBPROTOCOL} not offered`);
    }

    this.websockets.handleUpgrade(request, socket, head, (websocket) => {
      const reply = this.completeHandshake(initiation, remoteAddress);
      if (!reply.ok) {
        websocket.send(reply.errorMessage, () => websocket.close());
        return;
      }
      websocket.send(reply.response);
      const stream = createWebSocketStream(websocket);
      this.accept(new ControlConn(stream, reply.session, { maxTransportWrite: MAX_WEBSOCKET_MESSAGE }), remoteAddress);
    });
  }

  private completeHandshake(
    initiation: Buffer,
    remoteAddress: string,
  ): { ok: true; response: Buffer; session: ReturnType<typeof respondToInitiation>['result'] } | { ok: false; errorMessage: Buffer } {
    const version = peekProtocolVersion(initiation) ?? 0;
    if (version < MIN_PROTOCOL_VERSION) {
      const reason = `unsupported client protocol version ${version}; this server needs capability version ${MIN_PROTOCOL_VERSION} (Tailscale 1.74) or newer`;
      this.options.log.info({ remote: remoteAddress, protocolVersion: version }, 'rejected ts2021 handshake: client too old');
      return { ok: false, errorMessage: encodeErrorMessage(reason) };
    }
    try {
      const { response, result } = respondToInitiation(initiation, this.options.serverKey);
      this.options.log.debug({ remote: remoteAddress, machine: result.peer.short(), protocolVersion: version }, 'ts2021 handshake complete');
      return { ok: true, response, session: result };
    } catch (error) {
      if (!(error instanceof HandshakeError)) throw error;
      this.options.log.info({ remote: remoteAddress, protocolVersion: version, reason: error.message }, 'rejected ts2021 handshake');
      return { ok: false, errorMessage: encodeErrorMessage('handshake failed') };
    }
  }

  close(): void {
    this.websockets.close();
  }
}

/**
 * Returns the client as "ip:port" or "[ipv6]:port". A client behind a trusted proxy is given
 * by its forwarded IP address alone, in brackets for IPv6, because its port is not known.
 */
function describeRemote(request: IncomingMessage, clientAddress: ((request: IncomingMessage) => string) | undefined): string {
  const { remoteAddress, remotePort } = request.socket;
  if (remoteAddress === undefined) return 'unknown';
  const client = clientAddress?.(request);
  if (client !== undefined && client !== remoteAddress) return client.includes(':') ? `[${client}]` : client;
  return remoteAddress.includes(':') ? `[${remoteAddress}]:${remotePort}` : `${remoteAddress}:${remotePort}`;
}

/** Writes an HTTP error response to an upgrade request that will not be upgraded, on the raw socket. */
export function rejectUpgrade(socket: Duplex, status: number, message: string): void {
  const reason = STATUS_CODES[status] ?? 'Error';
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\n` +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n' +
      '\r\n' +
      body,
  );
}
