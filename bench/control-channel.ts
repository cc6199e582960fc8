/**
 * Control channel benchmark: Noise IK handshakes per second and controlbase throughput.
 *
 * Usage: bash scripts/bench.sh control-channel   (or node dist/bench/control-channel.js after a build)
 *
 * - "handshake, server side": respondToInitiation alone, one core, initiations prepared ahead.
 * - "handshake, end to end": full /ts2021 upgrades against a running coordinator on loopback,
 *   client and server sharing this machine, so the rate is a floor for the server alone.
 * - "throughput": one ControlConn over loopback TCP, sealing on one end and opening on the
 *   other in the same process, so each byte costs both ends' CPU.
 */
import crypto from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { ControlConn } from '../protocol/controlbase/conn.js';
import { initiateHandshake, respondToInitiation } from '../protocol/controlbase/handshake.js';
import { MachinePublic } from '../protocol/key.js';
import { dialControl } from '../protocol/ts2021/client.js';
import { X25519PrivateKey } from '../protocol/x25519.js';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/log.js';
import { startCoordinator } from '../src/server.js';

function benchServerHandshakes(count: number): number {
  const server = X25519PrivateKey.generate();
  const serverPublic = MachinePublic.fromBytes(server.publicKey);
  const initiations = Array.from({ length: count }, () => initiateHandshake(X25519PrivateKey.generate(), serverPublic, 131).initiation);
  const started = performance.now();
  for (const initiation of initiations) respondToInitiation(initiation, server);
  return count / ((performance.now() - started) / 1000);
}

async function benchEndToEndHandshakes(count: number, concurrency: number): Promise<number> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wonder-bench-'));
  const config = loadConfig({
    overrides: { listen_addr: '127.0.0.1:0', 'derp.listen_addr': '127.0.0.1:0', 'stun.listen_addr': '127.0.0.1:0', data_dir: dataDir, 'log.level': 'warn' },
  });
  const coordinator = await startCoordinator(config, createLogger({ level: 'warn' }));
  const machineKeys = Array.from({ length: concurrency }, () => X25519PrivateKey.generate());

  let remaining = count;
  const started = performance.now();
  await Promise.all(
    machineKeys.map(async (machineKey) => {
      while (remaining > 0) {
        remaining -= 1;
        const conn = await dialControl({ serverUrl: coordinator.serverUrl, machineKey, serverPublic: coordinator.noisePublicKey });
        conn.destroy();
      }
    }),
  );
  const rate = count / ((performance.now() - started) / 1000);
  await coordinator.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  return rate;
}

async function benchThroughput(totalBytes: number, writeSize: number): Promise<number> {
  const listener = net.createServer().listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const accepted = once(listener, 'connection');
  const clientSocket = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  const [serverSocket] = (await accepted) as [net.Socket];

  const serverKey = X25519PrivateKey.generate();
  const pending = initiateHandshake(X25519PrivateKey.generate(), MachinePublic.fromBytes(serverKey.publicKey), 131);
  const { response, result } = respondToInitiation(pending.initiation, serverKey);
  const sender = new ControlConn(clientSocket, pending.finish(response));
  const receiver = new ControlConn(serverSocket, result);

  const chunk = crypto.randomBytes(writeSize);
  let received = 0;
  const done = new Promise<void>((resolve) => {
    receiver.on('data', (data: Buffer) => {
      received += data.length;
      if (received >= totalBytes) resolve();
    });
  });

  const started = performance.now();
  for (let sent = 0; sent < totalBytes; sent += writeSize) {
    if (!sender.write(chunk)) await once(sender, 'drain');
  }
  await done;
  const seconds = (performance.now() - started) / 1000;
  sender.destroy();
  receiver.destroy();
  listener.close();
  return totalBytes / seconds / 1e6;
}

const results: Array<[string, string]> = [];
results.push(['handshake, server side (1 core)', `${Math.round(benchServerHandshakes(5000))} /s`]);
results.push(['handshake, end to end over loopback', `${Math.round(await benchEndToEndHandshakes(2000, 16))} /s`]);
results.push(['throughput, 64 KiB writes', `${(await benchThroughput(512 * 1024 * 1024, 64 * 1024)).toFixed(0)} MB/s`]);
results.push(['throughput, 1 KiB writes', `${(await benchThroughput(64 * 1024 * 1024, 1024)).toFixed(0)} MB/s`]);

console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores`);
for (const [name, value] of results) console.log(`${name.padEnd(40)} ${value}`);
