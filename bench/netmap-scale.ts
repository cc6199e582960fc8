/**
 * Control plane scale benchmark: N simulated nodes register and stream maps over real ts2021
 * connections, then the benchmark measures memory per idle node, the cost of one full map and
 * how fast a joining node reaches every connected peer.
 *
 * Usage: bash scripts/bench.sh netmap-scale -- --nodes 10000 [--workers 4] [--concurrency 8]
 *        [--joins 3] [--coordinator-flag=--cpu-prof ...] [--heap-snapshot]
 *
 * The coordinator runs alone in a child process (bench/scale/coordinator-process.ts) with
 * --expose-gc, so its memory and CPU are measured without the clients. The clients run in
 * `--workers` other processes (bench/scale/client-worker.ts). This process plays the joining
 * nodes. All of it stays on 127.0.0.1.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { MachinePublic } from '../protocol/key.js';
import { zstdDecompress } from '../protocol/zstd.js';
import { LightClient, wallClockMs } from './scale/light-client.js';
import type {
  FullMapReply,
  ProgressMessage,
  Reply,
  SetupReply,
  StartReply,
  StatsReply,
  WatchReply,
  WorkerRequest,
  WorkerStatsReply,
  CoordinatorRequest,
} from './scale/messages.js';

const { values: options } = parseArgs({
  // bench.sh passes its arguments through, including a `--` separator.
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    nodes: { type: 'string', default: '1000' },
    workers: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '8' },
    joins: { type: 'string', default: '3' },
    'coordinator-flag': { type: 'string', multiple: true, default: [] },
    'heap-snapshot': { type: 'boolean', default: false },
  },
});
const nodeCount = positiveInteger('nodes', options.nodes);
const workerCount = positiveInteger('workers', options.workers);
const concurrency = positiveInteger('concurrency', options.concurrency);
const joinCount = positiveInteger('joins', options.joins);

/** Time without a single new streaming node after which the run is stopped as stuck. */
const STALL_TIMEOUT_MS = 120_000;

/** Time a joining node's PeersChanged may take to reach every client before the run counts it as lost. */
const FAN_OUT_TIMEOUT_MS = 60_000;

