/**
 * The DERP relay: takes upgraded connections from the HTTP listener, runs the handshake,
 * registers each verified client and forwards SendPacket frames to the active connection of
 * the destination key. Each failure ends only the connection it happened on and is logged with
 * the client's key prefix (when known) and remote address.
 */
import type { Duplex } from 'node:stream';

import { PeerGoneReason, ProtocolVersion, encodeServerInfo, looksLikeDiscoPacket, sealServerInfo } from '../../protocol/derp/index.js';
import { NodePublic } from '../../protocol/key.js';
import type { X25519PrivateKey } from '../../protocol/x25519.js';
import type { Logger } from '../log.js';
import { ClientConnection, type ConnectionHost, type ConnectionSettings } from './client-conn.js';
import { HandshakeError, runHandshake } from './handshake.js';
import { ClientRegistry } from './registry.js';
import { type RelayStats, newRelayStats } from './stats.js';
import type { ClientVerifier } from './verifier.js';

export interface DerpRelayOptions {
  /** The relay's own key, announced in ServerKey; keep it separate from the Noise key. */
  privateKey: X25519PrivateKey;
  verifyClient: ClientVerifier;
  log: Logger;
  /** Interval between KeepAlive frames to each client, before jitter. Default 60 s, as in Go. */
  keepAliveIntervalMs?: number;
  /** Time from the upgrade until a client must be verified. Default 10 s, as in Go. */
  handshakeTimeoutMs?: number;
  /** Time a client may leave written data unread before it is disconnected. Default 2 s, Go's TCP write timeout. */
  writeTimeoutMs?: number;
  /** Capacity of each of a client's two send queues. Default 32, as in Go. */
  sendQueueDepth?: number;
  /** Bytes buffered per client above which queued packets wait. Default 256 KiB. */
  writeBufferLimit?: number;
  /**
   * Bytes per second and burst each client may send. Tailscale clients also learn it from
   * ServerInfo and limit themselves. Default: no limit.
   */
  clientRateLimit?: { bytesPerSecond: number; burstBytes: number };
  /** Interval at which connected clients are verified again, so node keys that expired meanwhile leave. Default 60 s. */
  recheckIntervalMs?: number;
}

export class DerpRelay implements ConnectionHost {
  readonly publicKey: NodePublic;
  readonly stats: RelayStats = newRelayStats();
  private readonly registry = new ClientRegistry();
  private readonly handshaking = new Set<Duplex>();
  private readonly settings: ConnectionSettings;
  private readonly handshakeTimeoutMs: number;
  private closed = false;
  private readonly recheckTimer: NodeJS.Timeout;

  constructor(private readonly options: DerpRelayOptions) {
    this.publicKey = NodePublic.fromBytes(options.privateKey.publicKey);
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
    this.settings = {
      keepAliveIntervalMs: options.keepAliveIntervalMs ?? 60_000,
      writeTimeoutMs: options.writeTimeoutMs ?? 2_000,
      sendQueueDepth: options.sendQueueDepth ?? 32,
      writeBufferLimit: options.writeBufferLimit ?? 256 * 1024,
      clientRateLimit: options.clientRateLimit,
    };
    this.recheckTimer = setInterval(() => {
      this.recheckClients(options.verifyClient).catch((error: unknown) => options.log.error({ err: error }, 'rechecking DERP clients failed'));
    }, options.recheckIntervalMs ?? 60_000);
    this.recheckTimer.unref();
  }

  /** Number of distinct node keys connected. */
  get clientCount(): number {
    return this.registry.size;
  }

  isConnected(nodeKey: NodePublic): boolean {
    return this.registry.active(nodeKey.hex()) !== undefined;
  }

