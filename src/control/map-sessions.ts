/**
 * Live map streams, one per node, and the fan-out of tailnet changes to them.
 *
 * Changes are collected for a short window and sent as one batch: each node's latest state is
 * encoded once, the batch is compressed once, and the same bytes are written to every stream
 * that the batch does not concern. A burst of joins therefore costs one write per stream per
 * batch instead of one per change. Under a steady stream of changes, batches are spaced by the
 * time the previous one took to write, so they grow with the tailnet. A node that opens a new stream ends its old one. A stream
 * whose client stops reading is ended once its unsent data passes a limit; the client
 * reconnects and gets a fresh full map.
 */
import type { ServerStream } from '../../protocol/http2/server-stream.js';
import { encodeMapMessage } from '../../protocol/mapstream/frame.js';
import type { Logger } from '../log.js';
import type { Netmap, PeerUpdate } from '../netmap/netmap.js';
import { toWireNode } from '../netmap/wire-node.js';
import type { Tailnet } from '../tailnet/tailnet.js';
import type { Node, TailnetChange, User } from '../tailnet/types.js';

/** Byte-identical keepalives let clients skip decoding them. */
const KEEPALIVE_MESSAGE = encodeMapMessage('{"KeepAlive":true}');

/** Unsent bytes after which a stream counts as stuck. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

/** Default time changes are collected before they are sent. */
const DEFAULT_BATCH_WINDOW_MS = 100;

/**
 * Maximum time a batch waits for the previous one to be written. A stream whose client stopped
 * reading keeps its writes pending until it is ended. It holds back at most one batch this way,
 * because batches do not wait for a stream with an earlier write still pending.
 */
const MAX_BATCH_WAIT_MS = 5_000;

export interface MapSessionOptions {
  tailnet: Tailnet;
  netmap: Netmap;
  log: Logger;
  /** Base keepalive interval; each session adds up to 9 seconds of jitter. Clients give up after 120 s. */
  keepaliveIntervalMs: number;
  /** Ephemeral nodes are deleted after this long without a map stream. */
  ephemeralInactivityTimeoutMs: number;
  /** Time changes are collected before they are sent to streams; 100 ms when unset. */
  batchWindowMs?: number;
}

class MapSession {
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Writes the stream has not reported done yet. */
  private unfinishedWrites = 0;

  constructor(
    readonly node: Node,
    private readonly stream: ServerStream,
    private readonly log: Logger,
    private readonly keepaliveIntervalMs: number,
    private readonly onClose: (session: MapSession) => void,
  ) {
    stream.on('close', () => this.close('stream closed'));
    this.scheduleKeepalive();
  }

  /** Whether every earlier write is done, so the client is reading what it is sent. */
  get caughtUp(): boolean {
    return this.unfinishedWrites === 0;
  }

  /** Writes one message; `onWritten` runs once the stream has sent it, failed, or was already closed. */
  write(message: Buffer, onWritten?: () => void): void {
    if (this.closed) {
      onWritten?.();
      return;
    }
    if (this.stream.bufferedBytes > MAX_BUFFERED_BYTES) {
      this.log.warn({ nodeId: this.node.id, buffered: this.stream.bufferedBytes }, 'ending a map stream whose client stopped reading');
      this.close('client stopped reading', { discardUnsent: true });
      onWritten?.();
      return;
    }
    this.unfinishedWrites += 1;
    this.stream.write(message, () => {
      this.unfinishedWrites -= 1;
      onWritten?.();
    });
  }

  private scheduleKeepalive(): void {
    const jitter = Math.floor(Math.random() * Math.min(9_000, this.keepaliveIntervalMs / 5));
    this.keepaliveTimer = setTimeout(() => {
      this.write(KEEPALIVE_MESSAGE);
      this.scheduleKeepalive();
    }, this.keepaliveIntervalMs + jitter);
  }

  /**
   * Ends the stream after what was written, or at once with `discardUnsent`: a client that
   * stopped reading would otherwise keep the unsent bytes in memory until its connection ends.
   */
  close(reason: string, { discardUnsent = false } = {}): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.keepaliveTimer);
    if (discardUnsent) this.stream.close();
    else this.stream.end();
    this.log.debug({ nodeId: this.node.id, reason }, 'map stream ended');
    this.onClose(this);
  }
}

