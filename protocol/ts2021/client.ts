/**
 * The client end of `/ts2021`: opens a control channel the way tailscaled does, for tests,
 * benchmarks and load tools. Real clients are the judge of compatibility; this initiator lets
 * the same code paths be exercised at scale without a Go binary.
 */
import { once } from 'node:events';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { createWebSocketStream } from 'ws';

import { ControlConn } from '../controlbase/conn.js';
import { initiateHandshake } from '../controlbase/handshake.js';
import { HEADER_LENGTH, MessageType, RESPONSE_LENGTH } from '../controlbase/messages.js';
import { MachinePublic } from '../key.js';
import type { X25519PrivateKey } from '../x25519.js';
import { HANDSHAKE_HEADER, UPGRADE_PATH, UPGRADE_PROTOCOL, WEBSOCKET_SUBPROTOCOL } from './upgrade.js';

/** Capability version of Tailscale 1.92, which these tools impersonate by default. */
export const DEFAULT_PROTOCOL_VERSION = 131;

export interface DialOptions {
  /** The login server, for example `http://127.0.0.1:8080`; only its host and port are used. */
  serverUrl: string;
  machineKey: X25519PrivateKey;
  /** The server's Noise key as `GET /key` returned it. */
  serverPublic: MachinePublic;
  transport?: 'http' | 'websocket';
  protocolVersion?: number;
  timeoutMs?: number;
  /** Extra request headers for the HTTP upgrade, as a reverse proxy would add them. */
  headers?: Record<string, string>;
}

/** Fetches the server's Noise public key from `GET /key`. */
export async function fetchServerKey(serverUrl: string, protocolVersion = DEFAULT_PROTOCOL_VERSION): Promise<MachinePublic> {
  const url = new URL(`key?v=${protocolVersion}`, serverUrl.endsWith('/') ? serverUrl : `${serverUrl}/`);
  const response = await fetch(url);
  if (response.status !== 200) throw new Error(`GET ${url.pathname}: HTTP ${response.status}`);
  const body = (await response.json()) as { publicKey?: string };
  const key = MachinePublic.parseOptional(body.publicKey);
  if (key === undefined) throw new Error(`GET ${url.pathname}: response has no publicKey`);
  return key;
}

export async function dialControl(options: DialOptions): Promise<ControlConn> {
  const protocolVersion = options.protocolVersion ?? DEFAULT_PROTOCOL_VERSION;
  const pending = initiateHandshake(options.machineKey, options.serverPublic, protocolVersion);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const url = new URL(options.serverUrl);

  const { transport, response, rest } =
    options.transport === 'websocket'
      ? await upgradeWebSocket(url, pending.initiation, timeoutMs)
      : await upgradeHttp(url, pending.initiation, timeoutMs, options.headers ?? {});
  try {
    return new ControlConn(transport, pending.finish(response), { initialData: rest });
  } catch (error) {
    transport.destroy();
    throw error;
  }
}

interface Upgraded {
  transport: Duplex;
  response: Buffer;
  rest: Buffer;
}

/** Reads from `stream` until the handshake response (or an error message) is complete. */
async function readHandshakeResponse(stream: Duplex, initial: Buffer, timeoutMs: number): Promise<{ response: Buffer; rest: Buffer }> {
  let buffered = initial;
  const deadline = Date.now() + timeoutMs;
  const complete = () => {
    if (buffered.length < HEADER_LENGTH) return undefined;
    const length = buffered[0] === MessageType.error ? HEADER_LENGTH + buffered.readUInt16BE(1) : RESPONSE_LENGTH;
    return buffered.length >= length ? length : undefined;
  };
  for (let length = complete(); length === undefined; length = complete()) {
    const chunk = stream.read() as Buffer | null;
    if (chunk !== null) {
      buffered = Buffer.concat([buffered, chunk]);
      continue;
    }
    if (stream.readableEnded || stream.destroyed) throw new Error('ts2021: connection closed before the handshake response');
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw new Error('ts2021: timed out waiting for the handshake response');
    await Promise.race([once(stream, 'readable'), once(stream, 'close'), new Promise((resolve) => setTimeout(resolve, remaining))]);
  }
  const length = complete()!;
  return { response: buffered.subarray(0, length), rest: buffered.subarray(length) };
}

async function upgradeHttp(url: URL, initiation: Buffer, timeoutMs: number, headers: Record<string, string>): Promise<Upgraded> {
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const socket = net.connect(port, url.hostname);
  socket.setNoDelay(true);
  socket.setTimeout(timeoutMs, () => socket.destroy(new Error('ts2021: timed out')));
  await once(socket, 'connect');

  socket.write(
    `POST ${UPGRADE_PATH} HTTP/1.1\r\n` +
      `Host: ${url.host}\r\n` +
      `Upgrade: ${UPGRADE_PROTOCOL}\r\n` +
      'Connection: upgrade\r\n' +
      `${HANDSHAKE_HEADER}: ${initiation.toString('base64')}\r\n` +
      Object.entries(headers)
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('') +
      '\r\n',
  );

  // Read the response head byte-exactly, because the handshake response follows it directly.
  let head = Buffer.alloc(0);
  while (head.indexOf('\r\n\r\n') < 0) {
    const chunk = socket.read() as Buffer | null;
    if (chunk === null) {
      if (socket.destroyed || socket.readableEnded) throw new Error('ts2021: connection closed before the upgrade response');
      await Promise.race([once(socket, 'readable'), once(socket, 'close')]);
      continue;
    }
    head = Buffer.concat([head, chunk]);
    if (head.length > 16 * 1024) throw new Error('ts2021: upgrade response head exceeds 16 KiB');
  }
  const end = head.indexOf('\r\n\r\n') + 4;
  const statusLine = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
  if (!/^HTTP\/1\.1 101 /.test(statusLine)) {
    socket.destroy();
    throw new Error(`ts2021: unexpected HTTP response: ${statusLine}`);
  }
  const { response, rest } = await readHandshakeResponse(socket, head.subarray(end), timeoutMs);
  socket.setTimeout(0);
  return { transport: socket, response, rest };
}

async function upgradeWebSocket(url: URL, initiation: Buffer, timeoutMs: number): Promise<Upgraded> {
  const scheme = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const target = `${scheme}//${url.host}${UPGRADE_PATH}?${HANDSHAKE_HEADER}=${encodeURIComponent(initiation.toString('base64'))}`;
  const socket = new WebSocket(target, WEBSOCKET_SUBPROTOCOL, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
  // The stream must exist before 'open': the server's response can arrive in the same packet
  // as the upgrade, and ws drops messages that no listener takes.
  const stream = createWebSocketStream(socket);
  await Promise.race([
    once(socket, 'open'),
    once(socket, 'unexpected-response').then(([, response]) => {
      throw new Error(`ts2021: unexpected HTTP response: ${(response as { statusCode: number }).statusCode}`);
    }),
  ]);
  const { response, rest } = await readHandshakeResponse(stream, Buffer.alloc(0), timeoutMs);
  return { transport: stream, response, rest };
}
