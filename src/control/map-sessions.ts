/**
 * Live map streams, one per node, and the fan-out of tailnet changes to them.
 *
 * Each change is turned into its message once, compressed once, and the same bytes are written
 * to every peer's stream, so a change costs one write per peer that must hear about it. A node
 * that opens a new stream ends its old one. A stream whose client stops reading is ended once
 * its unsent data passes a limit; the client reconnects and gets a fresh full map.
 */
import type { ServerHttp2Stream } from 'node:http2';

import { encodeMapMessage } from '../../protocol/mapstream/frame.js';
import type { Logger } from '../log.js';
import type { Netmap } from '../netmap/netmap.js';
import type { Tailnet } from '../tailnet/tailnet.js';
import type { Node, TailnetChange } from '../tailnet/types.js';

/** Byte-identical keepalives let clients skip decoding them. */
const KEEPALIVE_MESSAGE = encodeMapMessage('{"KeepAlive":true}');

/** Unsent bytes after which a stream counts as stuck. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

export interface MapSessionOptions {
  tailnet: Tailnet;
  netmap: Netmap;
  log: Logger;
  /** Base keepalive interval; each session adds up to 9 seconds of jitter. Clients give up after 120 s. */
  keepaliveIntervalMs: number;
  /** Ephemeral nodes are deleted after this long without a map stream. */
  ephemeralInactivityTimeoutMs: number;
}

class MapSession {
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    readonly node: Node,
    private readonly stream: ServerHttp2Stream,
    private readonly log: Logger,
    private readonly keepaliveIntervalMs: number,
    private readonly onClose: (session: MapSession) => void,
  ) {
    stream.on('close', () => this.close('stream closed'));
    this.scheduleKeepalive();
  }

  write(message: Buffer): void {
    if (this.closed) return;
    if (this.stream.writableLength > MAX_BUFFERED_BYTES) {
      this.log.warn({ nodeId: this.node.id, buffered: this.stream.writableLength }, 'ending a map stream whose client stopped reading');
      this.close('client stopped reading');
      return;
    }
    this.stream.write(message);
  }

  private scheduleKeepalive(): void {
    const jitter = Math.floor(Math.random() * Math.min(9_000, this.keepaliveIntervalMs / 5));
    this.keepaliveTimer = setTimeout(() => {
      this.write(KEEPALIVE_MESSAGE);
      this.scheduleKeepalive();
    }, this.keepaliveIntervalMs + jitter);
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.keepaliveTimer);
    if (!this.stream.destroyed) this.stream.end();
    this.log.debug({ nodeId: this.node.id, reason }, 'map stream ended');
    this.onClose(this);
  }
}

export class MapSessions {
  private readonly sessions = new Map<number, MapSession>();
  private readonly ephemeralTimers = new Map<number, NodeJS.Timeout>();
  private stopping = false;

  constructor(private readonly options: MapSessionOptions) {
    options.tailnet.on('change', (change) => this.publish(change));
  }

  get count(): number {
    return this.sessions.size;
  }

  isStreaming(nodeId: number): boolean {
    return this.sessions.has(nodeId);
  }

  /** Starts a map stream: ends the node's previous one, writes the full map, marks the node online. */
  open(node: Node, stream: ServerHttp2Stream): void {
    const previous = this.sessions.get(node.id);
    if (previous !== undefined) previous.close('replaced by a new map stream');

    clearTimeout(this.ephemeralTimers.get(node.id));
    this.ephemeralTimers.delete(node.id);

    const session = new MapSession(node, stream, this.options.log, this.options.keepaliveIntervalMs, (closed) => this.onSessionClosed(closed));
    this.sessions.set(node.id, session);
    session.write(encodeMapMessage(this.options.netmap.fullMapJson(node)));
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

  /** Sends one change to every stream that must hear about it. */
  private publish(change: TailnetChange): void {
    const changedId = change.kind === 'user-changed' ? undefined : change.node.id;

    if (change.kind === 'node-removed') {
      this.sessions.get(change.node.id)?.close('node deleted');
      clearTimeout(this.ephemeralTimers.get(change.node.id));
      this.ephemeralTimers.delete(change.node.id);
    }

    const peerJson = this.options.netmap.peerDeltaJson(change);
    if (peerJson !== undefined) {
      const message = encodeMapMessage(peerJson);
      for (const [nodeId, session] of this.sessions) {
        if (nodeId !== changedId) session.write(message);
      }
    }

    const selfJson = this.options.netmap.selfDeltaJson(change);
    if (selfJson !== undefined && changedId !== undefined) {
      this.sessions.get(changedId)?.write(encodeMapMessage(selfJson));
    }
  }

  /** Ends every stream without marking nodes offline, because clients reconnect after a restart. */
  closeAll(): void {
    this.stopping = true;
    for (const session of [...this.sessions.values()]) session.close('coordinator stopping');
    for (const timer of this.ephemeralTimers.values()) clearTimeout(timer);
    this.ephemeralTimers.clear();
  }
}
