import crypto from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';

import { DerpClient, dialDerpTransport } from '../../protocol/derp/client.js';
import { DiscoMagic, FrameType, PeerGoneReason, ProtocolVersion } from '../../protocol/derp/index.js';
import { NodePublic } from '../../protocol/key.js';
import { X25519PrivateKey } from '../../protocol/x25519.js';
import { type TestRelay, admitted, expectRelayServes, nextPacket, ofType, startTestRelay } from '../helpers/derp.js';

let relay: TestRelay | undefined;
const clients: DerpClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await relay?.stop();
  relay = undefined;
});

async function connect(options: Parameters<TestRelay['connect']>[0] = {}): Promise<DerpClient> {
  const client = await relay!.connect(options);
  clients.push(client);
  return client;
}

/** Builds a packet that the relay and Go's disco.LooksLikeDiscoWrapper treat as disco: magic, 32-byte key, 24-byte nonce. */
function discoPacket(): Buffer {
  return Buffer.concat([Buffer.from(DiscoMagic), crypto.randomBytes(32 + 24 + 16)]);
}

async function waitUntil(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('DERP relay', () => {
  it('sends ServerInfo with protocol version 2', async () => {
    relay = await startTestRelay();
    const client = await connect();
    const { info } = await admitted(client);
    expect(info.version).toBe(ProtocolVersion);
    expect(info.tokenBucketBytesPerSecond).toBe(0);
    expect(client.serverPublic.equals(relay.relay.publicKey)).toBe(true);
  });

  it('relays packets both ways in order', async () => {
    relay = await startTestRelay();
    const a = await connect();
    const b = await connect();
    await Promise.all([admitted(a), admitted(b)]);

    const sizes = [0, 1, 1200, 9000, 65_536];
    const fromA = Array.from({ length: 200 }, (_, i) => crypto.randomBytes(sizes[i % sizes.length]!));
    const fromB = Array.from({ length: 200 }, (_, i) => crypto.randomBytes(sizes[(i + 2) % sizes.length]!));
    const receivedByB: Buffer[] = [];
    const receivedByA: Buffer[] = [];
    b.onPacket = (source, packet) => {
      expect(Buffer.from(source).equals(a.publicKey.bytes)).toBe(true);
      receivedByB.push(Buffer.from(packet));
    };
    a.onPacket = (source, packet) => {
      expect(Buffer.from(source).equals(b.publicKey.bytes)).toBe(true);
      receivedByA.push(Buffer.from(packet));
    };

    // Pace the sends so no packet falls out of the 32-deep queue: this test is about order.
    for (let i = 0; i < fromA.length; i++) {
      a.send(b.publicKey, fromA[i]!);
      b.send(a.publicKey, fromB[i]!);
      if (i % 16 === 15) await waitUntil(() => receivedByB.length > i - 8 && receivedByA.length > i - 8);
    }
    await waitUntil(() => receivedByB.length === fromA.length && receivedByA.length === fromB.length);

    expect(receivedByB.map((p) => p.toString('hex'))).toEqual(fromA.map((p) => p.toString('hex')));
    expect(receivedByA.map((p) => p.toString('hex'))).toEqual(fromB.map((p) => p.toString('hex')));
    expect(relay.relay.stats.packetsSent).toBe(400);
    expect(relay.relay.stats.packetsDropped.queue_full).toBe(0);
  });

  it('sends keepalives at the configured interval', async () => {
    relay = await startTestRelay({ settings: { keepalive_interval: 300 } });
    const client = await connect();
    await admitted(client);
    const started = performance.now();
    await client.waitFor((message) => message.type === 'keepAlive', 2_000);
    await client.waitFor((message) => message.type === 'keepAlive', 2_000);
    // Two intervals of 300 ms plus at most 25 ms of jitter each.
    expect(performance.now() - started).toBeGreaterThanOrEqual(500);
  });

  it('answers a ping with a pong carrying its data', async () => {
    relay = await startTestRelay();
    const client = await connect();
    await admitted(client);
    const data = crypto.randomBytes(8);
    client.ping(data);
    const pong = ofType(await client.waitFor((message) => message.type === 'pong'), 'pong');
    expect(pong.data.equals(data)).toBe(true);
    expect(relay.relay.stats.pingsReceived).toBe(1);
  });

  it('accepts NotePreferred and keeps relaying', async () => {
    relay = await startTestRelay();
    const a = await connect();
    const b = await connect();
    await Promise.all([admitted(a), admitted(b)]);
    a.notePreferred(true);
    a.send(b.publicKey, Buffer.from('after NotePreferred'));
    expect((await nextPacket(b)).packet.toString()).toBe('after NotePreferred');
    expect(relay.relay.stats.protocolErrors).toBe(0);
  });

  it('sends PeerGone to clients that heard from a leaving client', async () => {
    relay = await startTestRelay();
    const leaver = await connect();
    const listener = await connect();
    const bystander = await connect();
    await Promise.all([admitted(leaver), admitted(listener), admitted(bystander)]);

    leaver.send(listener.publicKey, Buffer.from('hello'));
    await nextPacket(listener);
    leaver.close();

    const gone = ofType(await listener.waitFor((message) => message.type === 'peerGone'), 'peerGone');
    expect(gone.peer.equals(leaver.publicKey)).toBe(true);
    expect(gone.reason).toBe(PeerGoneReason.Disconnected);

    // The bystander never received a packet from the leaver, so it hears nothing.
    await expect(bystander.waitFor((message) => message.type === 'peerGone', 300)).rejects.toThrow(/no matching/);
    expect(relay.relay.stats.peerGoneDisconnected).toBe(1);
  });

  it('answers a disco packet to an absent key with rate-limited PeerGone(NotHere)', async () => {
    relay = await startTestRelay();
    const sender = await connect();
    await admitted(sender);
    const absent = NodePublic.fromBytes(X25519PrivateKey.generate().publicKey);

    sender.send(absent, Buffer.from('not disco, so no reply'));
    for (let i = 0; i < 10; i++) sender.send(absent, discoPacket());

    const first = ofType(await sender.waitFor((message) => message.type === 'peerGone'), 'peerGone');
    expect(first.peer.equals(absent)).toBe(true);
    expect(first.reason).toBe(PeerGoneReason.NotHere);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // A burst of 3, then one a second: well under 10 replies within 300 ms.
    const replies = 1 + sender.pending.filter((message) => message.type === 'peerGone').length;
    expect(replies).toBe(3);
    expect(relay.relay.stats.packetsDropped.unknown_destination).toBe(11);
  });

  it('lets the latest connection of a key win', async () => {
    relay = await startTestRelay();
    const key = X25519PrivateKey.generate();
    const first = await connect({ privateKey: key });
    await admitted(first);
    const second = await connect({ privateKey: key });
    await admitted(second);
    const peer = await connect();
    await admitted(peer);

    peer.send(second.publicKey, Buffer.from('to the newest'));
    expect((await nextPacket(second)).packet.toString()).toBe('to the newest');
    await expect(first.waitFor((message) => message.type === 'packet', 200)).rejects.toThrow(/no matching/);
    expect(relay.relay.stats.duplicateConnections).toBe(1);

    // Once the newest leaves, the remaining connection receives again, and no client gets PeerGone.
    second.close();
    await relay.waitForLog((line) => line.msg === 'DERP client disconnected' && line.client === second.publicKey.short());
    peer.send(first.publicKey, Buffer.from('to the older'));
    expect((await nextPacket(first)).packet.toString()).toBe('to the older');
    expect(peer.pending.some((message) => message.type === 'peerGone')).toBe(false);
  });

  it('makes the last sender of a duplicated key active', async () => {
    relay = await startTestRelay();
    const key = X25519PrivateKey.generate();
    const older = await connect({ privateKey: key });
    await admitted(older);
    const newer = await connect({ privateKey: key });
    await admitted(newer);
    const peer = await connect();
    await admitted(peer);

    older.ping(Buffer.alloc(8));
    await older.waitFor((message) => message.type === 'pong');
    peer.send(older.publicKey, Buffer.from('to the last writer'));
    expect((await nextPacket(older)).packet.toString()).toBe('to the last writer');
  });

  it('rejects a key the verifier does not admit', async () => {
    const allowed = X25519PrivateKey.generate();
    const allowedKey = NodePublic.fromBytes(allowed.publicKey);
    relay = await startTestRelay({ verifyClient: (key) => key.equals(allowedKey) });

    const stranger = await connect();
    await stranger.closed;
    expect(stranger.pending.some((message) => message.type === 'serverInfo')).toBe(false);
    expect(relay.relay.stats.handshakeFailures.rejected).toBe(1);
    const line = await relay.waitForLog((entry) => entry.msg === 'rejected DERP client');
    expect(line.client).toBe(stranger.publicKey.short());
    expect(line.remote).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(line.failure).toBe('rejected');

    const member = await connect({ privateKey: allowed });
    await admitted(member);
  });

  it('closes clients that the verifier stops admitting', async () => {
    let admit = true;
    relay = await startTestRelay({ verifyClient: () => admit });
    const client = await connect();
    await admitted(client);
    admit = false;
    expect(await relay.relay.recheckClients(() => admit)).toBe(1);
    await client.closed;
  });

  it('closes clients whose key expires while connected', async () => {
    let admit = true;
    relay = await startTestRelay({ verifyClient: () => admit, recheckIntervalMs: 100 });
    const client = await connect();
    await admitted(client);
    admit = false;
    await client.closed;
    const line = await relay.waitForLog((entry) => entry.msg === 'DERP client disconnected');
    expect(line.reason).toBe('node key is no longer admitted');
  });

  it('serves the WebSocket variant', async () => {
    relay = await startTestRelay();
    const overWebSocket = await connect({ transport: 'websocket' });
    const overTls = await connect();
    await Promise.all([admitted(overWebSocket), admitted(overTls)]);
    overWebSocket.send(overTls.publicKey, Buffer.from('from a WebSocket'));
    expect((await nextPacket(overTls)).packet.toString()).toBe('from a WebSocket');
    overTls.send(overWebSocket.publicKey, crypto.randomBytes(65_536));
    expect((await nextPacket(overWebSocket)).packet.length).toBe(65_536);
  });

  it('writes no HTTP response for fast start', async () => {
    relay = await startTestRelay();
    const { socket } = await dialDerpTransport({ host: '127.0.0.1', port: relay.port, fastStart: true });
    const [first] = (await new Promise((resolve) => socket.once('data', (chunk) => resolve([chunk])))) as [Buffer];
    socket.destroy();
    expect(first[0]).toBe(FrameType.ServerKey);
  });

  it('treats Upgrade websocket without a WebSocket key as plain DERP', async () => {
    relay = await startTestRelay();
    const client = await connect({ upgrade: 'websocket' });
    await admitted(client);
    await expectRelayServes(relay);
  });
});
