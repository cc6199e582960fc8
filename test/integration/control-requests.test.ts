import { once } from 'node:events';
import http2 from 'node:http2';

import { describe, expect, it } from 'vitest';

import { dialControl } from '../../protocol/ts2021/client.js';
import { X25519PrivateKey } from '../../protocol/x25519.js';
import { startTestCoordinator } from '../helpers/coordinator.js';
import { useControlTestbed } from '../helpers/control-testbed.js';

const bed = useControlTestbed();
const { newNode } = bed;

/** Rejects naming `what` when `promise` has not settled after `timeoutMs`. */
function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not arrive within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe('control request bodies', () => {
  it('answers an oversized body with 413', async () => {
    const node = newNode('oversized');
    const response = await withTimeout(node.post('/machine/register', { NodeKey: node.nodeKey.toString(), Hostinfo: { Padding: 'x'.repeat(1024 * 1024) } }), 5_000, 'the response to an oversized body');

    expect(response.status).toBe(413);
    expect(response.body).toBe('request body exceeds 1048576 bytes\n');
    const logged = await bed.coordinator.waitForLog((line) => line.msg === 'rejected control request');
    expect(logged.status).toBe(413);
    expect(logged.level).toBe(30);

    // The connection stays usable.
    const registered = await node.register({ Auth: { AuthKey: bed.coordinator.tailnet.createPreAuthKey({ userId: bed.userId, reusable: false, ephemeral: false }).text } });
    expect(registered.body.MachineAuthorized).toBe(true);
  });
});

describe('stalled request bodies', () => {
  it('answers a body that never ends with 408', async () => {
    const stalled = await startTestCoordinator({ overrides: { 'control.first_request_timeout': '300ms', 'control.idle_timeout': '300ms' } });
    try {
      const conn = await dialControl({ serverUrl: stalled.serverUrl, machineKey: X25519PrivateKey.generate(), serverPublic: stalled.noisePublicKey });
      const session = http2.connect('http://control.invalid', { createConnection: () => conn });
      session.on('error', () => {});
      const stream = session.request({ ':method': 'POST', ':path': '/machine/register' });
      stream.on('error', () => {});
      stream.write('{"NodeKey":');

      const [headers] = (await withTimeout(once(stream, 'response'), 3_000, 'the response to a stalled body')) as [http2.IncomingHttpHeaders];
      expect(headers[':status']).toBe(408);
      const closed = await withTimeout(once(session, 'close').then(() => true), 3_000, 'the close of the idle connection');
      expect(closed).toBe(true);
      const logged = await stalled.waitForLog((line) => line.msg === 'rejected control request');
      expect(logged.status).toBe(408);
    } finally {
      await stalled.stop();
    }
  });
});

describe('client disconnects', () => {
  it('logs dropped requests at debug only', async () => {
    const node = newNode('dropper');
    await node.register({ Auth: { AuthKey: bed.coordinator.tailnet.createPreAuthKey({ userId: bed.userId, reusable: true, ephemeral: false }).text } });
    node.close();
    const firstLine = bed.coordinator.logs.length;

    // Each client sends part of a register body or a whole map request, then goes away.
    for (let i = 0; i < 32; i++) {
      const mapRequest = i % 2 === 1;
      const conn = await dialControl({ serverUrl: bed.coordinator.serverUrl, machineKey: mapRequest ? node.machineKey : X25519PrivateKey.generate(), serverPublic: bed.coordinator.noisePublicKey });
      const session = http2.connect('http://control.invalid', { createConnection: () => conn });
      session.on('error', () => {});
      const stream = session.request({ ':method': 'POST', ':path': mapRequest ? '/machine/map' : '/machine/register' });
      stream.on('error', () => {});
      if (mapRequest) stream.end(JSON.stringify({ Version: 131, Compress: 'zstd', NodeKey: node.nodeKey.toString(), Stream: true }));
      else stream.write('{"NodeKey":');
      await new Promise((resolve) => setTimeout(resolve, i % 8 < 4 ? 1 : 20));

      // Node 20's client ends the body before it sends RST_STREAM, so only a complete request is cancelled.
      if (mapRequest && i % 4 === 1) stream.close(http2.constants.NGHTTP2_CANCEL);
      else if (i % 4 < 2) session.destroy();
      else conn.destroy();
    }
    await new Promise((resolve) => setTimeout(resolve, 500));

    const lines = bed.coordinator.logs.slice(firstLine);
    const loud = lines.filter((line) => (line.level as number) >= 40);
    expect(loud, JSON.stringify(loud.slice(0, 3))).toEqual([]);
    expect(lines.filter((line) => line.msg === 'rejected control request')).toEqual([]);
    const ended = lines.filter((line) => line.msg === 'control request ended by the client');
    expect(ended.length).toBeGreaterThan(0);
    expect(ended.every((line) => line.level === 20)).toBe(true);
    expect(ended.every((line) => line.err === undefined)).toBe(true);
  });
});
