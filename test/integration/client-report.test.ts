import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import type { MapResponse } from '../../protocol/tailcfg/map.js';
import type { Node as WireNode } from '../../protocol/tailcfg/node.js';
import { Store } from '../../src/store/store.js';
import { startTestCoordinator } from '../helpers/coordinator.js';
import { useControlTestbed } from '../helpers/control-testbed.js';
import { FakeNode } from '../helpers/fake-node.js';

const bed = useControlTestbed();
const { newNode, authKey } = bed;

/** Hostinfo with each kind of value that made tailscaled 1.92 fail to decode a peer. */
const HOSTILE_HOSTINFO = {
  Hostname: { nested: 'object' },
  OS: 12345,
  OSVersion: '6.1.0',
  ShieldsUp: 'yes',
  RoutableIPs: ['10.0.0.0/8', 'not-a-prefix', 7],
  RequestTags: ['tag:web', 42],
  Services: [{ Proto: 'tcp', Port: 22, Description: 'sshd' }, { Proto: 'tcp', Port: 70000 }, 'ssh'],
  NetInfo: { PreferredDERP: 'nine hundred', WorkingUDP: true, DERPLatency: { '900-v4': 0.01, '901-v4': 'slow' }, Extra: 1 },
  Location: { City: 'Squamish', Latitude: 'north', Priority: 1.5 },
  TPM: { FirmwareVersion: -1, Vendor: 'ACME' },
  FromTheFuture: { any: 'thing' },
  os: 'lower-case duplicate that Go would also match',
};

const CLEAN_HOSTINFO = {
  OSVersion: '6.1.0',
  RoutableIPs: ['10.0.0.0/8'],
  RequestTags: ['tag:web'],
  Services: [{ Proto: 'tcp', Port: 22, Description: 'sshd' }, { Proto: 'tcp' }],
  NetInfo: { WorkingUDP: true, DERPLatency: { '900-v4': 0.01 } },
  Location: { City: 'Squamish' },
  TPM: { Vendor: 'ACME' },
};

const peerChanged = (id: number) => (m: MapResponse) => (m.PeersChanged ?? []).some((p) => p.ID === id);

