/**
 * One registered DERP client: reads its frames and writes everything it receives. Packets for
 * the client wait in two bounded queues, disco packets and the rest, as in Go's derpserver.
 * They go out only while the transport's write buffer is below a limit. A client that reads
 * slowly therefore costs bounded memory and loses its oldest packets instead of stalling senders.
 */
import type { Duplex } from 'node:stream';

import {
  DerpFrameError,
  FrameType,
  KeyLen,
  MaxPacketSize,
  MaxPingPayloadLen,
  PeerGoneReason,
  PingDataLen,
  decodeNotePreferred,
  decodePing,
  decodeSendPacket,
  encodeKeepAlive,
  encodePeerGone,
  encodePong,
  encodeRecvPacketPrefix,
  frameTypeName,
  looksLikeDiscoPacket,
} from '../../protocol/derp/index.js';
import type { NodePublic } from '../../protocol/key.js';
import type { Logger } from '../log.js';
import { BoundedQueue } from './bounded-queue.js';
import type { FrameEvent, FrameInput, FrameRule } from './frame-input.js';
import type { RelayStats } from './stats.js';
import { TokenBucket } from './token-bucket.js';

/** A packet waiting to be written to its destination. */
export interface QueuedPacket {
  sourceKey: Uint8Array;
  sourceHex: string;
  /** A view into the sender's received bytes; the frame reader never reuses them. */
  packet: Uint8Array;
}

export interface ConnectionSettings {
  keepAliveIntervalMs: number;
  /** Time a client may leave its write buffer above the limit before it is disconnected. */
  writeTimeoutMs: number;
  /** Capacity of each of the two send queues; a full queue drops its oldest packet. */
  sendQueueDepth: number;
  /** Bytes buffered for writing above which queued packets wait for the transport to drain. */
  writeBufferLimit: number;
  /** Bytes per second and burst a client may send, or undefined for no limit. */
  clientRateLimit: { bytesPerSecond: number; burstBytes: number } | undefined;
}

/** The relay's side of a connection: counters, routing and bookkeeping. */
export interface ConnectionHost {
  readonly stats: RelayStats;
  /** Delivers a SendPacket; `destination` and `packet` are views valid as long as the caller keeps them. */
  routePacket(from: ClientConnection, destination: Uint8Array, packet: Uint8Array): void;
  /** Notes that a client sent a frame, which makes it the active one among connections sharing its key. */
  noteActivity(from: ClientConnection): void;
  /** Notes that the connection wrote its first packet from `sourceHex`, so it must hear when that source leaves. */
  watchSource(watcher: ClientConnection, sourceHex: string): void;
  /** Called once when the connection has closed, after its queues were emptied. */
  connectionClosed(connection: ClientConnection): void;
}

/** Frame rules after the handshake. Mesh frames are rejected because this relay has no mesh key. */
function steadyStateRule(type: number): FrameRule {
  switch (type) {
    case FrameType.SendPacket:
      return { min: KeyLen, max: KeyLen + MaxPacketSize };
    case FrameType.NotePreferred:
      return { min: 1, max: 1 };
    case FrameType.Ping:
      return { min: PingDataLen, max: MaxPingPayloadLen };
    case FrameType.ForwardPacket:
    case FrameType.WatchConns:
    case FrameType.ClosePeer:
      return { reject: 'only mesh peers may send this frame, and this relay has no mesh key' };
    default:
      return 'skip';
  }
}

const MAX_UNKNOWN_FRAME_LOGS = 1;

export class ClientConnection {
  readonly keyHex: string;
  /** Whether the client named this relay its home region with NotePreferred. */
  preferred = false;
  /** Set by the registry while another connection shares this key. */
  duplicate = false;
  /** Keys of clients whose packets this connection has been sent; each must get PeerGone when it leaves. */
  readonly seenSources = new Set<string>();
  /** Limits PeerGone(NotHere) replies to one a second with a burst of 3, as Go's derpserver does. */
  readonly notHereLimiter = new TokenBucket(1, 3);
  readonly connectedAt = Date.now();

  private readonly packets: BoundedQueue<QueuedPacket>;
  private readonly discoPackets: BoundedQueue<QueuedPacket>;
  private readonly rateLimiter: TokenBucket | undefined;
  private closed = false;
  private flushScheduled = false;
  private waitingForDrain = false;
  private writeTimer: NodeJS.Timeout | undefined;
  private resumeTimer: NodeJS.Timeout | undefined;
  private readonly keepAliveTimer: NodeJS.Timeout;
  private unknownFramesLogged = 0;
  private queueDropsLogged = false;

