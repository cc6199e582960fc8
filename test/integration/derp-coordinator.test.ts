/**
 * The relay and STUN server as the coordinator wires them: configuration, the DERP map it
 * hands to clients, the relay key file and admission of registered, unexpired nodes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';

import { DerpClient } from '../../protocol/derp/client.js';
import { MachinePublic, NodePublic, PrivateKey } from '../../protocol/key.js';
import { X25519PrivateKey } from '../../protocol/x25519.js';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { type TestCoordinator, startTestCoordinator } from '../helpers/coordinator.js';
import { admitted } from '../helpers/derp.js';

let coordinator: TestCoordinator | undefined;
const folders: string[] = [];

afterEach(async () => {
  await coordinator?.stop();
  coordinator = undefined;
  for (const folder of folders.splice(0)) fs.rmSync(folder, { recursive: true, force: true });
});

function tempDir(): string {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'wonder-derp-coord-'));
  folders.push(folder);
  return folder;
}

function connect(privateKey = X25519PrivateKey.generate()): Promise<DerpClient> {
  const node = coordinator!.derpMap().Regions['900']!.Nodes[0]!;
  return DerpClient.connect({
    host: node.HostName,
    port: node.DERPPort!,
    tls: { serverName: node.HostName, pinSha256: node.CertName!.replace('sha256-raw:', '') },
    privateKey,
  });
}

const officeRegion = {
  RegionID: 901,
  RegionCode: 'office',
  RegionName: 'Office relay',
  Nodes: [{ Name: '901a', RegionID: 901, HostName: 'derp.office.example', DERPPort: 443 }],
};

describe('coordinator DERP wiring', () => {
  it('hands out a DERP map with the bound ports and the certificate pin', async () => {
    coordinator = await startTestCoordinator();
    const map = coordinator.derpMap();
    expect(Object.keys(map.Regions)).toEqual(['900']);
    const region = map.Regions['900']!;
    expect(region.RegionCode).toBe('wonder');
    const node = region.Nodes[0]!;
    expect(node.HostName).toBe('127.0.0.1');
    expect(node.DERPPort).toBe(coordinator.derpPort);
    expect(node.STUNPort).toBe(coordinator.stunPort);
    expect(coordinator.derpPort).toBeGreaterThan(0);
    expect(coordinator.stunPort).toBeGreaterThan(0);

    const socket = tls.connect({ host: '127.0.0.1', port: node.DERPPort!, rejectUnauthorized: false });
    await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    const pin = createHash('sha256').update(socket.getPeerCertificate().raw).digest('hex');
    socket.destroy();
    expect(node.CertName).toBe(`sha256-raw:${pin}`);
  });

  it('keeps its own relay key apart from the Noise key', async () => {
    const dataDir = tempDir();
    coordinator = await startTestCoordinator({ dataDir });
    const keyFile = path.join(dataDir, 'derp.key');
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    const relayKey = PrivateKey.parse(fs.readFileSync(keyFile, 'utf8').trim());
    const relayPublic = coordinator.derp.relay!.publicKey;
    expect(Buffer.from(new X25519PrivateKey(relayKey.bytes).publicKey).equals(Buffer.from(relayPublic.bytes))).toBe(true);
    expect(Buffer.from(relayPublic.bytes).equals(Buffer.from(coordinator.noisePublicKey.bytes))).toBe(false);

    const pin = coordinator.derpMap().Regions['900']!.Nodes[0]!.CertName;
    await coordinator.stop();
    coordinator = await startTestCoordinator({ dataDir });
    expect(coordinator.derp.relay!.publicKey.equals(relayPublic)).toBe(true);
    expect(coordinator.derpMap().Regions['900']!.Nodes[0]!.CertName).toBe(pin);
  });

  it('admits registered nodes only, and drops a node when it is deleted', async () => {
    coordinator = await startTestCoordinator();
    const nodeKey = X25519PrivateKey.generate();
    const user = coordinator.tailnet.createUser({ name: 'derp-tester' });
    const node = coordinator.tailnet.registerNode(
      {
        machineKey: MachinePublic.fromBytes(X25519PrivateKey.generate().publicKey),
        nodeKey: NodePublic.fromBytes(nodeKey.publicKey),
        hostinfo: { Hostname: 'derp-tester' },
        ephemeral: false,
        capVersion: 131,
      },
      user.id,
    );

    const stranger = await connect();
    await stranger.closed;
    expect(coordinator.derp.relay!.stats.handshakeFailures.rejected).toBe(1);

    const member = await connect(nodeKey);
    await admitted(member);
    coordinator.tailnet.deleteNode(node.id);
    await member.closed;
    await coordinator.waitForLog((line) => line.msg === 'DERP client disconnected' && line.reason === 'node key is no longer admitted');
  });

  it('admits any key with derp.verify_clients false', async () => {
    coordinator = await startTestCoordinator({ overrides: { 'derp.verify_clients': 'false' } });
    const client = await connect();
    await admitted(client);
    client.close();
    expect(coordinator.logs.some((line) => line.msg === 'derp.verify_clients is false: any node key may use the DERP relay')).toBe(true);
  });

  it('adds the regions of derp.extra_map_path', async () => {
    const file = path.join(tempDir(), 'derpmap.json');
    fs.writeFileSync(file, JSON.stringify({ Regions: { '901': officeRegion } }));
    coordinator = await startTestCoordinator({ overrides: { 'derp.extra_map_path': file } });
    expect(Object.keys(coordinator.derpMap().Regions).sort()).toEqual(['900', '901']);
  });

  it('serves only the map file with derp.enabled false', async () => {
    const file = path.join(tempDir(), 'derpmap.json');
    fs.writeFileSync(file, JSON.stringify({ Regions: { '901': officeRegion } }));
    coordinator = await startTestCoordinator({ overrides: { 'derp.enabled': 'false', 'derp.extra_map_path': file } });
    expect(Object.keys(coordinator.derpMap().Regions)).toEqual(['901']);
    expect(coordinator.derpPort).toBeUndefined();
    expect(coordinator.stunPort).toBeUndefined();
  });

  it('refuses to start with a bad map file, naming file and field', async () => {
    const file = path.join(tempDir(), 'derpmap.json');
    fs.writeFileSync(file, JSON.stringify({ Regions: { '901': { ...officeRegion, Nodes: [{ Name: 'x', RegionID: 901, DERPPort: 70_000 }] } } }));
    const attempt = startTestCoordinator({ overrides: { 'derp.extra_map_path': file } });
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toThrow(new RegExp(`${file}.*Regions\\.901\\.Nodes\\.0\\.HostName: .*Regions\\.901\\.Nodes\\.0\\.DERPPort: `));
  });
});

describe('DERP configuration', () => {
  const base = { data_dir: '/tmp/wonder-config-test' };

  it('has defaults for every setting', () => {
    const config = loadConfig({ overrides: base });
    expect(config.derp).toMatchObject({
      enabled: true,
      listen: { host: '127.0.0.1', port: 8443 },
      private_key_path: '/tmp/wonder-config-test/derp.key',
      verify_clients: true,
      region_id: 900,
      region_code: 'wonder',
      host_name: '127.0.0.1',
      keepalive_interval: 60_000,
      handshake_timeout: 10_000,
      write_timeout: 2_000,
      send_queue_packets: 32,
      client_rate_limit: 0,
    });
    expect(config.stun).toMatchObject({ enabled: true, listen: { host: '127.0.0.1', port: 3478 } });
  });

  it('takes the host name from server_url', () => {
    expect(loadConfig({ overrides: { ...base, server_url: 'https://coordinator.example:8080' } }).derp.host_name).toBe('coordinator.example');
    expect(loadConfig({ overrides: { ...base, server_url: 'http://[::1]:8080' } }).derp.host_name).toBe('::1');
  });

  it('reads numbers, booleans and durations from the environment', () => {
    const config = loadConfig({
      overrides: base,
      env: { WONDER_DERP_REGION_ID: '901', WONDER_DERP_VERIFY_CLIENTS: 'false', WONDER_DERP_KEEPALIVE_INTERVAL: '1s', WONDER_STUN_ENABLED: 'off' },
    });
    expect(config.derp.region_id).toBe(901);
    expect(config.derp.verify_clients).toBe(false);
    expect(config.derp.keepalive_interval).toBe(1_000);
    expect(config.stun.enabled).toBe(false);
  });

  it('picks a rate limit burst big enough for the largest frame', () => {
    expect(loadConfig({ overrides: { ...base, 'derp.client_rate_limit': '1000' } }).derp.client_rate_burst).toBe(65_573);
    expect(() => loadConfig({ overrides: { ...base, 'derp.client_rate_limit': '1000', 'derp.client_rate_burst': '1000' } })).toThrow(/derp.client_rate_burst 1000 is below 65573/);
  });

  it.each([
    [{ 'derp.enabled': 'false' }, /derp.enabled is false, so derp.extra_map_path must name/],
    [{ 'derp.private_key_path': '/tmp/wonder-config-test/noise.key' }, /derp.private_key_path and noise.private_key_path both name/],
    [{ 'derp.tls.cert_path': '/etc/derp.crt' }, /set derp.tls.cert_path and derp.tls.key_path together/],
    [{ 'derp.ipv4': '::1' }, /derp.ipv4: expected an IPv4 address or "none"/],
    [{ 'derp.host_name': 'bad host' }, /derp.host_name: expected a DNS name or an IP address/],
    [{ 'derp.region_id': 'nine' }, /derp.region_id: /],
    [{ 'stun.listen_addr': '3478' }, /stun.listen_addr: expected HOST:PORT/],
  ])('rejects %o', (overrides, message) => {
    expect(() => loadConfig({ overrides: { ...base, ...overrides } })).toThrow(message);
  });
});