export class MapSessions {
  private readonly sessions = new Map<number, MapSession>();
  private readonly ephemeralTimers = new Map<number, NodeJS.Timeout>();
  private stopping = false;

  // The batch being collected: each node's latest update, changed users, and nodes whose own record changed.
  private pendingPeers = new Map<number, PeerUpdate>();
  private pendingUsers = new Map<number, User>();
  private pendingSelf = new Set<number>();
  private batchTimer: NodeJS.Timeout | undefined;
  /** The batch whose writes are not all done yet, with the number still pending. */
  private batchInFlight: { started: number; pending: number } | undefined;
  /** The earliest time, by performance.now(), at which the next batch may start: see sendBatch. */
  private nextBatchAt = 0;

  constructor(private readonly options: MapSessionOptions) {
    options.tailnet.on('change', (change) => this.publish(change));
    // Ephemeral nodes that were offline when the coordinator stopped get the same grace period.
    for (const node of options.tailnet.nodes.values()) {
      if (node.ephemeral) this.scheduleEphemeralCleanup(node);
    }
  }

  get count(): number {
    return this.sessions.size;
  }

  isStreaming(nodeId: number): boolean {
    return this.sessions.has(nodeId);
  }

  /** Starts a map stream: ends the node's previous one, writes the full map, marks the node online. */
  open(node: Node, stream: ServerStream): void {
    // The client may have reset the stream while its request body was being read.
    if (stream.closed) return;

    const previous = this.sessions.get(node.id);
    if (previous !== undefined) previous.close('replaced by a new map stream');

    clearTimeout(this.ephemeralTimers.get(node.id));
    this.ephemeralTimers.delete(node.id);

    const session = new MapSession(node, stream, this.options.log, this.options.keepaliveIntervalMs, (closed) => this.onSessionClosed(closed));
    this.sessions.set(node.id, session);
    session.write(this.options.netmap.fullMapMessage(node));
    this.options.tailnet.setOnline(node, true);
  }

  private onSessionClosed(session: MapSession): void {
    if (this.stopping || this.sessions.get(session.node.id) !== session) return;
    this.sessions.delete(session.node.id);
    const node = session.node;
    if (!this.options.tailnet.nodes.has(node.id)) return;
    this.options.tailnet.setOnline(node, false);
    if (node.ephemeral) this.scheduleEphemeralCleanup(node);
  }

  private scheduleEphemeralCleanup(node: Node): void {
    const timer = setTimeout(() => {
      this.ephemeralTimers.delete(node.id);
      if (this.sessions.has(node.id) || !this.options.tailnet.nodes.has(node.id)) return;
      this.options.tailnet.deleteNode(node.id, 'ephemeral node offline too long');
    }, this.options.ephemeralInactivityTimeoutMs);
    timer.unref();
    this.ephemeralTimers.set(node.id, timer);
  }

  /**
   * Sends a deleted node its own record with a past KeyExpiry, as an administrator's expiry
   * does, then ends its stream, so that its client goes to NeedsLogin. Without that message a
   * Tailscale 1.92.5 client stays Running and keeps retrying a map poll that fails with 401.
   */
  private endDeletedNodeStream(node: Node): void {
    const session = this.sessions.get(node.id);
    if (session === undefined) return;
    const expired = toWireNode({ ...node, expiredAt: new Date() }, { baseDomain: this.options.tailnet.options.baseDomain, expired: true });
    session.write(encodeMapMessage(JSON.stringify({ Node: expired })));
    session.close('node deleted');
  }