  /**
   * Serves a connection after the 101 response was written, or skipped for fast start.
   * `head` contains the bytes that arrived after the request head.
   */
  accept(transport: Duplex, head: Buffer, remoteAddress: string): void {
    if (this.closed) {
      transport.destroy();
      return;
    }
    this.stats.connectionsAccepted += 1;
    this.handshaking.add(transport);
    transport.on('error', (error: Error) => this.options.log.debug({ remote: remoteAddress, err: error.message }, 'DERP connection failed during handshake'));

    runHandshake(transport, head, {
      serverKey: this.options.privateKey,
      verifyClient: this.options.verifyClient,
      timeoutMs: this.handshakeTimeoutMs,
      remoteAddress,
    }).then(
      (result) => {
        this.handshaking.delete(transport);
        if (this.closed || transport.destroyed) {
          transport.destroy();
          return;
        }
        const log = this.options.log.child({ client: result.clientKey.short(), remote: remoteAddress });
        const connection = new ClientConnection(result.clientKey, remoteAddress, transport, result.input, this, this.settings, log);
        this.register(connection);
      },
      (error: unknown) => {
        this.handshaking.delete(transport);
        transport.destroy();
        if (error instanceof HandshakeError) {
          this.stats.handshakeFailures[error.failure] += 1;
          const client = error.clientKey === undefined ? {} : { client: error.clientKey.short() };
          this.options.log.info({ remote: remoteAddress, ...client, failure: error.failure, reason: error.message }, 'rejected DERP client');
          return;
        }
        this.options.log.error({ remote: remoteAddress, err: error }, 'DERP handshake failed unexpectedly');
      },
    );
  }

  /**
   * Closes the connections whose key the verifier no longer admits, for example after their
   * node was deleted or logged in with a new key. Returns how many were closed.
   */
  async recheckClients(verifyClient: ClientVerifier): Promise<number> {
    let closed = 0;
    for (const connection of [...this.registry.connections()]) {
      if (await verifyClient(connection.key, connection.remoteAddress)) continue;
      connection.close('node key is no longer admitted');
      closed += 1;
    }
    return closed;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.recheckTimer);
    for (const transport of this.handshaking) transport.destroy();
    this.handshaking.clear();
    for (const connection of [...this.registry.connections()]) connection.close('relay is shutting down', 'debug');
  }

  private register(connection: ClientConnection): void {
    const others = this.registry.register(connection);
    if (others > 0) {
      this.stats.duplicateConnections += 1;
      connection.log.info({ connections: others + 1 }, 'DERP client connected again with the same key; the newest connection receives its packets');
    } else {
      connection.log.debug('DERP client connected');
    }

    const limit = this.settings.clientRateLimit;
    const info = {
      version: ProtocolVersion,
      tokenBucketBytesPerSecond: limit?.bytesPerSecond ?? 0,
      tokenBucketBytesBurst: limit?.burstBytes ?? 0,
    };
    connection.sendFrame(encodeServerInfo(sealServerInfo(info, this.options.privateKey, connection.key.bytes)));
    connection.start();
  }

  routePacket(from: ClientConnection, destination: Uint8Array, packet: Uint8Array): void {
    const destinationHex = Buffer.from(destination.buffer, destination.byteOffset, destination.length).toString('hex');
    const target = this.registry.active(destinationHex);
    if (target === undefined) {
      this.stats.packetsDropped.unknown_destination += 1;
      // Only disco packets get a reply, so a sender's WireGuard traffic to a gone peer stays quiet.
      if (looksLikeDiscoPacket(packet) && from.notHereLimiter.allow()) from.sendPeerGone(destination, PeerGoneReason.NotHere);
      return;
    }
    target.enqueuePacket({ sourceKey: from.key.bytes, sourceHex: from.keyHex, packet });
  }

  noteActivity(from: ClientConnection): void {
    this.registry.noteActivity(from);
  }

  watchSource(watcher: ClientConnection, sourceHex: string): void {
    this.registry.watch(sourceHex, watcher);
  }

  connectionClosed(connection: ClientConnection): void {
    for (const watcher of this.registry.unregister(connection)) watcher.sendPeerGone(connection.key.bytes, PeerGoneReason.Disconnected);
  }
}
