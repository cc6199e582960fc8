import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { MachinePublic, NodePublic } from '../../protocol/key.js';
import { LENGTH_PREFIX_SIZE } from '../../protocol/mapstream/frame.js';
import { zstdDecompress } from '../../protocol/zstd.js';
import { Netmap } from '../../src/netmap/netmap.js';
import { Store } from '../../src/store/store.js';
import { Tailnet } from '../../src/tailnet/tailnet.js';
import type { Node } from '../../src/tailnet/types.js';

let folder: string;
let store: Store;
let tailnet: Tailnet;
let netmap: Netmap;
let userId: number;

beforeEach(() => {
  folder = fs.mkdtempSync(path.join(os.tmpdir(), 'wonder-netmap-'));
  store = Store.open(path.join(folder, 'wonder.sqlite'));
  tailnet = Tailnet.load(store, {
    ipv4Prefix: '100.64.0.0/10',
    ipv6Prefix: 'fd7a:115c:a1e0::/48',
    baseDomain: 'wonder.internal',
    nodeKeyExpiryMs: 0,
    log: pino({ level: 'silent' }),
  });
  const controlTime = new Date('2026-01-02T03:04:05Z');
  netmap = new Netmap({ tailnet, derpMap: () => ({ Regions: {} }), now: () => controlTime });
  userId = tailnet.createUser({ name: 'alice' }).id;
});

afterEach(() => {
  store.close();
  fs.rmSync(folder, { recursive: true, force: true });
});

function register(hostname: string, owner = userId): Node {
  const input = {
    machineKey: MachinePublic.fromBytes(crypto.randomBytes(32)),
    nodeKey: NodePublic.fromBytes(crypto.randomBytes(32)),
    hostinfo: { Hostname: hostname },
    ephemeral: false,
    capVersion: 131,
  };
  return tailnet.registerNode(input, owner);
}

function decodeMessage(message: Buffer): unknown {
  expect(message.readUInt32LE(0)).toBe(message.length - LENGTH_PREFIX_SIZE);
  return JSON.parse(zstdDecompress(message.subarray(LENGTH_PREFIX_SIZE)).toString('utf8'));
}

describe('full map message', () => {
  it('matches fullMapJson across several chunks', () => {
    const nodes = Array.from({ length: 150 }, (_, i) => register(`node-${i}`));
    for (const self of [nodes[0]!, nodes[70]!, nodes[149]!]) {
      expect(decodeMessage(netmap.fullMapMessage(self))).toEqual(JSON.parse(netmap.fullMapJson(self)));
    }
  });

  it('follows changes, removals and new users', () => {
    const nodes = Array.from({ length: 100 }, (_, i) => register(`node-${i}`));
    const self = nodes[10]!;
    netmap.fullMapMessage(self);

    tailnet.updateFromMapRequest(nodes[20]!, { endpoints: ['192.0.2.1:41641'], capVersion: 131 });
    tailnet.deleteNode(nodes[90]!.id);
    register('newcomer', tailnet.createUser({ name: 'bob' }).id);
    const full = decodeMessage(netmap.fullMapMessage(self)) as { Peers: Array<{ ID: number; Endpoints: string[] }>; UserProfiles: unknown[] };

    expect(full).toEqual(JSON.parse(netmap.fullMapJson(self)));
    expect(full.Peers).toHaveLength(99);
    expect(full.Peers.find((peer) => peer.ID === nodes[20]!.id)?.Endpoints).toEqual(['192.0.2.1:41641']);
    expect(full.Peers.some((peer) => peer.ID === nodes[90]!.id)).toBe(false);
    expect(full.UserProfiles).toHaveLength(2);
  });

  it('needs no peer encoding after warm-up', () => {
    const nodes = Array.from({ length: 200 }, (_, i) => register(`node-${i}`));
    const restarted = new Netmap({ tailnet, derpMap: () => ({ Regions: {} }) });
    restarted.warm();
    const encode = vi.spyOn(restarted, 'wireJson');

    const self = nodes[150]!;
    const message = restarted.fullMapMessage(self);

    // Only the chunk of 64 that contains the node itself is built again, without it.
    expect(encode.mock.calls.length).toBeLessThanOrEqual(65);
    expect((decodeMessage(message) as { Peers: unknown[] }).Peers).toHaveLength(199);
  });

  it('sends an empty peer list to a lone node', () => {
    const self = register('alone');
    const full = decodeMessage(netmap.fullMapMessage(self)) as { Peers: unknown[] };
    expect(full.Peers).toEqual([]);
    expect(full).toEqual(JSON.parse(netmap.fullMapJson(self)));
  });
});
