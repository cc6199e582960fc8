import { describe, expect, it } from 'vitest';

import type { MapResponse } from '../../protocol/tailcfg/map.js';
import { useControlTestbed } from '../helpers/control-testbed.js';
import { FakeNode } from '../helpers/fake-node.js';

const bed = useControlTestbed({ overrides: { 'control.map_keepalive_interval': '1s', 'tailnet.ephemeral_inactivity_timeout': '300ms' } });
const { newNode, authKey } = bed;

const hasPeer = (id: number) => (m: MapResponse) => (m.PeersChanged ?? []).some((p) => p.ID === id);

describe('registration', () => {
  it('registers with an auth key and streams a full map', async () => {
    const node = newNode('web-1');
    const registered = await node.register({ Auth: { AuthKey: authKey() } });
    expect(registered.status).toBe(200);
    expect(registered.body.MachineAuthorized).toBe(true);
    expect(registered.body.Error).toBeUndefined();

    expect(await node.streamMap()).toBe(200);
    const first = await node.waitForMessage((m) => m.Node !== undefined);
    expect(first.Node!.Name).toBe('web-1.wonder.internal.');
    expect(first.Node!.Addresses).toHaveLength(2);
    expect(first.Node!.Addresses[0]).toMatch(/^100\.64\.\d+\.\d+\/32$/);
    expect(first.Node!.Addresses[1]).toMatch(/^fd7a:115c:a1e0::[0-9a-f]+\/128$/);
    expect(first.Node!.MachineAuthorized).toBe(true);
    expect(first.DNSConfig?.Proxied).toBe(true);
    expect(first.PacketFilter).toEqual([{ SrcIPs: ['*'], DstPorts: [{ IP: '*', Ports: { First: 0, Last: 65535 } }] }]);
    expect(first.UserProfiles?.some((p) => p.ID === bed.userId)).toBe(true);
  });

  it('rejects unknown, used and expired keys with a printable error', async () => {
    const unknown = await newNode('a').register({ Auth: { AuthKey: 'wkey-auth-000000000000-' + '0'.repeat(48) } });
    expect(unknown.body.Error).toMatch(/invalid auth key/);

    const single = authKey();
    expect((await newNode('b').register({ Auth: { AuthKey: single } })).body.Error).toBeUndefined();
    expect((await newNode('c').register({ Auth: { AuthKey: single } })).body.Error).toMatch(/already used/);

    const soon = authKey({ expiresAt: new Date(Date.now() + 200) });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await newNode('d').register({ Auth: { AuthKey: soon } })).body.Error).toMatch(/expired at/);
  });

  it('answers a restarted client by its known node key without an auth key', async () => {
    const node = newNode('restart');
    await node.register({ Auth: { AuthKey: authKey() } });
    node.close();
    const again = await node.register();
    expect(again.body.MachineAuthorized).toBe(true);
  });

  it('rejects a node key registered by another machine', async () => {
    const owner = newNode('owner');
    await owner.register({ Auth: { AuthKey: authKey() } });
    const thief = newNode('thief');
    thief.nodeKey = owner.nodeKey;
    expect((await thief.register()).body.Error).toMatch(/registered to another machine/);
    expect((await thief.streamMap())).toBe(403);
  });

  it('rotates the node key through OldNodeKey', async () => {
    const node = newNode('rotate');
    await node.register({ Auth: { AuthKey: authKey() } });
    const before = bed.coordinator.tailnet.findNodeByNodeKey(node.nodeKey)!;
    const oldKey = node.nodeKey;
    node.nodeKey = new FakeNode('', bed.coordinator.noisePublicKey, '').nodeKey;
    const rotated = await node.register({ OldNodeKey: oldKey.toString() });
    expect(rotated.body.MachineAuthorized).toBe(true);
    expect(bed.coordinator.tailnet.findNodeByNodeKey(node.nodeKey)?.id).toBe(before.id);
    expect(bed.coordinator.tailnet.findNodeByNodeKey(oldKey)).toBeUndefined();
  });

  it('keeps addresses when a node logs out and back in', async () => {
    const node = newNode('comeback');
    await node.register({ Auth: { AuthKey: authKey() } });
    const before = { ...bed.coordinator.tailnet.findNodeByNodeKey(node.nodeKey)! };
    await node.register({ Expiry: '1970-01-01T00:02:03Z' });
    expect(bed.coordinator.tailnet.isExpired(bed.coordinator.tailnet.nodes.get(before.id)!)).toBe(true);

    node.nodeKey = new FakeNode('', bed.coordinator.noisePublicKey, '').nodeKey;
    await node.register({ Auth: { AuthKey: authKey() } });
    const after = bed.coordinator.tailnet.findNodeByNodeKey(node.nodeKey)!;
    expect(after.id).toBe(before.id);
    expect(after.ipv4).toBe(before.ipv4);
    expect(after.ipv6).toBe(before.ipv6);
  });

  it('deletes an ephemeral node on logout', async () => {
    const node = newNode('temp');
    await node.register({ Auth: { AuthKey: authKey({ ephemeral: true }) } });
    const id = bed.coordinator.tailnet.findNodeByNodeKey(node.nodeKey)!.id;
    await node.register({ Expiry: '1970-01-01T00:02:03Z' });
    expect(bed.coordinator.tailnet.nodes.has(id)).toBe(false);
  });

  it('holds an interactive login until an administrator approves it', async () => {
    const node = newNode('interactive');
    const first = await node.register();
    expect(first.body.AuthURL).toMatch(new RegExp(`^${bed.coordinator.serverUrl}/register/[0-9a-f]{24}$`));

    const page = await fetch(first.body.AuthURL!);
    expect(await page.text()).toContain('wonder nodes approve');

    const followup = node.register({ Followup: first.body.AuthURL });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const [pending] = bed.coordinator.pendingLogins.list().filter((p) => p.nodeKey.equals(node.nodeKey));
    expect(pending).toBeDefined();
    bed.coordinator.pendingLogins.approve(pending!.id, bed.userId);
    expect((await followup).body.MachineAuthorized).toBe(true);
    expect(bed.coordinator.tailnet.findNodeByNodeKey(node.nodeKey)?.userId).toBe(bed.userId);
  });
});

