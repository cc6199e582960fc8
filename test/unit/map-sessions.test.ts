import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import type { ServerStream } from '../../protocol/http2/server-stream.js';
import { MachinePublic, NodePublic } from '../../protocol/key.js';
import { MapMessageReader } from '../../protocol/mapstream/frame.js';
import type { MapResponse } from '../../protocol/tailcfg/map.js';
import { MapSessions } from '../../src/control/map-sessions.js';
import { Netmap } from '../../src/netmap/netmap.js';
import { Store } from '../../src/store/store.js';
import { Tailnet } from '../../src/tailnet/tailnet.js';
import type { Node } from '../../src/tailnet/types.js';

const BATCH_WINDOW_MS = 50;

/** The parts of a server stream that MapSessions uses, recording the map messages written. */
class RecordingStream extends EventEmitter {
  readonly messages: MapResponse[] = [];
  closed = false;
  bufferedBytes = 0;
  /** Time each write takes to report completion, as a slow connection would; Infinity never reports it. */
  writeDelayMs = 0;
  private readonly reader = new MapMessageReader();

  write(chunk: Buffer, onWritten?: () => void): boolean {
    for (const message of this.reader.push(chunk)) this.messages.push(message as MapResponse);
    if (onWritten !== undefined && Number.isFinite(this.writeDelayMs)) setTimeout(onWritten, this.writeDelayMs);
    return true;
  }

  /** How the stream was ended: by end() after its data, or by close(), which resets it. */
  endedBy: 'end' | 'reset' | undefined;

  end(): void {
    this.endedBy ??= 'end';
    this.closed = true;
    this.emit('close');
  }

  close(): void {
    this.endedBy ??= 'reset';
    this.closed = true;
    this.emit('close');
  }
}

let folder: string;
let store: Store;
let tailnet: Tailnet;
let sessions: MapSessions;
let userId: number;

beforeEach(() => {
  folder = fs.mkdtempSync(path.join(os.tmpdir(), 'wonder-map-sessions-'));
  store = Store.open(path.join(folder, 'wonder.sqlite'));
  const log = pino({ level: 'silent' });
  tailnet = Tailnet.load(store, { ipv4Prefix: '100.64.0.0/10', ipv6Prefix: 'fd7a:115c:a1e0::/48', baseDomain: 'wonder.internal', nodeKeyExpiryMs: 0, log });
  const netmap = new Netmap({ tailnet, derpMap: () => ({ Regions: {} }) });
  sessions = new MapSessions({ tailnet, netmap, log, keepaliveIntervalMs: 60_000, ephemeralInactivityTimeoutMs: 60_000, batchWindowMs: BATCH_WINDOW_MS });
  userId = tailnet.createUser({ name: 'alice' }).id;
});

afterEach(() => {
  sessions.closeAll();
  store.close();
  fs.rmSync(folder, { recursive: true, force: true });
});

function register(hostname: string): Node {
  const input = {
    machineKey: MachinePublic.fromBytes(crypto.randomBytes(32)),
    nodeKey: NodePublic.fromBytes(crypto.randomBytes(32)),
    hostinfo: { Hostname: hostname },
    ephemeral: false,
    capVersion: 131,
  };
  return tailnet.registerNode(input, userId);
}

function stream(node: Node): RecordingStream {
  const recording = new RecordingStream();
  sessions.open(node, recording as unknown as ServerStream);
  return recording;
}

const afterBatch = () => new Promise((resolve) => setTimeout(resolve, BATCH_WINDOW_MS * 3));

describe('map session ends', () => {
  it('resets a stream whose client stopped reading', async () => {
    const stuck = register('stuck');
    const watcher = stream(stuck);
    watcher.bufferedBytes = 17 * 1024 * 1024;
    register('joiner');
    await afterBatch();

    expect(watcher.endedBy).toBe('reset');
    expect(sessions.isStreaming(stuck.id)).toBe(false);
  });

  it('ends a replaced stream after its data', () => {
    const node = register('twice');
    const first = stream(node);
    stream(node);

    expect(first.endedBy).toBe('end');
    expect(sessions.isStreaming(node.id)).toBe(true);
  });
});