  constructor(
    readonly key: NodePublic,
    readonly remoteAddress: string,
    private readonly transport: Duplex,
    private readonly input: FrameInput,
    private readonly host: ConnectionHost,
    private readonly settings: ConnectionSettings,
    readonly log: Logger,
  ) {
    this.keyHex = key.hex();
    this.packets = new BoundedQueue(settings.sendQueueDepth);
    this.discoPackets = new BoundedQueue(settings.sendQueueDepth);
    const limit = settings.clientRateLimit;
    this.rateLimiter = limit === undefined ? undefined : new TokenBucket(limit.bytesPerSecond, limit.burstBytes);

    // Go's derpserver adds up to 5 s of jitter to its 60 s interval; this scales it to shorter intervals.
    const jitter = Math.random() * Math.min(5_000, settings.keepAliveIntervalMs / 12);
    this.keepAliveTimer = setInterval(() => this.sendKeepAlive(), settings.keepAliveIntervalMs + jitter);
    this.keepAliveTimer.unref();
  }

  /** Starts reading, beginning with any frames the handshake already buffered. */
  start(): void {
    this.input.setRule(steadyStateRule);
    this.transport.on('data', this.onData);
    this.transport.on('drain', this.onDrain);
    this.transport.on('end', () => this.close('client closed the connection', 'debug'));
    this.transport.on('close', () => this.close('connection closed', 'debug'));
    this.transport.on('error', (error: Error) => this.close(`connection failed: ${error.message}`, 'debug'));
    this.readFrames();
    if (!this.closed) this.transport.resume();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Packets waiting in both send queues. */
  get queuedPackets(): number {
    return this.packets.length + this.discoPackets.length;
  }

  /** Queues a packet for this client, dropping the oldest queued one when its queue is full. */
  enqueuePacket(item: QueuedPacket): void {
    if (this.closed) {
      this.host.stats.packetsDropped.destination_gone += 1;
      return;
    }
    const queue = looksLikeDiscoPacket(item.packet) ? this.discoPackets : this.packets;
    // A full queue on a transport that can take more is a burst, not a slow reader: write it out now.
    if (queue.length === queue.capacity && !this.waitingForDrain) this.flush();
    if (queue.push(item) !== undefined) {
      this.host.stats.packetsDropped.queue_full += 1;
      if (!this.queueDropsLogged) {
        this.queueDropsLogged = true;
        this.log.info({ queueDepth: this.settings.sendQueueDepth }, 'DERP client reads too slowly; dropping its oldest queued packets (logged once per connection)');
      }
    }
    this.scheduleFlush();
  }

  sendPeerGone(peer: Uint8Array, reason: PeerGoneReason): void {
    if (this.closed) return;
    if (reason === PeerGoneReason.Disconnected) this.host.stats.peerGoneDisconnected += 1;
    else this.host.stats.peerGoneNotHere += 1;
    this.write(encodePeerGone(peer, reason));
  }

  /** Writes a frame that is not a packet, such as ServerInfo. */
  sendFrame(frame: Buffer): void {
    if (!this.closed) this.write(frame);
  }

  /** Closes the connection; `reason` is logged at `level` with the client's key and address. */
  close(reason: string, level: 'debug' | 'info' = 'info'): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepAliveTimer);
    clearTimeout(this.writeTimer);
    clearTimeout(this.resumeTimer);
    this.transport.off('data', this.onData);
    this.transport.off('drain', this.onDrain);
    // Errors after the close, such as EPIPE from a write still in flight, need a listener but no action.
    this.transport.on('error', () => {});
    this.transport.destroy();

