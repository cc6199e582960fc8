import { once } from 'node:events';
import http2 from 'node:http2';

import { afterEach, describe, expect, it } from 'vitest';

import { CLIENT_PREFACE, ErrorCode, Flag, FrameType, encodeFrame, encodeRstStream, encodeSettings } from '../../protocol/http2/frame.js';
import { encodeHeaders } from '../../protocol/http2/hpack.js';
import { dialControl } from '../../protocol/ts2021/client.js';
import { X25519PrivateKey } from '../../protocol/x25519.js';
import { type TestCoordinator, startTestCoordinator } from '../helpers/coordinator.js';
import { FakeNode } from '../helpers/fake-node.js';

const cleanups: Array<() => void | Promise<void>> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function coordinatorWith(overrides: Record<string, string>): Promise<TestCoordinator> {
  const coordinator = await startTestCoordinator({ overrides });
  cleanups.push(() => coordinator.stop());
  return coordinator;
}

/** Opens a control connection with HTTP/2 on top, as a client that is not a node yet. */
async function openSession(coordinator: TestCoordinator): Promise<http2.ClientHttp2Session> {
  const conn = await dialControl({ serverUrl: coordinator.serverUrl, machineKey: X25519PrivateKey.generate(), serverPublic: coordinator.noisePublicKey });
  const session = http2.connect('http://control.invalid', { createConnection: () => conn });
  session.on('error', () => {});
  cleanups.push(() => void session.destroy());
  return session;
}

async function request(session: http2.ClientHttp2Session, path: string): Promise<number> {
  const stream = session.request({ ':method': 'POST', ':path': path });
  stream.end('{}');
  const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
  stream.resume();
  await once(stream, 'close');
  return Number(headers[':status']);
}