function positiveInteger(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name}: expected a positive integer, got ${JSON.stringify(text)}`);
  return value;
}

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/** A forked child process that serves requests with `serveRequests`. */
class Child<Request extends { id: number; type: string }> {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();

  constructor(
    readonly name: string,
    readonly process: ChildProcess,
    onOther: (message: unknown) => void = () => {},
  ) {
    process.on('message', (message: Reply | { type: string }) => {
      if (!('id' in message)) {
        onOther(message);
        return;
      }
      const waiter = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      if (message.ok) waiter?.resolve(message.value);
      else waiter?.reject(new Error(`${name}: ${message.error}`));
    });
    process.on('exit', (code, signal) => {
      for (const waiter of this.waiting.values()) waiter.reject(new Error(`${name} exited (code ${code}, signal ${signal})`));
      this.waiting.clear();
    });
  }

  request<T>(request: WithoutId<Request>): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.process.send({ ...request, id });
    });
  }
}

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function median(values: number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5);
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const ms = (value: number) => `${value.toFixed(1)} ms`;
const cpuMs = (from: NodeJS.CpuUsage, to: NodeJS.CpuUsage) => (to.user - from.user + to.system - from.system) / 1000;

async function startCoordinatorProcess(): Promise<Child<CoordinatorRequest>> {
  const child = fork(path.join(benchDir, 'scale', 'coordinator-process.js'), [], {
    execArgv: ['--expose-gc', ...options['coordinator-flag']],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [ready] = (await once(child, 'message')) as [{ type: string }];
  if (ready.type !== 'ready') throw new Error(`coordinator process sent ${JSON.stringify(ready)} before ready`);
  return new Child<CoordinatorRequest>('coordinator', child);
}

function startWorker(index: number, progress: number[]): Child<WorkerRequest> {
  const child = fork(path.join(benchDir, 'scale', 'client-worker.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Child<WorkerRequest>(`worker ${index}`, child, (message) => {
    if ((message as ProgressMessage).type === 'progress') progress[index] = (message as ProgressMessage).up;
  });
}

const joiners: LightClient[] = [];

interface JoinResult {
  registerMs: number;
  fanOut: { p50: number; p99: number; max: number; seen: number; missing: number };
  fanOutServerCpuMs: number;
  firstMapMs: number;
  firstMapBytes: number;
  firstMapPeers: number;
  firstMapServerCpuMs: number;
}

/**
 * Registers a new node and times how long its PeersChanged takes to reach every client, then
 * times its own first map end to end.
 */
async function join(index: number, coordinator: Child<CoordinatorRequest>, workers: Array<Child<WorkerRequest>>, setup: SetupReply): Promise<JoinResult> {
  const client = new LightClient(`joiner-${index}`, setup.serverUrl, MachinePublic.parse(setup.noisePublicKey));
  await client.connect();

  const watching = workers.map((worker) => worker.request<WatchReply>({ type: 'watch', nodeKey: client.nodeKey.toString(), timeoutMs: FAN_OUT_TIMEOUT_MS }));
  // Gives every worker time to install its watch before the change exists.
  await sleep(500);
  const cpuBefore = await coordinator.request<NodeJS.CpuUsage>({ type: 'cpu' });
  const registerStart = wallClockMs();
  await client.register(setup.authKey);
  const registerMs = wallClockMs() - registerStart;
  const replies = await Promise.all(watching);
  const cpuAfter = await coordinator.request<NodeJS.CpuUsage>({ type: 'cpu' });
  const latencies = replies.flatMap((reply) => reply.times.map((at) => at - registerStart)).sort((a, b) => a - b);
  const missing = replies.reduce((sum, reply) => sum + reply.missing, 0);

  await sleep(1000);
  const mapCpuBefore = await coordinator.request<NodeJS.CpuUsage>({ type: 'cpu' });
  const mapStart = wallClockMs();
  await client.streamMap({ keepFirstMap: true });
  const firstMapMs = client.firstMapAt! - mapStart;
  const mapCpuAfter = await coordinator.request<NodeJS.CpuUsage>({ type: 'cpu' });
  const firstMap = JSON.parse(zstdDecompress(client.firstMap!).toString('utf8')) as { Peers?: unknown[] };
  const result: JoinResult = {
    registerMs,
    fanOut: { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: latencies.at(-1) ?? Number.NaN, seen: latencies.length, missing },
    fanOutServerCpuMs: cpuMs(cpuBefore, cpuAfter),
    firstMapMs,
    firstMapBytes: client.firstMap!.length,
    firstMapPeers: firstMap.Peers?.length ?? 0,
    firstMapServerCpuMs: cpuMs(mapCpuBefore, mapCpuAfter),
  };
  // The joiner stays connected until the end, so later joins fan out to it too. It watches for nothing.
  joiners.push(client);
  return result;
}

async function main(): Promise<void> {
  console.log(`netmap-scale: ${nodeCount} nodes, ${workerCount} client processes, ${concurrency} concurrent start-ups each`);
  console.log(`node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${mib(os.totalmem())} memory`);
  console.log(`load average at start: ${os.loadavg().map((load) => load.toFixed(1)).join(' ')}`);

  const coordinator = await startCoordinatorProcess();
  const setup = await coordinator.request<SetupReply>({ type: 'setup' });
  const baseline = await coordinator.request<StatsReply>({ type: 'stats' });

  const progress = new Array<number>(workerCount).fill(0);
  const workers = Array.from({ length: workerCount }, (_, index) => startWorker(index, progress));
  const shares = workers.map((_, index) => Math.floor(nodeCount / workerCount) + (index < nodeCount % workerCount ? 1 : 0));

  const started = performance.now();
  let lastProgress = { up: 0, at: started };
  const ticker = setInterval(() => {
    const up = progress.reduce((a, b) => a + b, 0);
    const now = performance.now();
    console.log(`  ${((now - started) / 1000).toFixed(0)} s: ${up} of ${nodeCount} nodes streaming`);
    if (up !== lastProgress.up) {
      lastProgress = { up, at: now };
    } else if (now - lastProgress.at > STALL_TIMEOUT_MS) {
      // A worker whose event loop is stuck cannot time out on its own, so the driver ends them all.
      console.error(`netmap-scale: no node started for ${STALL_TIMEOUT_MS / 1000} s; per worker: ${progress.join(', ')}; stopping`);
      for (const child of [coordinator, ...workers]) child.process.kill('SIGKILL');
      process.exit(1);
    }
  }, 10_000);
  const startReplies = await Promise.all(
    workers.map((worker, index) =>
      worker.request<StartReply>({
        type: 'start',
        serverUrl: setup.serverUrl,
        noisePublicKey: setup.noisePublicKey,
        authKey: setup.authKey,
        count: shares[index]!,
        concurrency,
        namePrefix: `w${index}`,
      }),
    ),
  );
  clearInterval(ticker);
  const bringUpSeconds = (performance.now() - started) / 1000;
  const streaming = startReplies.reduce((sum, reply) => sum + reply.started, 0);
  const failures = startReplies.flatMap((reply) => reply.failures);
  const cpuAfterBringUp = await coordinator.request<NodeJS.CpuUsage>({ type: 'cpu' });

  // Queued writes drain before memory is read.
  await sleep(5000);
  const idle = await coordinator.request<StatsReply>({ type: 'stats' });
  const workerStats = await Promise.all(workers.map((worker) => worker.request<WorkerStatsReply>({ type: 'stats' })));
  if (options['heap-snapshot']) console.log(`heap snapshot: ${await coordinator.request<string>({ type: 'heap-snapshot' })}`);

  const fullMap = await coordinator.request<FullMapReply>({ type: 'full-map', repeat: 5 });

  const joins: JoinResult[] = [];
  for (let i = 0; i < joinCount; i++) {
    joins.push(await join(i, coordinator, workers, setup));
    await sleep(2000);
  }

  for (const client of joiners) client.close();
  for (const worker of workers) await worker.request({ type: 'stop' }).catch(() => {});
  await coordinator.request({ type: 'stop' }).catch(() => {});

  const perNode = (field: 'rss' | 'heapUsed' | 'external') => (idle.memory[field] - baseline.memory[field]) / streaming;
  const received = workerStats.reduce((sum, s) => ({ bytes: sum.bytes + s.bytes, messages: sum.messages + s.messages }), { bytes: 0, messages: 0 });
  const rows: Array<[string, string]> = [
    ['nodes registered and streaming', `${streaming} of ${nodeCount} (${failures.length} failed${failures.length > 0 ? `: ${failures[0]}` : ''})`],
    ['bring-up time (register + first map, all nodes)', `${bringUpSeconds.toFixed(1)} s (${(streaming / bringUpSeconds).toFixed(0)} nodes/s)`],
    ['server CPU during bring-up', `${((cpuMs(baseline.cpu, cpuAfterBringUp)) / 1000).toFixed(1)} s`],
    ['bytes / messages received by all clients', `${mib(received.bytes)} / ${received.messages}`],
    ['server RSS: baseline → idle with N nodes', `${mib(baseline.memory.rss)} → ${mib(idle.memory.rss)}`],
    ['server RSS per idle node', kib(perNode('rss'))],
    ['server JS heap per idle node (after GC)', kib(perNode('heapUsed'))],
    ['server external + array buffers per idle node', kib(perNode('external'))],
    ['client process RSS (all workers)', mib(workerStats.reduce((sum, s) => sum + s.memory.rss, 0))],
    [`full map at ${fullMap.peers} peers: JSON / message size`, `${kib(fullMap.jsonBytes)} / ${kib(fullMap.messageBytes)} (from cached chunks: ${kib(fullMap.cachedMessageBytes)})`],
    ['full map CPU, fullMapJson (median of 5)', ms(median(fullMap.samples.map((s) => s.jsonCpuMs)))],
    ['full map CPU, compression of that JSON (median of 5)', ms(median(fullMap.samples.map((s) => s.compressCpuMs)))],
    ['full map CPU, JSON + compression (median of 5; min, max)', `${ms(median(fullMap.samples.map((s) => s.totalCpuMs)))} (${ms(Math.min(...fullMap.samples.map((s) => s.totalCpuMs)))}, ${ms(Math.max(...fullMap.samples.map((s) => s.totalCpuMs)))})`],
    ['full map CPU, fullMapMessage from cached chunks (median of 5)', ms(median(fullMap.samples.map((s) => s.cachedCpuMs)))],
    ['full map CPU, fullMapMessage with empty caches', ms(fullMap.coldCachedCpuMs)],
    ['netmap cache fill at start-up (Netmap.warm)', ms(fullMap.warmUpCpuMs)],
    ['full map CPU, first fullMapMessage after that fill', ms(fullMap.afterWarmUpCpuMs)],
  ];
  joins.forEach((j, i) => {
    rows.push([`join ${i + 1}: register request`, ms(j.registerMs)]);
    rows.push([`join ${i + 1}: PeersChanged at all clients p50 / p99 / max`, `${ms(j.fanOut.p50)} / ${ms(j.fanOut.p99)} / ${ms(j.fanOut.max)} (${j.fanOut.seen} seen, ${j.fanOut.missing} missing)`]);
    rows.push([`join ${i + 1}: server CPU for the fan-out`, ms(j.fanOutServerCpuMs)]);
    rows.push([`join ${i + 1}: first map end to end`, `${ms(j.firstMapMs)}, ${kib(j.firstMapBytes)}, ${j.firstMapPeers} peers, server CPU ${ms(j.firstMapServerCpuMs)} (with the fan-out of its online patch)`]);
  });
  rows.push(['load average at the end (1, 5, 15 min)', os.loadavg().map((load) => load.toFixed(1)).join(' ')]);
  for (const [name, value] of rows) console.log(`${name.padEnd(64)} ${value}`);
  console.log(JSON.stringify({ nodeCount, streaming, bringUpSeconds, baseline, idle, fullMap, joins, workerStats }));
}

await main();
process.exit(0);
