/**
 * Each kind of bad input must end only the connection it arrived on, be logged with the client's
 * key prefix and remote address, and leave the relay serving everyone else.
 */
import crypto from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';

import { DerpClient, dialDerpTransport } from '../../protocol/derp/client.js';
import {
  FrameType,
  KeyLen,
  MaxPacketSize,
  encodeClientInfo,
  encodeFrame,
  encodeFrameHeader,
  encodeSendPacket,
  sealClientInfo,
} from '../../protocol/derp/index.js';
import { X25519PrivateKey } from '../../protocol/x25519.js';
import { type TestRelay, admitted, expectRelayServes, nextPacket, startTestRelay } from '../helpers/derp.js';

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

/** Waits for the relay's log line about `client` disconnecting and returns it. */
function disconnectLog(client: DerpClient) {
  return relay!.waitForLog((line) => line.msg === 'DERP client disconnected' && line.client === client.publicKey.short());
}

describe('DERP relay with bad input', () => {
  it('discards unknown frame types and counts them', async () => {
    relay = await startTestRelay();
    const a = await connect();
    const b = await connect();
    await Promise.all([admitted(a), admitted(b)]);

    a.writeRaw(encodeFrame(0x7f, crypto.randomBytes(100)));
    // A 2 MiB frame of an unknown type is skipped as it streams in, never buffered whole.
    a.writeRaw(encodeFrameHeader(0x7e, 2 * 1024 * 1024));
    for (let i = 0; i < 32; i++) a.writeRaw(crypto.randomBytes(64 * 1024));
    a.send(b.publicKey, Buffer.from('after the unknown frames'));

    expect((await nextPacket(b)).packet.toString()).toBe('after the unknown frames');
    expect(relay.relay.stats.unknownFrames).toBe(2);
    const line = await relay.waitForLog((entry) => typeof entry.msg === 'string' && entry.msg.startsWith('ignored a DERP frame type'));
    expect(line.client).toBe(a.publicKey.short());
    expect(line.remote).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(line.frameType).toBe('0x7f');
  });

  it.each([
    ['NotePreferred of 2 bytes', encodeFrame(FrameType.NotePreferred, Uint8Array.of(1, 1)), /NotePreferred frame: declared payload length 2, expected 1/],
    ['Ping of 4 bytes', encodeFrame(FrameType.Ping, new Uint8Array(4)), /Ping frame: declared payload length 4, expected 8\.\.1000/],
    ['Ping of 1001 bytes', encodeFrame(FrameType.Ping, new Uint8Array(1001)), /Ping frame: declared payload length 1001/],
    ['SendPacket shorter than a key', encodeFrame(FrameType.SendPacket, new Uint8Array(31)), /SendPacket frame: declared payload length 31/],
    ['WatchConns without a mesh key', encodeFrame(FrameType.WatchConns), /WatchConns frame: only mesh peers/],
    ['ClosePeer without a mesh key', encodeFrame(FrameType.ClosePeer, new Uint8Array(32)), /ClosePeer frame: only mesh peers/],
  ])('closes the connection on %s', async (_name, frame, reason) => {
    relay = await startTestRelay();
    const client = await connect();
    await admitted(client);
    client.writeRaw(frame);
    await client.closed;
    const line = await disconnectLog(client);
    expect(line.reason).toMatch(reason);
    expect(line.remote).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(line.level).toBe(30);
    expect(relay.relay.stats.protocolErrors).toBe(1);
    await expectRelayServes(relay);
  });

  it('closes the connection on an oversized packet before reading it', async () => {
    relay = await startTestRelay();
    const client = await connect();
    await admitted(client);
    // Only the header is sent: the relay must reject the declared length without waiting for 64 KiB.
    client.writeRaw(encodeFrameHeader(FrameType.SendPacket, KeyLen + MaxPacketSize + 1));
    await client.closed;
    const line = await disconnectLog(client);
    expect(line.reason).toMatch(/SendPacket frame: declared payload length 65569, expected 32\.\.65568/);
    await expectRelayServes(relay);
  });

  it('rejects a ClientInfo whose box does not open', async () => {
    relay = await startTestRelay();
    const { socket } = await dialDerpTransport({ host: '127.0.0.1', port: relay.port, tls: { serverName: '127.0.0.1', pinSha256: relay.pin } });
    const client = X25519PrivateKey.generate();
    // Sealed to the wrong server key, so the relay cannot open it.
    const wrongServer = X25519PrivateKey.generate();
    const sealed = sealClientInfo({ meshKey: undefined, version: 2, canAckPings: true, isProber: false }, client, wrongServer.publicKey);
    socket.resume();
    socket.write(encodeClientInfo(client.publicKey, sealed));
    await new Promise((resolve) => socket.once('close', resolve));

    const line = await relay.waitForLog((entry) => entry.msg === 'rejected DERP client');
    expect(line.failure).toBe('bad_box');
    expect(line.reason).toMatch(/invalid Poly1305 tag/);
    expect(typeof line.client).toBe('string');
    expect(line.remote).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(relay.relay.stats.handshakeFailures.bad_box).toBe(1);
    await expectRelayServes(relay);
  });

  it('rejects a ClientInfo with invalid JSON', async () => {
    relay = await startTestRelay();
    const { socket } = await dialDerpTransport({ host: '127.0.0.1', port: relay.port, tls: { serverName: '127.0.0.1', pinSha256: relay.pin } });
    const client = X25519PrivateKey.generate();
    const { sealTo } = await import('../../protocol/box.js');
    socket.resume();
    socket.write(encodeClientInfo(client.publicKey, sealTo(Buffer.from('{"version":'), relay.relay.publicKey.bytes, client)));
    await new Promise((resolve) => socket.once('close', resolve));
    const line = await relay.waitForLog((entry) => entry.msg === 'rejected DERP client');
    expect(line.failure).toBe('protocol_error');
    expect(line.reason).toMatch(/ClientInfo frame: invalid JSON/);
  });

  it('rejects a first frame that is not ClientInfo', async () => {
    relay = await startTestRelay();
    const { socket } = await dialDerpTransport({ host: '127.0.0.1', port: relay.port, tls: { serverName: '127.0.0.1', pinSha256: relay.pin } });
    socket.resume();
    socket.write(encodeSendPacket(new Uint8Array(32), Buffer.from('too early')));
    await new Promise((resolve) => socket.once('close', resolve));
    const line = await relay.waitForLog((entry) => entry.msg === 'rejected DERP client');
    expect(line.failure).toBe('protocol_error');
    expect(line.reason).toMatch(/expected a ClientInfo frame first, got SendPacket/);
  });

  it('closes a connection that never sends ClientInfo', async () => {
    relay = await startTestRelay({ settings: { handshake_timeout: 300 } });
    const { socket } = await dialDerpTransport({ host: '127.0.0.1', port: relay.port, tls: { serverName: '127.0.0.1', pinSha256: relay.pin } });
    socket.resume();
    const started = performance.now();
    await new Promise((resolve) => socket.once('close', resolve));
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    const line = await relay.waitForLog((entry) => entry.msg === 'rejected DERP client');
    expect(line.failure).toBe('timeout');
    expect(line.remote).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(relay.relay.stats.handshakeFailures.timeout).toBe(1);
    await expectRelayServes(relay);
  });

  it('drops packets for a slow reader', { timeout: 30_000 }, async () => {
    relay = await startTestRelay({ settings: { write_timeout: 1_000 } });
    const flooder = await connect();
    const slow = await connect();
    await Promise.all([admitted(flooder), admitted(slow)]);
    // The slow client stops reading: its TCP window fills, then the relay's buffer, then its queue.
    slow.socket.pause();

    // Loopback TCP buffers hold megabytes, so keep sending until they are full and the relay's queue overflows.
    const packet = crypto.randomBytes(16 * 1024);
    const flood = async (until: () => boolean) => {
      const started = performance.now();
      while (!until() && performance.now() - started < 15_000) {
        for (let i = 0; i < 16; i++) flooder.send(slow.publicKey, packet);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };
    const stats = relay.relay.stats;
    await flood(() => stats.packetsDropped.queue_full > 0);
    expect(stats.packetsDropped.queue_full).toBeGreaterThan(0);
    const line = await relay.waitForLog((entry) => typeof entry.msg === 'string' && entry.msg.startsWith('DERP client reads too slowly'));
    expect(line.client).toBe(slow.publicKey.short());

    // Meanwhile everyone else is served, the flooder included.
    await expectRelayServes(relay);
    const friend = await connect();
    await admitted(friend);
    flooder.send(friend.publicKey, Buffer.from('still here'));
    expect((await nextPacket(friend)).packet.toString()).toBe('still here');

    // Once the relay's own buffer for the slow client stays full for the write timeout, it goes.
    await flood(() => stats.writeTimeouts > 0);
    const gone = await disconnectLog(slow);
    expect(gone.reason).toMatch(/write timed out/);
    expect(stats.writeTimeouts).toBe(1);
  });

  it('limits the byte rate of a client when configured', async () => {
    relay = await startTestRelay({ settings: { client_rate_limit: 1_000_000, client_rate_burst: 100_000 } });
    const sender = await connect();
    const receiver = await connect();
    const [{ info }] = await Promise.all([admitted(sender), admitted(receiver)]);
    expect(info.tokenBucketBytesPerSecond).toBe(1_000_000);
    expect(info.tokenBucketBytesBurst).toBe(100_000);

    let received = 0;
    receiver.onPacket = (_source, packet) => {
      received += packet.length;
    };
    const started = performance.now();
    // 1.2 MB at 1 MB/s with a 100 kB burst takes about 1.1 s; small packets keep the queue from dropping.
    for (let i = 0; i < 1_000; i++) sender.send(receiver.publicKey, crypto.randomBytes(1_200));
    while (received < 1_200_000) {
      if (performance.now() - started > 5_000) throw new Error(`only ${received} bytes arrived`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(performance.now() - started).toBeGreaterThan(900);
    expect(relay.relay.stats.rateLimitPauses).toBeGreaterThan(0);
  });
});