/** Resolves with true once `session` closes, or false after `timeoutMs`. */
function closesWithin(session: http2.ClientHttp2Session, timeoutMs: number): Promise<boolean> {
  if (session.closed || session.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    session.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

describe('control connection idle timeout', () => {
  it('closes a connection idle after a request', async () => {
    const coordinator = await coordinatorWith({ 'control.idle_timeout': '300ms' });
    const session = await openSession(coordinator);
    expect(await request(session, '/machine/nothing')).toBe(404);

    expect(await closesWithin(session, 3_000)).toBe(true);
    const logged = await coordinator.waitForLog((line) => line.msg === 'closing idle control connection');
    expect(logged.timeoutMs).toBe(300);
  });

  it('keeps a connection with an open map stream', async () => {
    const coordinator = await coordinatorWith({ 'control.idle_timeout': '300ms', 'control.map_keepalive_interval': '10s' });
    const user = coordinator.tailnet.createUser({ name: 'alice' });
    const node = new FakeNode(coordinator.serverUrl, coordinator.noisePublicKey, 'streaming');
    cleanups.push(() => node.close());
    await node.register({ Auth: { AuthKey: coordinator.tailnet.createPreAuthKey({ userId: user.id, reusable: false, ephemeral: false }).text } });
    expect(await node.streamMap()).toBe(200);
    await node.waitForMessage((m) => m.Node !== undefined);

    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(node.mapStreamClosed).toBe(false);
    expect(coordinator.mapSessions.count).toBe(1);
  });
});

describe('control connection cap', () => {
  it('rejects upgrades beyond control.max_connections with 503', async () => {
    const coordinator = await coordinatorWith({ 'control.max_connections': '2' });
    const first = await openSession(coordinator);
    await openSession(coordinator);

    await expect(openSession(coordinator)).rejects.toThrow(/HTTP\/1\.1 503 Service Unavailable/);
    const logged = await coordinator.waitForLog((line) => line.msg === 'rejected ts2021 upgrade: control.max_connections reached');
    expect(logged.level).toBe(40);
    expect(logged.maxConnections).toBe(2);

    first.destroy();
    const deadline = Date.now() + 3_000;
    let admitted = false;
    while (!admitted && Date.now() < deadline) {
      admitted = await openSession(coordinator).then(
        () => true,
        () => false,
      );
      if (!admitted) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(admitted).toBe(true);
  });
});

describe('map streams that end early', () => {
  it('leaves the node offline after a late reset', async () => {
    const coordinator = await coordinatorWith({});
    const userId = coordinator.tailnet.createUser({ name: 'racer' }).id;
    const node = new FakeNode(coordinator.serverUrl, coordinator.noisePublicKey, 'racer');
    cleanups.push(() => node.close());
    await node.register({ Auth: { AuthKey: coordinator.tailnet.createPreAuthKey({ userId, reusable: false, ephemeral: false }).text } });
    const nodeId = coordinator.tailnet.findNodeByNodeKey(node.nodeKey)!.id;

    // Raw frames, because an HTTP/2 client library will not put END_STREAM and RST_STREAM in one write.
    const conn = await dialControl({ serverUrl: coordinator.serverUrl, machineKey: node.machineKey, serverPublic: coordinator.noisePublicKey });
    conn.on('error', () => {});
    cleanups.push(() => void conn.destroy());
    const body = Buffer.from(JSON.stringify({ Version: 131, NodeKey: node.nodeKey.toString(), DiscoKey: node.discoKey.toString(), Stream: true, Compress: 'zstd' }));
    const block = encodeHeaders([
      [':method', 'POST'],
      [':scheme', 'https'],
      [':authority', 'control.invalid'],
      [':path', '/machine/map'],
    ]);
    conn.write(Buffer.concat([CLIENT_PREFACE, encodeSettings([]), encodeFrame(FrameType.headers, Flag.endHeaders, 1, block), encodeFrame(FrameType.data, 0, 1, body.subarray(0, 10))]));
    await new Promise((resolve) => setTimeout(resolve, 200));

    conn.write(Buffer.concat([encodeFrame(FrameType.data, Flag.endStream, 1, body.subarray(10)), encodeRstStream(1, ErrorCode.cancel)]));
    await new Promise((resolve) => setTimeout(resolve, 300));

    expect(coordinator.mapSessions.isStreaming(nodeId)).toBe(false);
    expect(coordinator.tailnet.nodes.get(nodeId)!.online).toBe(false);
  });

  it('deletes an ephemeral node that was offline when the coordinator restarted', async () => {
    const first = await startTestCoordinator({ overrides: { 'tailnet.ephemeral_inactivity_timeout': '300ms' } });
    const userId = first.tailnet.createUser({ name: 'ghost' }).id;
    const node = new FakeNode(first.serverUrl, first.noisePublicKey, 'ghost');
    await node.register({ Auth: { AuthKey: first.tailnet.createPreAuthKey({ userId, reusable: false, ephemeral: true }).text } });
    node.close();
    const nodeId = first.tailnet.findNodeByNodeKey(node.nodeKey)!.id;

    const restarted = await first.restart();
    cleanups.push(() => restarted.stop());
    expect(restarted.tailnet.nodes.has(nodeId)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 800));

    expect(restarted.tailnet.nodes.has(nodeId)).toBe(false);
  });
});

describe('control connections per address', () => {
  it('rejects connections beyond the limit for one address', async () => {
    const coordinator = await coordinatorWith({ 'control.max_connections_per_address': '2', trusted_proxies: '127.0.0.1' });
    const dial = (forwardedFor?: string) =>
      dialControl({
        serverUrl: coordinator.serverUrl,
        machineKey: X25519PrivateKey.generate(),
        serverPublic: coordinator.noisePublicKey,
        ...(forwardedFor === undefined ? {} : { headers: { 'X-Forwarded-For': forwardedFor } }),
      });
    const first = await dial();
    const second = await dial();
    cleanups.push(() => void first.destroy(), () => void second.destroy());

    await expect(dial()).rejects.toThrow(/503/);
    const elsewhere = await dial('203.0.113.9');
    cleanups.push(() => void elsewhere.destroy());
    const logged = await coordinator.waitForLog((line) => line.msg === 'rejected ts2021 upgrade: control.max_connections_per_address reached');
    expect(logged.remote).toMatch(/^127\.0\.0\.1:\d+$/);

    // A closed connection frees its place.
    first.destroy();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const again = await dial();
    cleanups.push(() => void again.destroy());
  });
});
