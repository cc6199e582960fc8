/**
 * The coordinator under test for the netmap-scale benchmark, alone in its own process so that
 * `process.memoryUsage()` and `process.cpuUsage()` measure only it. The driver forks it with
 * `--expose-gc` and talks to it over IPC: setup (a user and a reusable pre-auth key, created
 * directly because registration is not what it measures), statistics, and timing of full maps.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';

import { encodeMapMessage } from '../../protocol/mapstream/frame.js';
import { LEAF_PATHS, loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/log.js';
import { Netmap } from '../../src/netmap/netmap.js';
import { startCoordinator } from '../../src/server.js';
import { type CoordinatorRequest, type FullMapReply, type SetupReply, type StatsReply, memoryReport, serveRequests } from './messages.js';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wonder-netmap-scale-'));
const overrides: Record<string, string> = { listen_addr: '127.0.0.1:0', data_dir: dataDir, 'log.level': 'warn' };
// The embedded DERP relay and STUN server, where this build has them, must not take fixed ports.
for (const setting of ['derp.listen_addr', 'stun.listen_addr']) {
  if (LEAF_PATHS.includes(setting)) overrides[setting] = '127.0.0.1:0';
}
const config = loadConfig({ overrides });
const coordinator = await startCoordinator(config, createLogger({ level: 'warn' }));

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('the coordinator process needs --expose-gc');

function collectGarbage(): void {
  for (let i = 0; i < 3; i++) gc!();
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
}

function setup(): SetupReply {
  const user = coordinator.tailnet.createUser({ name: 'bench' });
  const { text } = coordinator.tailnet.createPreAuthKey({ userId: user.id, reusable: true, ephemeral: false });
  return { serverUrl: coordinator.serverUrl, noisePublicKey: coordinator.noisePublicKey.toString(), authKey: text };
}

function stats(): StatsReply {
  collectGarbage();
  return { memory: memoryReport(), cpu: process.cpuUsage(), nodes: coordinator.tailnet.nodes.size, mapSessions: coordinator.mapSessions.count };
}

/**
 * Times the full map of the first node two ways: fullMapJson plus compression of the whole
 * text, and fullMapMessage, which new map streams use and which copies cached chunks.
 */
async function fullMap(repeat: number): Promise<FullMapReply> {
  const self = coordinator.tailnet.nodes.values().next().value;
  if (self === undefined) throw new Error('the tailnet has no nodes yet');
  const samples: FullMapReply['samples'] = [];
  let jsonBytes = 0;
  let messageBytes = 0;
  let cachedMessageBytes = 0;
  for (let i = 0; i < repeat; i++) {
    collectGarbage();
    // V8 sweeps on helper threads after a collection, and process.cpuUsage() counts every thread.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = performance.now();
    const cpuStart = process.cpuUsage();
    const json = coordinator.netmap.fullMapJson(self);
    const jsonCpuMs = cpuMs(cpuStart);
    const compressStart = process.cpuUsage();
    const message = encodeMapMessage(json);
    const compressCpuMs = cpuMs(compressStart);
    const totalCpuMs = cpuMs(cpuStart);
    const wallMs = performance.now() - started;

    const cachedStart = process.cpuUsage();
    cachedMessageBytes = coordinator.netmap.fullMapMessage(self).length;
    samples.push({ jsonCpuMs, compressCpuMs, totalCpuMs, wallMs, cachedCpuMs: cpuMs(cachedStart) });
    jsonBytes = Buffer.byteLength(json);
    messageBytes = message.length;
  }

  // A second Netmap on the same tailnet starts with empty caches. It stays subscribed to
  // changes afterwards, which costs a cache deletion per change.
  collectGarbage();
  await new Promise((resolve) => setTimeout(resolve, 200));
  const cold = new Netmap({ tailnet: coordinator.tailnet, derpMap: () => ({ Regions: {} }) });
  const coldStart = process.cpuUsage();
  cold.fullMapMessage(self);
  const coldCachedCpuMs = cpuMs(coldStart);

  // What a restart costs now: the caches are filled at start-up, before any client connects.
  const restarted = new Netmap({ tailnet: coordinator.tailnet, derpMap: () => ({ Regions: {} }) });
  const warmStart = process.cpuUsage();
  restarted.warm();
  const warmUpCpuMs = cpuMs(warmStart);
  const afterWarmStart = process.cpuUsage();
  restarted.fullMapMessage(self);
  const afterWarmUpCpuMs = cpuMs(afterWarmStart);
  return { peers: coordinator.tailnet.nodes.size - 1, jsonBytes, messageBytes, cachedMessageBytes, samples, coldCachedCpuMs, warmUpCpuMs, afterWarmUpCpuMs };
}

serveRequests<CoordinatorRequest>(async (request) => {
  switch (request.type) {
    case 'setup':
      return setup();
    case 'stats':
      return stats();
    case 'cpu':
      return process.cpuUsage();
    case 'full-map':
      return fullMap(request.repeat);
    case 'heap-snapshot':
      collectGarbage();
      return v8.writeHeapSnapshot(path.join(os.tmpdir(), `wonder-netmap-scale-${process.pid}.heapsnapshot`));
    case 'stop':
      await coordinator.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
      setTimeout(() => process.exit(0), 100);
      return null;
  }
});
// Ends with the driver, which closes the IPC channel when it exits for any reason.
process.on('disconnect', () => {
  fs.rmSync(dataDir, { recursive: true, force: true });
  process.exit(1);
});
process.send!({ type: 'ready' });
