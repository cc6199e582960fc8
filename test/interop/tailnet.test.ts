/**
 * Real tailscaled 1.92.5 daemons against the coordinator: joining with pre-auth keys, seeing
 * each other, traffic through the embedded DERP relay, logout, interactive login and a
 * coordinator restart. Tests in this file share daemons and run in order.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type TestCoordinator, startTestCoordinator } from '../helpers/coordinator.js';
import { FakeNode } from '../helpers/fake-node.js';
import { tailscalePath } from './binaries.js';
import { type PeerStatus, type Tailscaled, type TailscaleStatus, startTailscaled } from './tailscaled.js';
import { wonder, wonderJson } from './wonder-cli.js';

let coordinator: TestCoordinator;
let reusableKey: string;
const daemons = new Map<string, Tailscaled>();

interface NodeJson {
  id: number;
  name: string;
  ipAddresses: string[];
  online: boolean;
}

async function startDaemon(name: string, env: Record<string, string> = {}): Promise<Tailscaled> {
  const daemon = await startTailscaled({ name, env });
  daemon.printLogsOnFailure();
  daemons.set(name, daemon);
  return daemon;
}

async function up(daemon: Tailscaled, extra: string[]): Promise<{ code: number | null; output: string }> {
  const result = await daemon.cli(['up', `--login-server=${coordinator.serverUrl}`, `--hostname=${daemon.name}`, '--timeout=60s', ...extra], { timeoutMs: 90_000 });
  return { code: result.code, output: result.stdout + result.stderr };
}

function peersOf(status: TailscaleStatus): Array<{ host: string; dns: string; ips: string[] }> {
  return Object.values(status.Peer ?? {}).map((p) => ({ host: p.HostName, dns: p.DNSName, ips: p.TailscaleIPs ?? [] }));
}

/** Polls until `check` passes or `timeoutMs` runs out; returns the elapsed milliseconds. */
async function eventually(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function listNodes(): Promise<NodeJson[]> {
  return (await wonderJson<{ nodes: NodeJson[] }>(coordinator.dataDir, ['nodes', 'list'])).nodes;
}

beforeAll(async () => {
  coordinator = await startTestCoordinator({ overrides: { 'log.level': 'info' } });
  const created = await wonder(coordinator.dataDir, ['users', 'create', 'ops']);
  expect(created.code, created.stderr).toBe(0);
  const key = await wonderJson<{ key: string }>(coordinator.dataDir, ['preauthkeys', 'create', '--user', 'ops', '--reusable']);
  reusableKey = key.key;
});

afterAll(async () => {
  await Promise.all([...daemons.values()].map((daemon) => daemon.stop()));
  await coordinator?.stop();
});

describe('real tailscaled clients', () => {
  it('three daemons join with one reusable key and see each other', async () => {
    for (const name of ['alpha', 'beta', 'gamma']) {
      const daemon = await startDaemon(name, { TS_DEBUG_NEVER_DIRECT_UDP: '1' });
      const result = await up(daemon, [`--auth-key=${reusableKey}`]);
      expect(result.code, result.output).toBe(0);
      await daemon.waitForState('Running', 30_000);
    }

    const nodes = await listNodes();
    for (const daemon of daemons.values()) {
      const ips = await daemon.ips();
      expect(ips.some((ip) => /^100\.64\.\d+\.\d+$/.test(ip)), `${daemon.name} IPv4`).toBe(true);
      expect(ips.some((ip) => ip.startsWith('fd7a:115c:a1e0:')), `${daemon.name} IPv6`).toBe(true);

      await eventually(async () => peersOf(await daemon.status()).length === 2, 10_000, `${daemon.name} listing two peers`);
      const peers = peersOf(await daemon.status());
      for (const peer of peers) {
        const registered = nodes.find((n) => n.name === peer.host);
        expect(registered, `${daemon.name} sees ${peer.host}`).toBeDefined();
        expect(peer.dns).toBe(`${peer.host}.wonder.internal.`);
        expect([...peer.ips].sort()).toEqual([...registered!.ipAddresses].sort());
      }
    }
  });

  it('keeps daemons running when a node reports Hostinfo that Go cannot decode', async () => {
    const mallory = new FakeNode(coordinator.serverUrl, coordinator.noisePublicKey, 'mallory');
    try {
      const registered = await mallory.register({ Auth: { AuthKey: reusableKey } });
      expect(registered.body.MachineAuthorized).toBe(true);
      const peerOf = async (daemon: Tailscaled) =>
        Object.values((await daemon.status()).Peer ?? {}).find((p) => p.DNSName === 'mallory.wonder.internal.') as (PeerStatus & { Location?: { City?: string } }) | undefined;
      for (const daemon of daemons.values()) await eventually(async () => (await peerOf(daemon)) !== undefined, 10_000, `${daemon.name} listing mallory`);

      // Each of these values made every tailscaled fail "PollNetMap: json: cannot unmarshal" until it was dropped.
      const update = await mallory.post('/machine/map', {
        Version: 131,
        Compress: 'zstd',
        NodeKey: mallory.nodeKey.toString(),
        Stream: false,
        OmitPeers: true,
        Endpoints: ['not-an-endpoint', '192.0.2.9:41641'],
        Hostinfo: { OS: 12345, Hostname: { name: 'mallory' }, ShieldsUp: 'yes', NetInfo: { PreferredDERP: 'x' }, Location: { City: 'Nowhere', Latitude: 'north' } },
      });
      expect(update.status).toBe(200);

      for (const daemon of daemons.values()) {
        await eventually(async () => (await peerOf(daemon))?.Location?.City === 'Nowhere', 10_000, `${daemon.name} receiving mallory's cleaned Hostinfo`);
        expect((await daemon.status()).BackendState).toBe('Running');
        expect(daemon.logs()).not.toMatch(/cannot unmarshal/);
      }
    } finally {
      mallory.close();
      const node = coordinator.tailnet.findNodeByNodeKey(mallory.nodeKey);
      if (node !== undefined) coordinator.tailnet.deleteNode(node.id);
    }
  });

  it('relays ping and TCP through the embedded DERP with direct UDP disabled', async () => {
    const alpha = daemons.get('alpha')!;
    const beta = daemons.get('beta')!;
    const [betaIp] = await beta.ips();
    const ping = await alpha.cli(['ping', '--c=5', '--timeout=5s', betaIp!], { timeoutMs: 60_000 });
    expect(ping.stdout + ping.stderr).toMatch(/pong from beta .* via DERP\(/);

    // With userspace networking, beta's netstack forwards a TCP connection for its tailnet
    // address to the same port on 127.0.0.1, where this test listens.
    const echo = net.createServer((socket) => socket.pipe(socket));
    echo.listen(0, '127.0.0.1');
    await once(echo, 'listening');
    const { port } = echo.address() as net.AddressInfo;
    try {
      const nc = spawn(tailscalePath(), [`--socket=${alpha.socketPath}`, 'nc', betaIp!, String(port)], { stdio: ['pipe', 'pipe', 'pipe'] });
      let received = '';
      nc.stdout.on('data', (chunk: Buffer) => (received += chunk.toString()));
      nc.stdin.write('hello across the tailnet\n');
      await eventually(async () => received.includes('hello across the tailnet'), 20_000, 'the TCP echo through the tailnet');
      nc.kill();
    } finally {
      echo.close();
    }
  });

  it('reports the embedded DERP region in tailscale netcheck', async () => {
    const netcheck = await daemons.get('alpha')!.cli(['netcheck', '--format=json'], { timeoutMs: 60_000 });
    expect(netcheck.code, netcheck.stderr).toBe(0);
    const report = JSON.parse(netcheck.stdout) as { PreferredDERP?: number; RegionLatency?: Record<string, number> };
    expect(report.PreferredDERP).toBe(900);
    expect(Object.keys(report.RegionLatency ?? {})).toContain('900');
  });

  it('sends a daemon to NeedsLogin when an administrator expires its node', async () => {
    const victim = await startDaemon('victim');
    expect((await up(victim, [`--auth-key=${reusableKey}`])).code).toBe(0);
    const node = (await listNodes()).find((n) => n.name === 'victim')!;
    const expired = await wonder(coordinator.dataDir, ['nodes', 'expire', String(node.id)]);
    expect(expired.code, expired.stderr).toBe(0);
    await victim.waitForState('NeedsLogin', 15_000);
    await wonder(coordinator.dataDir, ['nodes', 'delete', String(node.id)]);
    await victim.stop();
    daemons.delete('victim');
  });

  it('sends a daemon to NeedsLogin when an administrator deletes its node', async () => {
    const doomed = await startDaemon('doomed');
    const result = await up(doomed, [`--auth-key=${reusableKey}`]);
    expect(result.code, result.output).toBe(0);
    await doomed.waitForState('Running', 30_000);
    const node = (await listNodes()).find((n) => n.name === 'doomed')!;

    const deleted = await wonder(coordinator.dataDir, ['nodes', 'delete', String(node.id)]);
    expect(deleted.code, deleted.stderr).toBe(0);
    await doomed.waitForState('NeedsLogin', 15_000);
    await doomed.stop();
    daemons.delete('doomed');
  });

  it('shows a fourth node to the others within 2 seconds and removes it on delete', async () => {
    const delta = await startDaemon('delta');
    const result = await up(delta, [`--auth-key=${reusableKey}`]);
    expect(result.code, result.output).toBe(0);
    const others = ['alpha', 'beta', 'gamma'].map((name) => daemons.get(name)!);
    const seesDelta = async () => (await Promise.all(others.map(async (d) => peersOf(await d.status()).some((p) => p.host === 'delta')))).every(Boolean);
    const added = await eventually(seesDelta, 10_000, 'peers listing delta');
    expect(added).toBeLessThan(2000);

    const nodes = await listNodes();
    const deltaNode = nodes.find((n) => n.name === 'delta')!;
    const deleted = await wonder(coordinator.dataDir, ['nodes', 'delete', String(deltaNode.id)]);
    expect(deleted.code, deleted.stderr).toBe(0);
    const gone = await eventually(async () => !(await seesDelta()) && (await Promise.all(others.map(async (d) => !peersOf(await d.status()).some((p) => p.host === 'delta')))).every(Boolean), 10_000, 'peers dropping delta');
    expect(gone).toBeLessThan(2000);
    await delta.stop();
    daemons.delete('delta');
  });

  it('accepts a single-use key once and rejects used, expired and unknown keys', async () => {
    const single = await wonderJson<{ key: string }>(coordinator.dataDir, ['preauthkeys', 'create', '--user', 'ops']);
    const expiring = await wonderJson<{ key: string }>(coordinator.dataDir, ['preauthkeys', 'create', '--user', 'ops', '--expiration', '1s']);
    const first = await startDaemon('single-1');
    expect((await up(first, [`--auth-key=${single.key}`])).code).toBe(0);
    await first.stop();
    daemons.delete('single-1');

    // Each rejected key gets a fresh daemon: a daemon that failed once may print its earlier error again.
    const rejected: Array<[string, string, RegExp]> = [
      ['reused', single.key, /already used/],
      ['expired', expiring.key, /expired at/],
      ['unknown', `wkey-auth-000000000000-${'0'.repeat(48)}`, /invalid auth key/],
    ];
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (const [name, key, message] of rejected) {
      const daemon = await startDaemon(`key-${name}`);
      const result = await up(daemon, [`--auth-key=${key}`]);
      expect(result.code, `${name} key`).not.toBe(0);
      expect(result.output, `${name} key`).toMatch(message);
      await daemon.stop();
      daemons.delete(`key-${name}`);
    }
  });

  it('deletes an ephemeral node on logout and keeps a normal node\'s addresses across logout', async () => {
    const ephemeralKey = await wonderJson<{ key: string }>(coordinator.dataDir, ['preauthkeys', 'create', '--user', 'ops', '--ephemeral']);
    const temp = await startDaemon('temp');
    expect((await up(temp, [`--auth-key=${ephemeralKey.key}`])).code).toBe(0);
    expect((await listNodes()).some((n) => n.name === 'temp')).toBe(true);
    const logout = await temp.cli(['logout'], { timeoutMs: 30_000 });
    expect(logout.code, logout.stderr).toBe(0);
    await eventually(async () => !(await listNodes()).some((n) => n.name === 'temp'), 5000, 'ephemeral node deletion');
    await temp.stop();
    daemons.delete('temp');

    const gamma = daemons.get('gamma')!;
    const before = [...(await gamma.ips())].sort();
    expect((await gamma.cli(['logout'], { timeoutMs: 30_000 })).code).toBe(0);
    expect((await up(gamma, [`--auth-key=${reusableKey}`])).code).toBe(0);
    await gamma.waitForState('Running', 30_000);
    expect([...(await gamma.ips())].sort()).toEqual(before);
  });

  it('completes an interactive login after wonder nodes approve', async () => {
    const interactive = await startDaemon('interactive');
    const upRun = up(interactive, []);
    let pendingId = '';
    await eventually(
      async () => {
        const { pending } = await wonderJson<{ pending: Array<{ id: string; hostname: string }> }>(coordinator.dataDir, ['nodes', 'pending']);
        pendingId = pending.find((p) => p.hostname === 'interactive')?.id ?? '';
        return pendingId !== '';
      },
      30_000,
      'a pending interactive login',
    );
    const approved = await wonder(coordinator.dataDir, ['nodes', 'approve', pendingId, '--user', 'ops']);
    expect(approved.code, approved.stderr).toBe(0);
    const result = await upRun;
    expect(result.code, result.output).toBe(0);
    await interactive.waitForState('Running', 30_000);
  });

  it('keeps every daemon logged in with the same addresses across a coordinator restart', async () => {
    const before = new Map<string, string[]>();
    for (const daemon of daemons.values()) before.set(daemon.name, [...(await daemon.ips())].sort());

    const restarted = await coordinator.restart();
    coordinator = restarted;

    // Every daemon has opened a new map stream on the new coordinator process.
    await eventually(async () => coordinator.mapSessions.count === daemons.size, 30_000, 'every daemon streaming from the restarted coordinator');
    for (const daemon of daemons.values()) {
      const others = [...daemons.keys()].filter((name) => name !== daemon.name);
      await eventually(
        async () => {
          const status = await daemon.status();
          const hosts = peersOf(status).map((p) => p.host);
          return status.BackendState === 'Running' && others.every((name) => hosts.includes(name));
        },
        30_000,
        `${daemon.name} running with every other daemon as a peer after the restart`,
      );
      expect([...(await daemon.ips())].sort()).toEqual(before.get(daemon.name));
    }
    expect(coordinator.logs.some((line) => line.msg === 'interactive login started')).toBe(false);
  });
});