    const dropped = this.packets.drain().length + this.discoPackets.drain().length;
    this.host.stats.packetsDropped.destination_gone += dropped;
    const pending = this.input.describePending();
    this.log[level]({ reason, droppedPackets: dropped, ...(pending === undefined ? {} : { partialFrame: pending }) }, 'DERP client disconnected');
    this.host.connectionClosed(this);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.input.push(chunk);
    this.readFrames();
    if (this.rateLimiter === undefined || this.closed) return;
    const waitMs = this.rateLimiter.take(chunk.length);
    if (waitMs > 0 && this.resumeTimer === undefined) {
      // Pausing stops reading from the socket, so TCP flow control slows the client down.
      this.host.stats.rateLimitPauses += 1;
      this.transport.pause();
      this.resumeTimer = setTimeout(() => {
        this.resumeTimer = undefined;
        if (!this.closed) this.transport.resume();
      }, Math.ceil(waitMs));
    }
  };

  private readFrames(): void {
    try {
      for (let event = this.input.next(); event !== undefined && !this.closed; event = this.input.next()) {
        this.handleFrame(event);
      }
    } catch (error) {
      if (error instanceof DerpFrameError) {
        this.host.stats.protocolErrors += 1;
        this.close(`protocol error: ${error.message}`);
        return;
      }
      // A bug here must cost only this connection, never the relay.
      this.log.error({ err: error }, 'DERP frame handling failed');
      this.close('internal error while handling a frame');
    }
  }

  private handleFrame(event: FrameEvent): void {
    if (this.duplicate) this.host.noteActivity(this);
    if (event.kind === 'skipped') {
      this.host.stats.unknownFrames += 1;
      if (this.unknownFramesLogged < MAX_UNKNOWN_FRAME_LOGS) {
        this.unknownFramesLogged += 1;
        this.log.info({ frameType: frameTypeName(event.type), length: event.length }, 'ignored a DERP frame type the relay does not handle (logged once per connection)');
      }
      return;
    }

    switch (event.type) {
      case FrameType.SendPacket: {
        const { destination, packet } = decodeSendPacket(event.payload);
        this.host.stats.packetsReceived += 1;
        this.host.stats.bytesReceived += packet.length;
        this.host.routePacket(this, destination, packet);
        return;
      }
      case FrameType.NotePreferred:
        this.preferred = decodeNotePreferred(event.payload);
        return;
      case FrameType.Ping:
        this.host.stats.pingsReceived += 1;
        this.answerPing(decodePing(event.payload));
        return;
      default:
        throw new DerpFrameError(event.type, 'no handler for this frame type');
    }
  }

  private answerPing(data: Uint8Array): void {
    // A client that sends pings faster than it reads the pongs gets no more of them, as in Go.
    if (this.waitingForDrain) {
      this.host.stats.pongsDropped += 1;
      return;
    }
    this.write(encodePong(data));
  }

  private sendKeepAlive(): void {
    // A connection that is still draining earlier frames proves itself alive when it drains.
    if (!this.waitingForDrain) this.write(encodeKeepAlive());
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.waitingForDrain) return;
    this.flushScheduled = true;
    // Deferring the flush lets every packet routed from one received chunk go out in one writev.
    process.nextTick(this.flush);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.closed) return;
    this.transport.cork();
    while (!this.waitingForDrain) {
      const item = this.discoPackets.shift() ?? this.packets.shift();
      if (item === undefined) break;
      this.writePacket(item);
    }
    this.transport.uncork();
  };

  private writePacket(item: QueuedPacket): void {
    if (!this.seenSources.has(item.sourceHex)) {
      this.seenSources.add(item.sourceHex);
      this.host.watchSource(this, item.sourceHex);
    }
    this.host.stats.packetsSent += 1;
    this.host.stats.bytesSent += item.packet.length;
    this.transport.write(encodeRecvPacketPrefix(item.sourceKey, item.packet.length));
    this.write(item.packet);
  }

  private write(bytes: Uint8Array): void {
    this.transport.write(bytes);
    if (!this.waitingForDrain && this.transport.writableLength > this.settings.writeBufferLimit) {
      // The buffer passed the stream's high-water mark on the way up, so 'drain' will follow once it empties.
      this.waitingForDrain = true;
      this.writeTimer = setTimeout(() => {
        this.host.stats.writeTimeouts += 1;
        this.close(`write timed out: ${this.transport.writableLength} bytes not read by the client within ${this.settings.writeTimeoutMs} ms`);
      }, this.settings.writeTimeoutMs);
    }
  }

  private readonly onDrain = (): void => {
    if (!this.waitingForDrain) return;
    this.waitingForDrain = false;
    clearTimeout(this.writeTimer);
    this.writeTimer = undefined;
    this.scheduleFlush();
  };
}
