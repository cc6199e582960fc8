/**
 * The relay's HTTPS listener, separate from the control listener because Tailscale clients
 * always dial DERP over TLS. It serves HTTP/1.1 only, since clients send no ALPN and upgrade
 * with an HTTP/1.1 request. Routes, as cmd/derper of tailscale.com v1.92.5 serves them:
 *
 * - `/derp`: the relay. `Upgrade: websocket` with a WebSocket key and the `derp` subprotocol
 *   gets a WebSocket carrying DERP frames in binary messages. `Upgrade: DERP`, or `websocket`
 *   without those (very old clients sent it while speaking plain DERP framing), gets a raw 101
 *   response, or none at all with `Derp-Fast-Start: 1`.
 * - `/derp/probe`, `/derp/latency-check`: empty 200 for GET and HEAD; netcheck times them.
 * - `/generate_204`: the captive portal check.
 * - `/bootstrap-dns`: a JSON map of host names to addresses.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream } from 'ws';

import { ProtocolVersion } from '../../protocol/derp/index.js';
import { parseRequestTarget } from '../http/request-target.js';
import type { Logger } from '../log.js';
import type { DerpRelay } from './relay.js';

export const DERP_PATH = '/derp';
export const WEBSOCKET_SUBPROTOCOL = 'derp';

export interface DerpListenerOptions {
  host: string;
  /** 0 picks a free port; read the result from `address`. */
  port: number;
  tls: { cert: string; key: string };
  relay: DerpRelay;
  log: Logger;
  /** Addresses that `/bootstrap-dns?q=NAME` returns, by lower-case host name. Other names get `{}`. */
  bootstrapDns: ReadonlyMap<string, string[]>;
}

export interface DerpListener {
  address: { host: string; port: number };
  close(): Promise<void>;
}

/** A captive-portal challenge that is echoed back: at most 64 of these characters, as in Go. */
const CHALLENGE = /^[A-Za-z0-9._:-]{1,64}$/;

