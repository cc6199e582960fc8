/**
 * DERP relay benchmark: relayed packets per second and MB/s between two clients, and memory per
 * idle connected client.
 *
 * Usage: bash scripts/bench.sh derp [--clients N]   (or node dist/bench/derp.js after a build)
 *
 * The relay runs in a child process (this file with --serve), so its CPU time and memory are
 * measured apart from the clients, which run in this process on the same machine.
 *
 * - "relay": client A sends to client B over TLS on loopback. A keeps a fixed number of packets
 *   in flight (sent and not yet received), small enough for the relay's 32-packet queue. The
 *   rate is what B receives. Drops are reported, and were 0 in every recorded run.
 * - "memory": N clients connect and stay idle; the relay process's RSS and V8 heap are read
 *   after a forced garbage collection before and after, and divided by N.
 */
import { type ChildProcess, fork } from 'node:child_process';
import crypto from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { DerpClient } from '../protocol/derp/client.js';
import { X25519PrivateKey } from '../protocol/x25519.js';
import { startDerpService } from '../src/derp/service.js';
import type { RelayStats } from '../src/derp/stats.js';
import { admitAllClients } from '../src/derp/verifier.js';
import { createLogger } from '../src/log.js';

/** Messages from the relay process. */
type RelayMessage =
  | { kind: 'ready'; port: number; pin: string }
  | { kind: 'memory'; rss: number; heapUsed: number; stats: RelayStats };

async function serve(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wonder-bench-derp-'));
  const service = await startDerpService({
    settings: {
      enabled: true,
      listen: { host: '127.0.0.1', port: 0 },
      private_key_path: path.join(dataDir, 'derp.key'),
      region_id: 900,
      region_code: 'bench',
      region_name: 'Benchmark relay',
      host_name: '127.0.0.1',
      keepalive_interval: 60_000,
      handshake_timeout: 10_000,
      write_timeout: 10_000,
      send_queue_packets: 32,
      client_rate_limit: 0,
      client_rate_burst: 0,
      tls: {},
    },
    dataDir,
    verifyClient: admitAllClients,
    stunPort: -1,
    log: createLogger({ level: 'warn' }),
  });
  const certName = service.derpMap().Regions['900']!.Nodes[0]!.CertName!;
  const send = (message: RelayMessage) => process.send!(message);
  process.on('message', (request: { kind: 'memory' } | { kind: 'stop' }) => {
    if (request.kind === 'memory') {
      (globalThis as { gc?: () => void }).gc?.();
      const usage = process.memoryUsage();
      send({ kind: 'memory', rss: usage.rss, heapUsed: usage.heapUsed, stats: service.relay!.stats });
      return;
    }
    void service.close().then(() => {
      fs.rmSync(dataDir, { recursive: true, force: true });
      process.exit(0);
    });
  });
  send({ kind: 'ready', port: service.address!.port, pin: certName.replace('sha256-raw:', '') });
}

class RelayProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    readonly pin: string,
  ) {}

  static async start(): Promise<RelayProcess> {
    const child = fork(fileURLToPath(import.meta.url), ['--serve'], { execArgv: ['--expose-gc'] });
    const [ready] = (await once(child, 'message')) as [RelayMessage];
    if (ready.kind !== 'ready') throw new Error(`relay process sent ${ready.kind} before ready`);
    return new RelayProcess(child, ready.port, ready.pin);
  }

  async memory(): Promise<Extract<RelayMessage, { kind: 'memory' }>> {
    this.child.send({ kind: 'memory' });
    const [reply] = (await once(this.child, 'message')) as [RelayMessage];
    if (reply.kind !== 'memory') throw new Error(`relay process sent ${reply.kind}, expected memory`);
    return reply;
  }

  async stop(): Promise<void> {
    this.child.send({ kind: 'stop' });
    await once(this.child, 'exit');
  }

  connect(): Promise<DerpClient> {
    return DerpClient.connect({ host: '127.0.0.1', port: this.port, tls: { serverName: '127.0.0.1', pinSha256: this.pin }, privateKey: X25519PrivateKey.generate() });
  }
}

async function admitted(client: DerpClient): Promise<void> {
  await client.waitFor((message) => message.type === 'serverInfo', 10_000);
}

/** Relays `count` packets of `size` bytes from A to B with at most `window` in flight. */
async function benchRelay(relay: RelayProcess, size: number, count: number, window: number): Promise<{ packetsPerSecond: number; megabytesPerSecond: number; dropped: number }> {
  const a = await relay.connect();
  const b = await relay.connect();
  await Promise.all([admitted(a), admitted(b)]);
  const before = (await relay.memory()).stats;

  const packet = crypto.randomBytes(size);
  let received = 0;
  let wake: (() => void) | undefined;
  b.onPacket = () => {
    received += 1;
    wake?.();
  };

  const started = performance.now();
  let sent = 0;
  while (received < count) {
    while (sent < count && sent - received < window) {
      sent += 1;
      if (!a.send(b.publicKey, packet)) await once(a.socket, 'drain');
    }
    if (received >= count) break;
    await new Promise<void>((resolve) => {
      wake = resolve;
      // A dropped packet would otherwise stall the window for good.
      setTimeout(resolve, 100);
    });
    wake = undefined;
    if (performance.now() - started > 120_000) throw new Error(`only ${received} of ${count} packets arrived within 120 s`);
  }
  const seconds = (performance.now() - started) / 1000;
  const after = (await relay.memory()).stats;
  a.close();
  b.close();
  const dropped = after.packetsDropped.queue_full - before.packetsDropped.queue_full;
  return { packetsPerSecond: count / seconds, megabytesPerSecond: (count * size) / seconds / 1e6, dropped };
}

async function benchIdleMemory(relay: RelayProcess, clients: number): Promise<{ rssPerClient: number; heapPerClient: number }> {
  const before = await relay.memory();
  const connected: DerpClient[] = [];
  const concurrency = 32;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < clients) {
        next += 1;
        const client = await relay.connect();
        await admitted(client);
        connected.push(client);
      }
    }),
  );
  // Let the relay settle: handshake buffers freed, timers armed.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const after = await relay.memory();
  for (const client of connected) client.close();
  return { rssPerClient: (after.rss - before.rss) / clients, heapPerClient: (after.heapUsed - before.heapUsed) / clients };
}

async function main(): Promise<void> {
  const clientsFlag = process.argv.indexOf('--clients');
  const clients = clientsFlag === -1 ? 2_000 : Number(process.argv[clientsFlag + 1]);

  const relay = await RelayProcess.start();
  const results: Array<[string, string]> = [];
  for (const [size, count, window] of [
    [1_200, 200_000, 64],
    [64 * 1024, 20_000, 8],
  ] as const) {
    const result = await benchRelay(relay, size, count, window);
    const label = size === 1_200 ? '1,200-byte packets' : '64 KiB packets';
    results.push([`relay, ${label}`, `${Math.round(result.packetsPerSecond).toLocaleString('en')} packets/s, ${result.megabytesPerSecond.toFixed(0)} MB/s, ${result.dropped} dropped`]);
  }
  const memory = await benchIdleMemory(relay, clients);
  results.push([`memory per idle client (${clients.toLocaleString('en')} clients)`, `${(memory.rssPerClient / 1024).toFixed(1)} KiB RSS, ${(memory.heapPerClient / 1024).toFixed(1)} KiB V8 heap`]);
  await relay.stop();

  console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores`);
  for (const [name, value] of results) console.log(`${name.padEnd(44)} ${value}`);
}

if (process.argv.includes('--serve')) await serve();
else await main();