describe('client reports', () => {
  it('drops invalid Hostinfo fields and endpoints from map requests', async () => {
    const watcher = newNode('watcher');
    await watcher.register({ Auth: { AuthKey: authKey() } });
    await watcher.streamMap();
    await watcher.waitForMessage((m) => m.Node !== undefined);

    const attacker = newNode('attacker');
    await attacker.register({ Auth: { AuthKey: authKey() } });
    const id = bed.coordinator.tailnet.findNodeByNodeKey(attacker.nodeKey)!.id;
    const valid = Array.from({ length: 40 }, (_, i) => `192.0.2.${i + 1}:41641`);
    const update = await attacker.post('/machine/map', {
      Version: 131,
      Compress: 'zstd',
      NodeKey: attacker.nodeKey.toString(),
      Stream: false,
      OmitPeers: true,
      Endpoints: ['not-an-endpoint', '[::1]:41641', 17, '::1:41641', ...valid],
      Hostinfo: HOSTILE_HOSTINFO,
    });
    expect(update.status).toBe(200);

    const stored = bed.coordinator.tailnet.nodes.get(id)!;
    expect(stored.hostinfo).toEqual(CLEAN_HOSTINFO);
    expect(stored.endpoints).toHaveLength(32);
    expect(stored.endpoints[0]).toBe('[::1]:41641');
    expect(stored.endpoints[31]).toBe('192.0.2.31:41641');

    const message = await watcher.waitForMessage((m) => peerChanged(id)(m) && (m.PeersChanged ?? []).some((p) => p.ID === id && p.Hostinfo?.OSVersion === '6.1.0'));
    const peer = message.PeersChanged!.find((p) => p.ID === id) as WireNode;
    expect(peer.Hostinfo).toEqual(CLEAN_HOSTINFO);
    expect(peer.Endpoints).toEqual(stored.endpoints);

    const logged = await bed.coordinator.waitForLog((line) => line.msg === 'map request: dropped invalid or excess client data');
    expect(logged.level).toBe(20);
    expect(logged.invalidHostinfoFields).toContain('OS');
    expect(logged.invalidHostinfoFields).toContain('NetInfo.PreferredDERP');
    expect(logged.unknownHostinfoFields).toContain('FromTheFuture');
    expect(logged.invalidEndpointCount).toBe(3);
    expect(logged.endpointsOverLimit).toBe(9);
  });

  it('drops invalid Hostinfo fields from register requests', async () => {
    const node = newNode('register-hostile');
    const registered = await node.register({ Auth: { AuthKey: authKey() }, Hostinfo: HOSTILE_HOSTINFO, Version: 1.5 });
    expect(registered.body.MachineAuthorized).toBe(true);
    const stored = bed.coordinator.tailnet.findNodeByNodeKey(node.nodeKey)!;
    expect(stored.hostinfo).toEqual(CLEAN_HOSTINFO);
    expect(stored.hostname).toBe('');
    expect(stored.capVersion).toBe(131);
  });

  it('caps a Hostinfo at 16 KiB by dropping its largest fields', async () => {
    const node = newNode('big');
    const keys = Array.from({ length: 40 }, (_, i) => `ssh-ed25519 ${'A'.repeat(1000)}${i}`);
    await node.register({ Auth: { AuthKey: authKey() }, Hostinfo: { Hostname: 'big', OS: 'linux', sshHostKeys: keys } });
    const stored = bed.coordinator.tailnet.findNodeByNodeKey(node.nodeKey)!;
    expect(stored.hostinfo).toEqual({ Hostname: 'big', OS: 'linux' });
    expect(Buffer.byteLength(JSON.stringify(stored.hostinfo))).toBeLessThanOrEqual(16 * 1024);
  });

  it('keeps a Hostinfo that Tailscale 1.92 sends', async () => {
    const hostinfo = {
      IPNVersion: '1.92.5-t0123456789-g0123456789',
      BackendLogID: 'abc',
      OS: 'linux',
      OSVersion: '6.1.0-18-amd64',
      Container: true,
      Distro: 'debian',
      Hostname: 'real',
      Machine: 'x86_64',
      GoArch: 'amd64',
      GoVersion: 'go1.25.5',
      RoutableIPs: ['192.168.0.0/24', 'fd00::/64'],
      Services: [{ Proto: 'peerapi4', Port: 35000 }],
      NetInfo: { MappingVariesByDestIP: false, WorkingUDP: true, PreferredDERP: 900, DERPLatency: { '900-v4': 0.0012 }, FirewallMode: 'nft-default' },
      sshHostKeys: ['ssh-ed25519 AAAA'],
      Userspace: true,
      NoLogsNoSupport: true,
    };
    const node = newNode('real');
    await node.register({ Auth: { AuthKey: authKey() }, Hostinfo: hostinfo });
    expect(bed.coordinator.tailnet.findNodeByNodeKey(node.nodeKey)!.hostinfo).toEqual(hostinfo);
  });
});

describe('stored client reports', () => {
  it('cleans invalid Hostinfo and endpoints on load', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wonder-test-'));
    try {
      const first = await startTestCoordinator({ dataDir });
      const owner = first.tailnet.createUser({ name: 'bob' });
      const node = new FakeNode(first.serverUrl, first.noisePublicKey, 'stored');
      await node.register({ Auth: { AuthKey: first.tailnet.createPreAuthKey({ userId: owner.id, reusable: false, ephemeral: false }).text } });
      node.close();
      const id = first.tailnet.findNodeByNodeKey(node.nodeKey)!.id;
      await first.stop({ keepData: true });

      // Rows written by an earlier version, which stored what clients sent.
      const store = Store.open(path.join(dataDir, 'wonder.sqlite'));
      store.updateNode(id, { hostinfo: JSON.stringify(HOSTILE_HOSTINFO), endpoints: JSON.stringify(['not-an-endpoint', '192.0.2.1:41641']) });
      store.close();

      const second = await startTestCoordinator({ dataDir });
      try {
        const loaded = second.tailnet.nodes.get(id);
        expect(loaded).toBeDefined();
        expect(loaded!.hostinfo).toEqual(CLEAN_HOSTINFO);
        expect(loaded!.endpoints).toEqual(['192.0.2.1:41641']);
        const warned = second.logs.find((line) => line.msg === 'cleaned stored Hostinfo or endpoints that clients cannot decode');
        expect(warned?.nodeId).toBe(id);
      } finally {
        await second.stop();
      }

      const reopened = Store.open(path.join(dataDir, 'wonder.sqlite'));
      const row = reopened.listNodes().find((r) => r.id === id);
      reopened.close();
      expect(JSON.parse(row!.hostinfo)).toEqual(CLEAN_HOSTINFO);
      expect(JSON.parse(row!.endpoints)).toEqual(['192.0.2.1:41641']);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