export async function startDerpListener(options: DerpListenerOptions): Promise<DerpListener> {
  const { relay, log } = options;
  const server = https.createServer({
    cert: options.tls.cert,
    key: options.tls.key,
    ALPNProtocols: ['http/1.1'],
    // A client has 10 s for its TLS handshake, and its request head must be complete 10 s after
    // it connected. Node checks the head and request timeouts every connectionsCheckingInterval,
    // so a slow client is dropped within a second of its deadline.
    handshakeTimeout: 10_000,
    headersTimeout: 10_000,
    requestTimeout: 30_000,
    connectionsCheckingInterval: 1_000,
  });
  const websockets = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    // One message may batch several frames; the largest frame is a 64 KiB packet plus its key.
    maxPayload: 1024 * 1024,
    handleProtocols: (protocols) => (protocols.has(WEBSOCKET_SUBPROTOCOL) ? WEBSOCKET_SUBPROTOCOL : false),
  });

  server.on('request', (request: IncomingMessage, response: ServerResponse) => handleRequest(request, response, options.bootstrapDns));

  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const remote = describeRemote(request);
    const path = pathOf(request);
    if (path === undefined) {
      log.info({ remote }, 'rejected DERP request with an invalid request target');
      writeRawError(socket, 400, 'invalid request target');
      return;
    }
    if (path !== DERP_PATH) {
      writeRawError(socket, 404, `no upgrade endpoint at ${path}`);
      return;
    }
    const upgrade = (request.headers.upgrade ?? '').toLowerCase();
    const isWebSocket = upgrade === 'websocket' && request.headers['sec-websocket-key'] !== undefined && offeredSubprotocols(request).includes(WEBSOCKET_SUBPROTOCOL);
    if (isWebSocket) {
      websockets.handleUpgrade(request, socket, head, (websocket) => {
        const stream = createWebSocketStream(websocket);
        relay.accept(stream, Buffer.alloc(0), remote);
      });
      return;
    }
    if (upgrade !== 'derp' && upgrade !== 'websocket') {
      log.info({ remote, upgrade }, 'rejected DERP request with an unexpected Upgrade header');
      writeRawError(socket, 426, 'DERP requires connection upgrade');
      return;
    }

    const tcp = socket as Duplex & { setNoDelay?: (noDelay: boolean) => void; setKeepAlive?: (enable: boolean, delayMs: number) => void };
    tcp.setNoDelay?.(true);
    tcp.setKeepAlive?.(true, 30_000);
    if (request.headers['derp-fast-start'] !== '1') {
      // The client ignores the Derp-* headers, but Go's derpserver sends them.
      socket.write(
        'HTTP/1.1 101 Switching Protocols\r\n' +
          'Upgrade: DERP\r\n' +
          'Connection: Upgrade\r\n' +
          `Derp-Version: ${ProtocolVersion}\r\n` +
          `Derp-Public-Key: ${relay.publicKey.hex()}\r\n` +
          '\r\n',
      );
    }
    relay.accept(socket, head, remote);
  });

  server.on('tlsClientError', (error: Error, socket) => {
    log.debug({ remote: socket.remoteAddress, err: error.message }, 'DERP TLS handshake failed');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  log.info({ listen: `${bound.address}:${bound.port}` }, 'DERP relay listening');

  return {
    address: { host: bound.address, port: bound.port },
    async close() {
      relay.close();
      websockets.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function handleRequest(request: IncomingMessage, response: ServerResponse, bootstrapDns: ReadonlyMap<string, string[]>): void {
  const url = parseRequestTarget(request.url);
  if (url === undefined) {
    sendText(response, 400, 'invalid request target');
    return;
  }
  const isGetOrHead = request.method === 'GET' || request.method === 'HEAD';
  switch (url.pathname) {
    case DERP_PATH:
      sendText(response, 426, 'DERP requires connection upgrade');
      return;
    case '/derp/probe':
    case '/derp/latency-check':
      if (!isGetOrHead) {
        sendText(response, 405, 'bogus probe method');
        return;
      }
      response.writeHead(200, { 'Access-Control-Allow-Origin': '*', 'Content-Length': 0 });
      response.end();
      return;
    case '/generate_204': {
      const headers: Record<string, string> = { 'Cache-Control': 'no-cache, no-store, must-revalidate, no-transform, max-age=0' };
      const challenge = request.headers['x-tailscale-challenge'];
      if (typeof challenge === 'string' && CHALLENGE.test(challenge)) headers['X-Tailscale-Response'] = `response ${challenge}`;
      response.writeHead(204, headers);
      response.end();
      return;
    }
    case '/bootstrap-dns': {
      // tailscaled decodes the body as map[string][]netip.Addr and needs status 200. A Map
      // lookup, unlike indexing an object, never finds "__proto__" or "constructor".
      const query = url.searchParams.get('q');
      const addresses = query === null ? undefined : bootstrapDns.get(query.toLowerCase());
      const body = JSON.stringify(query !== null && addresses !== undefined ? { [query]: addresses } : {});
      response.writeHead(200, { 'Content-Type': 'application/json', Connection: 'close', 'Content-Length': Buffer.byteLength(body) });
      response.end(request.method === 'HEAD' ? undefined : body);
      return;
    }
    case '/':
      sendText(response, 200, 'Wonder coordinator: embedded DERP relay\n');
      return;
    default:
      sendText(response, 404, 'not found');
  }
}

function sendText(response: ServerResponse, status: number, text: string): void {
  const body = text.endsWith('\n') ? text : `${text}\n`;
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  response.end(body);
}

/** Writes an HTTP error response to an upgrade request on its raw socket, and closes the socket. */
function writeRawError(socket: Duplex, status: number, message: string): void {
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Error'}\r\n` +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n' +
      '\r\n' +
      body,
  );
}

/** Returns the request path, or undefined for a target that is not a valid URL. */
function pathOf(request: IncomingMessage): string | undefined {
  return parseRequestTarget(request.url)?.pathname;
}

function offeredSubprotocols(request: IncomingMessage): string[] {
  return (request.headers['sec-websocket-protocol'] ?? '').split(',').map((protocol) => protocol.trim());
}

function describeRemote(request: IncomingMessage): string {
  const { remoteAddress, remotePort } = request.socket;
  if (remoteAddress === undefined) return 'unknown';
  return remoteAddress.includes(':') ? `[${remoteAddress}]:${remotePort}` : `${remoteAddress}:${remotePort}`;
}
