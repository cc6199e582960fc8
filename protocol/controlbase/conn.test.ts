import crypto from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';

import { MachinePublic } from '../key.js';
import { X25519PrivateKey } from '../x25519.js';
import { ControlConn, FrameError } from './conn.js';
import { type HandshakeResult, initiateHandshake, respondToInitiation } from './handshake.js';
import { MAX_PLAINTEXT_SIZE } from './messages.js';

const sockets: net.Socket[] = [];
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
});

/** Connects two loopback sockets and completes a handshake between them. */
async function connectedPair(): Promise<{
  clientSocket: net.Socket;
  serverSocket: net.Socket;
  client: HandshakeResult;
  server: HandshakeResult;
}> {
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const { port } = listener.address() as net.AddressInfo;
  const accepted = once(listener, 'connection');
  const clientSocket = net.connect(port, '127.0.0.1');
  const [serverSocket] = (await accepted) as [net.Socket];
  listener.close();
  sockets.push(clientSocket, serverSocket);

  const serverKey = X25519PrivateKey.generate();
  const pending = initiateHandshake(X25519PrivateKey.generate(), MachinePublic.fromBytes(serverKey.publicKey), 131);
  const { response, result: server } = respondToInitiation(pending.initiation, serverKey);
  return { clientSocket, serverSocket, client: pending.finish(response), server };
}

async function readBytes(stream: ControlConn, count: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    parts.push(chunk as Buffer);
    total += (chunk as Buffer).length;
    if (total >= count) break;
  }
  return Buffer.concat(parts);
}

function rawRecords(data: Buffer): Array<{ type: number; length: number }> {
  const records = [];
  for (let offset = 0; offset < data.length; ) {
    const length = data.readUInt16BE(offset + 1);
    records.push({ type: data[offset]!, length });
    offset += 3 + length;
  }
  return records;
}

describe('ControlConn', () => {
  it('carries a payload larger than one record in both directions', async () => {
    const { clientSocket, serverSocket, client, server } = await connectedPair();
    const clientConn = new ControlConn(clientSocket, client);
    const serverConn = new ControlConn(serverSocket, server);

    const upload = crypto.randomBytes(150_000);
    const download = crypto.randomBytes(70_000);
    const received = readBytes(serverConn, upload.length);
    const returned = readBytes(clientConn, download.length);
    clientConn.write(upload);
    serverConn.write(download);

    expect((await received).equals(upload)).toBe(true);
    expect((await returned).equals(download)).toBe(true);
  });

  it('splits writes into records of at most 4096 bytes', async () => {
    const { clientSocket, serverSocket, client } = await connectedPair();
    const clientConn = new ControlConn(clientSocket, client);
    const captured: Buffer[] = [];
    serverSocket.on('data', (chunk: Buffer) => captured.push(chunk));

    clientConn.write(crypto.randomBytes(MAX_PLAINTEXT_SIZE * 2 + 5));
    await new Promise((resolve) => setTimeout(resolve, 100));

    const records = rawRecords(Buffer.concat(captured));
    expect(records.map((r) => r.length)).toEqual([4093, 4093, 21]);
    expect(records.every((r) => r.type === 4)).toBe(true);
  });

  it('accepts records split at every byte boundary', async () => {
    const { clientSocket, serverSocket, client, server } = await connectedPair();
    const serverConn = new ControlConn(serverSocket, server);
    const message = Buffer.from('straddles the header and the tag');
    const record = Buffer.concat([Buffer.from([4, 0, message.length + 16]), client.send.seal(message)]);

    const received = readBytes(serverConn, message.length);
    for (const byte of record) {
      clientSocket.write(Buffer.of(byte));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect((await received).toString()).toBe(message.toString());
  });

  it('caps each transport write when asked', async () => {
    const { clientSocket, serverSocket, client, server } = await connectedPair();
    const writes: number[] = [];
    const originalWrite = clientSocket.write.bind(clientSocket);
    clientSocket.write = ((chunk: Buffer, ...rest: unknown[]) => {
      writes.push(chunk.length);
      return (originalWrite as (...args: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof clientSocket.write;
    const clientConn = new ControlConn(clientSocket, client, { maxTransportWrite: 1000 });
    const serverConn = new ControlConn(serverSocket, server);

    const payload = crypto.randomBytes(10_000);
    const received = readBytes(serverConn, payload.length);
    clientConn.write(payload);
    expect((await received).equals(payload)).toBe(true);
    expect(Math.max(...writes)).toBeLessThanOrEqual(1000);
    expect(writes.reduce((a, b) => a + b, 0)).toBe(10_000 + 3 * 19);
  });

  it('delivers data that arrived with the handshake', async () => {
    const { serverSocket, client, server } = await connectedPair();
    const early = Buffer.concat([Buffer.from([4, 0, 21]), client.send.seal(Buffer.from('early'))]);
    const serverConn = new ControlConn(serverSocket, server, { initialData: early });
    expect((await readBytes(serverConn, 5)).toString()).toBe('early');
  });

  const failures: Array<[string, (client: HandshakeResult) => Buffer, RegExp]> = [
    ['a record type other than 0x04', () => Buffer.from([1, 0, 16, ...new Uint8Array(16)]), /message type 0x01 after the handshake/],
    ['a record over 4096 bytes', () => Buffer.from([4, 0x10, 0x00]), /record of 4099 bytes exceeds the maximum of 4096/],
    ['a record shorter than its tag', () => Buffer.from([4, 0, 3, 1, 2, 3]), /shorter than its 16-byte tag/],
    [
      'a record that fails decryption',
      (client) => {
        const sealed = client.send.seal(Buffer.from('x'));
        sealed[0]! ^= 1;
        return Buffer.concat([Buffer.from([4, 0, sealed.length]), sealed]);
      },
      /decrypting record 0/,
    ],
  ];
  for (const [name, build, message] of failures) {
    it(`ends the connection on ${name}`, async () => {
      const { clientSocket, serverSocket, client, server } = await connectedPair();
      const serverConn = new ControlConn(serverSocket, server);
      const failed = once(serverConn, 'error');
      clientSocket.write(build(client));
      const [error] = (await failed) as [Error];
      expect(error).toBeInstanceOf(FrameError);
      expect(error.message).toMatch(message);
      await once(clientSocket, 'close');
    });
  }
});