  /** Adds one change to the batch, merged with earlier changes to the same node, so only its latest state is sent. */
  private publish(change: TailnetChange): void {
    if (change.kind === 'user-changed') {
      this.pendingUsers.set(change.user.id, change.user);
    } else {
      const { node } = change;
      const earlier = this.pendingPeers.get(node.id);
      switch (change.kind) {
        case 'node-removed':
          this.endDeletedNodeStream(node);
          clearTimeout(this.ephemeralTimers.get(node.id));
          this.ephemeralTimers.delete(node.id);
          this.pendingSelf.delete(node.id);
          this.pendingPeers.set(node.id, { node, kind: 'removed', onlineChanged: false });
          break;
        case 'node-added':
        case 'node-changed':
          // The whole record, read when the batch is sent, includes any patch before or after it.
          this.pendingPeers.set(node.id, { node, kind: 'changed', onlineChanged: false });
          if (change.kind === 'node-changed') this.pendingSelf.add(node.id);
          break;
        case 'node-patched':
          if (earlier?.kind === 'changed' || earlier?.kind === 'removed') break;
          this.pendingPeers.set(node.id, { node, kind: 'patched', onlineChanged: (earlier?.onlineChanged ?? false) || change.online !== undefined });
          break;
      }
    }
    this.batchTimer ??= setTimeout(() => this.onBatchTimer(), this.options.batchWindowMs ?? DEFAULT_BATCH_WINDOW_MS);
  }

  /** Sends the batch unless the previous one is still being written or its pause has not passed. */
  private onBatchTimer(): void {
    this.batchTimer = undefined;
    const now = performance.now();
    const previous = this.batchInFlight;
    if (previous !== undefined && now - previous.started < MAX_BATCH_WAIT_MS) {
      this.batchTimer = setTimeout(() => this.onBatchTimer(), 20);
      return;
    }
    if (now < this.nextBatchAt) {
      this.batchTimer = setTimeout(() => this.onBatchTimer(), this.nextBatchAt - now);
      return;
    }
    this.sendBatch();
  }

  /**
   * Sends the collected batch. Streams it does not concern share one compressed message. A node
   * that the batch is about gets a message of its own, because it is not its own peer, and that
   * message also carries its own record when the record changed.
   */
  private sendBatch(): void {
    // Writing a batch to every stream costs CPU in proportion to the number of streams. Once its
    // last write is done, the next batch waits as long as this one took. Writing batches so
    // takes at most about half of the event loop however fast changes arrive, and more changes
    // merge into each batch.
    const inFlight = { started: performance.now(), pending: 1 };
    this.batchInFlight = inFlight;
    const written = () => {
      inFlight.pending -= 1;
      if (inFlight.pending > 0) return;
      const finished = performance.now();
      this.nextBatchAt = finished + (finished - inFlight.started);
      if (this.batchInFlight === inFlight) this.batchInFlight = undefined;
    };
    const batch = this.options.netmap.peerUpdates(this.pendingPeers.values(), this.pendingUsers.values());
    const selfChanged = this.pendingSelf;
    this.pendingPeers = new Map();
    this.pendingUsers = new Map();
    this.pendingSelf = new Set();

    let shared: Buffer | undefined;
    let sharedBuilt = false;
    for (const [nodeId, session] of this.sessions) {
      if (batch.has(nodeId)) {
        const json = batch.json(nodeId, selfChanged.has(nodeId) ? session.node : undefined);
        if (json === undefined) continue;
        this.writeInBatch(session, encodeMapMessage(json), inFlight, written);
        continue;
      }
      if (!sharedBuilt) {
        const json = batch.json();
        shared = json === undefined ? undefined : encodeMapMessage(json);
        sharedBuilt = true;
      }
      if (shared === undefined) continue;
      this.writeInBatch(session, shared, inFlight, written);
    }
    written();
  }

  /** Writes a batch message, counted towards the batch's completion only when the stream has caught up. */
  private writeInBatch(session: MapSession, message: Buffer, inFlight: { pending: number }, written: () => void): void {
    if (!session.caughtUp) {
      session.write(message);
      return;
    }
    inFlight.pending += 1;
    session.write(message, written);
  }

  /** Ends every stream without marking nodes offline, because clients reconnect after a restart. */
  closeAll(): void {
    this.stopping = true;
    clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    for (const session of [...this.sessions.values()]) session.close('coordinator stopping');
    for (const timer of this.ephemeralTimers.values()) clearTimeout(timer);
    this.ephemeralTimers.clear();
  }
}