describe('map streaming', () => {
  it('tells streaming peers about a node that joins, changes and leaves', async () => {
    const watcher = newNode('watcher');
    await watcher.register({ Auth: { AuthKey: authKey() } });
    await watcher.streamMap();
    await watcher.waitForMessage((m) => m.Node !== undefined);

    const joiner = newNode('joiner');
    await joiner.register({ Auth: { AuthKey: authKey() } });
    const joined = bed.coordinator.tailnet.findNodeByNodeKey(joiner.nodeKey)!;
    await watcher.waitForMessage(hasPeer(joined.id));

    await joiner.streamMap();
    const full = await joiner.waitForMessage((m) => m.Node !== undefined);
    expect(full.Peers?.some((p) => p.Name === 'watcher.wonder.internal.')).toBe(true);
    await watcher.waitForMessage((m) => (m.PeersChangedPatch ?? []).some((p) => p.NodeID === joined.id && p.Online === true));

    await joiner.post('/machine/map', {
      Version: 131,
      Compress: 'zstd',
      NodeKey: joiner.nodeKey.toString(),
      Stream: false,
      OmitPeers: true,
      Endpoints: ['192.0.2.7:41641'],
      Hostinfo: { Hostname: 'joiner', OS: 'linux', NetInfo: { PreferredDERP: 900 } },
    });
    await watcher.waitForMessage((m) => (m.PeersChangedPatch ?? []).some((p) => p.NodeID === joined.id && p.Endpoints?.[0] === '192.0.2.7:41641'));
    expect(joiner.mapStreamClosed).toBe(false);

    bed.coordinator.tailnet.deleteNode(joined.id);
    await watcher.waitForMessage((m) => (m.PeersRemoved ?? []).includes(joined.id));
  });

  it('sends keepalives', async () => {
    const node = newNode('idle');
    await node.register({ Auth: { AuthKey: authKey() } });
    await node.streamMap();
    await node.waitForMessage((m) => m.KeepAlive === true, 3000);
  });

  it('ends the old stream when a node opens a new one', async () => {
    const node = newNode('twice');
    await node.register({ Auth: { AuthKey: authKey() } });
    await node.streamMap();
    await node.waitForMessage((m) => m.Node !== undefined);
    const second = newNode('twice');
    Object.assign(second, { machineKey: node.machineKey, nodeKey: node.nodeKey });
    await second.streamMap();
    await second.waitForMessage((m) => m.Node !== undefined);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(node.mapStreamClosed).toBe(true);
  });

  it('rejects a map request for an unknown node key', async () => {
    const node = newNode('stranger');
    expect(await node.streamMap()).toBe(401);
  });

  it('deletes an ephemeral node after it stays offline', async () => {
    const node = newNode('ephemeral');
    await node.register({ Auth: { AuthKey: authKey({ ephemeral: true }) } });
    const id = bed.coordinator.tailnet.findNodeByNodeKey(node.nodeKey)!.id;
    await node.streamMap();
    await node.waitForMessage((m) => m.Node !== undefined);
    node.close();
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(bed.coordinator.tailnet.nodes.has(id)).toBe(false);
  });
});
