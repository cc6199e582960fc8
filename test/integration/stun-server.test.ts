import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';

import { buildBindingRequest, newTransactionId, parseBindingResponse } from '../../protocol/stun/index.js';
import { createLogger } from '../../src/log.js';
import { StunServer } from '../../src/stun/server.js';
import { captureLogs } from '../helpers/logs.js';

let server: StunServer | undefined;
let client: dgram.Socket | undefined;

afterEach(async () => {
  client?.close();
  client = undefined;
  await server?.close();
  server = undefined;
});

async function start(): Promise<{ server: StunServer; logs: ReturnType<typeof captureLogs> }> {
  const logs = captureLogs();
  server = await StunServer.start({ host: '127.0.0.1', port: 0, log: createLogger({ level: 'debug', destination: logs.destination }) });
  client = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => client!.bind(0, '127.0.0.1', resolve));
  return { server, logs };
}

/** Sends `packet` and resolves with the first reply, or undefined after `timeoutMs`. */
function exchange(packet: Buffer, timeoutMs = 1_000): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client!.off('message', onMessage);
      resolve(undefined);
    }, timeoutMs);
    const onMessage = (message: Buffer) => {
      clearTimeout(timer);
      client!.off('message', onMessage);
      resolve(message);
    };
    client!.on('message', onMessage);
    client!.send(packet, server!.address.port, '127.0.0.1');
  });
}

describe('STUN server', () => {
  it('answers a tailscaled binding request with the sender address', async () => {
    const { server } = await start();
    const transactionId = newTransactionId();
    const request = buildBindingRequest(transactionId);
    expect(request.length).toBe(40);

    const reply = await exchange(request);
    expect(reply).toBeDefined();
    const response = parseBindingResponse(reply!);
    expect(Buffer.from(response.transactionId).equals(Buffer.from(transactionId))).toBe(true);
    expect(response.address).toEqual({ ip: '127.0.0.1', port: client!.address().port });
    expect(server.stats.requests).toBe(1);
    await expect.poll(() => server.stats.responses).toBe(1);
  });

  it.each([
    ['a non-STUN packet', Buffer.from('hello, not STUN at all')],
    ['a binding request without SOFTWARE and FINGERPRINT', (() => {
      const bare = Buffer.alloc(20);
      bare.writeUInt16BE(0x0001, 0);
      bare.writeUInt32BE(0x2112a442, 4);
      return bare;
    })()],
    ['a binding request with a broken FINGERPRINT', (() => {
      const broken = buildBindingRequest(newTransactionId());
      broken[broken.length - 1]! ^= 0xff;
      return broken;
    })()],
  ])('drops %s silently and counts it', async (_name, packet) => {
    const { server, logs } = await start();
    expect(await exchange(packet, 300)).toBeUndefined();
    const dropped = Object.values(server.stats.dropped).reduce((sum, count) => sum + count, 0);
    expect(dropped).toBe(1);
    expect(server.stats.requests).toBe(0);
    const line = await logs.waitForLog((entry) => entry.msg === 'dropped STUN packet');
    expect(line.level).toBe(20);

    // The server still responds to the next valid request.
    expect(await exchange(buildBindingRequest(newTransactionId()))).toBeDefined();
  });
});