describe('map session batches', () => {
  it('sends a burst of joins as one message', async () => {
    const watcher = stream(register('watcher'));
    const joiners = [register('a'), register('b'), register('c')];
    await afterBatch();

    const deltas = watcher.messages.slice(1);
    expect(deltas).toHaveLength(1);
    expect(deltas[0]!.PeersChanged?.map((peer) => peer.ID)).toEqual(joiners.map((node) => node.id));
    expect(deltas[0]!.UserProfiles?.map((profile) => profile.ID)).toEqual([userId]);
  });

  it('merges a join and its stream into one record', async () => {
    const watcher = stream(register('watcher'));
    const joiner = register('joiner');
    stream(joiner);
    await afterBatch();

    const deltas = watcher.messages.slice(1);
    expect(deltas).toHaveLength(1);
    expect(deltas[0]!.PeersChanged?.map((peer) => [peer.ID, peer.Online])).toEqual([[joiner.id, true]]);
    expect(deltas[0]!.PeersChangedPatch).toBeUndefined();
  });

  it('sends only the removal of a node added and deleted', async () => {
    const watcher = stream(register('watcher'));
    const brief = register('brief');
    tailnet.deleteNode(brief.id);
    await afterBatch();

    const deltas = watcher.messages.slice(1);
    expect(deltas).toHaveLength(1);
    expect(deltas[0]!.PeersRemoved).toEqual([brief.id]);
    expect(deltas[0]!.PeersChanged).toBeUndefined();
  });

  it('merges patches and keeps the online flag', async () => {
    const watcher = stream(register('watcher'));
    const peer = register('peer');
    const peerStream = stream(peer);
    await afterBatch();
    watcher.messages.length = 0;

    tailnet.updateFromMapRequest(peer, { endpoints: ['192.0.2.1:41641'], capVersion: 131 });
    peerStream.end();
    await afterBatch();

    expect(watcher.messages).toHaveLength(1);
    const patches = watcher.messages[0]!.PeersChangedPatch;
    expect(patches).toHaveLength(1);
    expect(patches![0]!.NodeID).toBe(peer.id);
    expect(patches![0]!.Endpoints).toEqual(['192.0.2.1:41641']);
    expect(patches![0]!.Online).toBe(false);
  });

  it('leaves a node out of its own peer updates', async () => {
    const first = register('first');
    const firstStream = stream(first);
    const second = register('second');
    const secondStream = stream(second);
    await afterBatch();
    firstStream.messages.length = 0;
    secondStream.messages.length = 0;

    tailnet.renameNode(first.id, 'renamed');
    tailnet.renameNode(second.id, 'other');
    await afterBatch();

    expect(firstStream.messages).toHaveLength(1);
    expect(firstStream.messages[0]!.Node?.Name).toBe('renamed.wonder.internal.');
    expect(firstStream.messages[0]!.PeersChanged?.map((peer) => peer.ID)).toEqual([second.id]);
    expect(secondStream.messages).toHaveLength(1);
    expect(secondStream.messages[0]!.Node?.Name).toBe('other.wonder.internal.');
    expect(secondStream.messages[0]!.PeersChanged?.map((peer) => peer.ID)).toEqual([first.id]);
  });

  it('sends nothing to a node whose batch is only about itself', async () => {
    const only = register('only');
    const onlyStream = stream(only);
    await afterBatch();
    onlyStream.messages.length = 0;

    tailnet.updateFromMapRequest(only, { endpoints: ['192.0.2.2:41641'], capVersion: 131 });
    await afterBatch();

    expect(onlyStream.messages).toHaveLength(0);
  });

  it('waits for a slow batch to be written before the next', async () => {
    const watcher = stream(register('watcher'));
    await afterBatch();
    watcher.messages.length = 0;
    watcher.writeDelayMs = 300;

    register('first');
    await new Promise((resolve) => setTimeout(resolve, BATCH_WINDOW_MS + 20));
    register('second');
    // The first batch takes 300 ms to write, so the second waits that long again after it.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(watcher.messages).toHaveLength(1);

    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(watcher.messages).toHaveLength(2);
  });

  it('keeps sending batches past a stream that never finishes a write', async () => {
    const stuck = stream(register('stuck'));
    const healthy = stream(register('healthy'));
    await afterBatch();
    stuck.writeDelayMs = Number.POSITIVE_INFINITY;
    healthy.messages.length = 0;

    register('first');
    await new Promise((resolve) => setTimeout(resolve, BATCH_WINDOW_MS + 20));
    const second = register('second');
    // The second batch waits for the first, which never completes, for at most 5 s.
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    expect(healthy.messages).toHaveLength(1);

    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(healthy.messages).toHaveLength(2);
    expect(healthy.messages[1]!.PeersChanged?.map((peer) => peer.ID)).toEqual([second.id]);

    // Batches no longer wait for the stuck stream, whose first write is still pending.
    const third = register('third');
    await afterBatch();
    expect(healthy.messages).toHaveLength(3);
    expect(healthy.messages[2]!.PeersChanged?.map((peer) => peer.ID)).toEqual([third.id]);
  });
});
