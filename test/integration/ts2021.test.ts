import crypto from 'node:crypto';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import type { ControlConn } from '../../protocol/controlbase/conn.js';
import { initiateHandshake } from '../../protocol/controlbase/handshake.js';
import { MachinePublic } from '../../protocol/key.js';
import { dialControl, fetchServerKey } from '../../protocol/ts2021/client.js';
import { X25519PrivateKey } from '../../protocol/x25519.js';
import { type TestCoordinator, startTestCoordinator } from '../helpers/coordinator.js';

let coordinator: TestCoordinator;
let serverPublic: MachinePublic;

beforeAll(async () => {
  coordinator = await startTestCoordinator({
    overrides: { 'control.echo_route': 'true', 'control.first_request_timeout': '500ms' },
  });
  serverPublic = await fetchServerKey(coordinator.serverUrl);
});
afterAll(async () => {
  await coordinator?.stop();
});

/** Sends one HTTP/2 request over a control connection and returns status and body. */
async function request(conn: ControlConn, path: string, body: Buffer): Promise<{ status: number; body: Buffer }> {
  const session = http2.connect('http://control.invalid', { createConnection: () => conn });
  try {
    return await requestOn(session, path, body);
  } finally {
    session.close();
  }
}

async function requestOn(session: http2.ClientHttp2Session, path: string, body: Buffer): Promise<{ status: number; body: Buffer }> {
  const stream = session.request({ ':method': 'POST', ':path': path });
  stream.end(body);
  const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return { status: Number(headers[':status']), body: Buffer.concat(parts) };
}

/** Opens a raw TCP connection and sends `text`; resolves with everything the server sent before closing. */
async function rawExchange(text: string | Buffer, afterResponse?: (socket: net.Socket) => void): Promise<Buffer> {
  const socket = net.connect(coordinator.address.port, '127.0.0.1');
  await once(socket, 'connect');
  const parts: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => {
    parts.push(chunk);
    afterResponse?.(socket);
    afterResponse = undefined;
  });
  socket.write(text);
  await once(socket, 'close');
  return Buffer.concat(parts);
}

function upgradeRequest(handshake: string | undefined, upgrade = 'tailscale-control-protocol'): string {
  return (
    'POST /ts2021 HTTP/1.1\r\nHost: localhost\r\n' +
    `Upgrade: ${upgrade}\r\nConnection: upgrade\r\n` +
    (handshake === undefined ? '' : `X-Tailscale-Handshake: ${handshake}\r\n`) +
    '\r\n'
  );
}

describe('GET /key', () => {
  it('returns the Noise public key the way 1.92 clients parse it', async () => {
    const response = await fetch(`${coordinator.serverUrl}/key?v=131`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, string>;
    expect(body.publicKey).toMatch(/^mkey:[0-9a-f]{64}$/);
    expect(body.legacyPublicKey).toBe(`mkey:${'0'.repeat(64)}`);
  });

  it('rejects a non-numeric capability version naming the parameter', async () => {
    const response = await fetch(`${coordinator.serverUrl}/key?v=abc`);
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('querystring/v must be integer');
  });
});

describe('ts2021 control channel', () => {
  for (const transport of ['http', 'websocket'] as const) {
    it(`carries HTTP/2 with a 150 KB body over ${transport}`, async () => {
      const conn = await dialControl({ serverUrl: coordinator.serverUrl, machineKey: X25519PrivateKey.generate(), serverPublic, transport });
      const body = crypto.randomBytes(150_000);
      const response = await request(conn, '/wonder/echo', body);
      expect(response.status).toBe(200);
      expect(response.body.equals(body)).toBe(true);
    });
  }

  it('multiplexes concurrent streams on one connection', async () => {
    const conn = await dialControl({ serverUrl: coordinator.serverUrl, machineKey: X25519PrivateKey.generate(), serverPublic });
    const session = http2.connect('http://control.invalid', { createConnection: () => conn });
    const bodies = Array.from({ length: 8 }, (_, i) => crypto.randomBytes(10_000 + i * 7_000));
    const responses = await Promise.all(bodies.map((body) => requestOn(session, '/wonder/echo', body)));
    session.close();
    responses.forEach((response, i) => expect(response.body.equals(bodies[i]!)).toBe(true));
  });

  it('answers 404 for unknown paths inside the channel', async () => {
    const conn = await dialControl({ serverUrl: coordinator.serverUrl, machineKey: X25519PrivateKey.generate(), serverPublic });
    expect((await request(conn, '/machine/no-such-call', Buffer.alloc(0))).status).toBe(404);
  });
});

describe('ts2021 bad input', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['a missing handshake header', upgradeRequest(undefined), /missing X-Tailscale-Handshake/],
    ['a handshake header that is not base64', upgradeRequest('not base64!'), /not standard base64/],
    ['a handshake of the wrong length', upgradeRequest(Buffer.alloc(50).toString('base64')), /decodes to 50 bytes, expected 101/],
    ['an unknown Upgrade value', upgradeRequest(Buffer.alloc(101).toString('base64'), 'h2c'), /unknown Upgrade value "h2c"/],
  ];
  for (const [name, text, reason] of cases) {
    it(`answers 400 to ${name} and logs the reason`, async () => {
      const response = (await rawExchange(text)).toString();
      expect(response).toMatch(/^HTTP\/1\.1 400 /);
      expect(response).toMatch(reason);
      const line = await coordinator.waitForLog((l) => l.msg === 'rejected ts2021 upgrade' && reason.test(String(l.reason)));
      expect(line.remote).toMatch(/^127\.0\.0\.1:\d+$/);
    });
  }

  it('answers 400 to an unparseable request target and stays up', async () => {
    for (const upgrade of ['websocket', 'tailscale-control-protocol']) {
      const response = (await rawExchange(`GET //[ HTTP/1.1\r\nHost: x\r\nUpgrade: ${upgrade}\r\nConnection: Upgrade\r\n\r\n`)).toString();
      expect(response).toMatch(/^HTTP\/1\.1 400 /);
    }
    expect((await fetch(`${coordinator.serverUrl}/key`)).status).toBe(200);
  });

  it('answers 404 to an upgrade on another path', async () => {
    const response = (await rawExchange(upgradeRequest('x').replace('/ts2021', '/hs/ts2021'))).toString();
    expect(response).toMatch(/^HTTP\/1\.1 404 /);
  });

  it('sends an error message to a client with an old protocol version', async () => {
    const pending = initiateHandshake(X25519PrivateKey.generate(), serverPublic, 90);
    const response = await rawExchange(upgradeRequest(pending.initiation.toString('base64')));
    const body = response.subarray(response.indexOf('\r\n\r\n') + 4);
    expect(() => pending.finish(body)).toThrow(/unsupported client protocol version 90/);
  });

  it('sends an error message when the initiation was made for another server key', async () => {
    const wrongServer = MachinePublic.fromBytes(X25519PrivateKey.generate().publicKey);
    const pending = initiateHandshake(X25519PrivateKey.generate(), wrongServer, 131);
    const response = await rawExchange(upgradeRequest(pending.initiation.toString('base64')));
    const body = response.subarray(response.indexOf('\r\n\r\n') + 4);
    expect(() => pending.finish(body)).toThrow(/server error: "handshake failed"/);
    await coordinator.waitForLog((l) => l.msg === 'rejected ts2021 handshake' && /machine key failed authentication/.test(String(l.reason)));
  });

  const afterHandshake: Array<[string, (conn: net.Socket) => void, RegExp]> = [
    ['garbage bytes', (socket) => socket.write('GET / HTTP/1.1\r\n\r\n'), /message type 0x47 after the handshake/],
    ['an oversized record', (socket) => socket.write(Buffer.from([4, 0xff, 0xff])), /exceeds the maximum of 4096/],
    ['a record that fails decryption', (socket) => socket.write(Buffer.concat([Buffer.from([4, 0, 20]), crypto.randomBytes(20)])), /decrypting record 0/],
  ];
  for (const [name, send, reason] of afterHandshake) {
    it(`closes the connection on ${name} after the handshake and logs why`, async () => {
      const pending = initiateHandshake(X25519PrivateKey.generate(), serverPublic, 131);
      await rawExchange(upgradeRequest(pending.initiation.toString('base64')), send);
      const line = await coordinator.waitForLog((l) => l.msg === 'control connection failed' && reason.test(String(l.err)));
      expect(line.remote).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(line.machine).toMatch(/^\[[0-9a-f]{8}\]$/);
    });
  }

  it('closes a connection that never sends an HTTP/2 request', async () => {
    const pending = initiateHandshake(X25519PrivateKey.generate(), serverPublic, 131);
    const started = Date.now();
    await rawExchange(upgradeRequest(pending.initiation.toString('base64')));
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    await coordinator.waitForLog((l) => l.msg === 'closing control connection: no HTTP/2 request after the handshake');
  });

  it('rejects a WebSocket without the control subprotocol', async () => {
    const pending = initiateHandshake(X25519PrivateKey.generate(), serverPublic, 131);
    const url = `ws://127.0.0.1:${coordinator.address.port}/ts2021?X-Tailscale-Handshake=${encodeURIComponent(pending.initiation.toString('base64'))}`;
    const socket = new WebSocket(url, 'something-else');
    const [, response] = (await once(socket, 'unexpected-response')) as [unknown, { statusCode: number }];
    expect(response.statusCode).toBe(400);
    socket.on('error', () => {});
    socket.terminate();
  });

  it('keeps serving good clients while bad ones fail', async () => {
    const bad = Array.from({ length: 5 }, () => rawExchange(upgradeRequest('!!!')));
    const conn = await dialControl({ serverUrl: coordinator.serverUrl, machineKey: X25519PrivateKey.generate(), serverPublic });
    const body = crypto.randomBytes(5000);
    expect((await request(conn, '/wonder/echo', body)).body.equals(body)).toBe(true);
    await Promise.all(bad);
  });
});

describe('Noise key persistence', () => {
  it('serves the same key after a restart with the same data folder', async () => {
    const first = await startTestCoordinator();
    const key = first.noisePublicKey.toString();
    await first.stop({ keepData: true });
    const second = await startTestCoordinator({ dataDir: first.dataDir });
    expect(second.noisePublicKey.toString()).toBe(key);
    expect(second.logs.some((l) => l.msg === 'loaded Noise key')).toBe(true);
    await second.stop();
  });
});

describe('shutdown', () => {
  it('stops cleanly while clients connect and vanish', async () => {
    const busy = await startTestCoordinator();
    let remaining = 1000;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (remaining-- > 0) {
          const conn = await dialControl({ serverUrl: busy.serverUrl, machineKey: X25519PrivateKey.generate(), serverPublic: busy.noisePublicKey });
          conn.destroy();
        }
      }),
    );
    // Before the fix in NoiseServer.closeAll, this failed an internal Node.js assertion.
    await busy.stop();
    expect(busy.logs.some((l) => l.msg === 'coordinator stopped')).toBe(true);
  });
});
