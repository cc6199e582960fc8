/**
 * A process of simulated nodes for the netmap-scale benchmark, forked by the driver. It brings
 * up its share of LightClients with bounded concurrency, keeps them streaming, and reports when
 * each of them received the PeersChanged for a watched node key.
 */
import { MachinePublic } from '../../protocol/key.js';
import { LightClient } from './light-client.js';
import { type ProgressMessage, type StartReply, type WatchReply, type WorkerRequest, type WorkerStatsReply, memoryReport, serveRequests } from './messages.js';

const clients: LightClient[] = [];

async function start(request: Extract<WorkerRequest, { type: 'start' }>): Promise<StartReply> {
  const serverPublic = MachinePublic.parse(request.noisePublicKey);
  const failures: string[] = [];
  let next = 0;
  let up = 0;
  const progress = setInterval(() => process.send!({ type: 'progress', up } satisfies ProgressMessage), 1000);

  const bringUp = async () => {
    while (next < request.count) {
      const client = new LightClient(`${request.namePrefix}-${next}`, request.serverUrl, serverPublic);
      next += 1;
      try {
        await client.connect();
        await client.register(request.authKey);
        await client.streamMap();
        clients.push(client);
        up += 1;
      } catch (error) {
        client.close();
        failures.push((error as Error).message);
        // A handful of failures is reported; a flood means the run is broken.
        if (failures.length >= 20) throw new Error(`20 clients failed to start; first: ${failures[0]}`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: request.concurrency }, bringUp));
  } finally {
    clearInterval(progress);
  }
  return { started: up, failures };
}

async function watch(request: Extract<WorkerRequest, { type: 'watch' }>): Promise<WatchReply> {
  const times: number[] = [];
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, request.timeoutMs);
    for (const client of clients) {
      client.watchFor(request.nodeKey, (at) => {
        times.push(at);
        if (times.length === clients.length) {
          clearTimeout(timer);
          resolve();
        }
      });
    }
    if (clients.length === 0) resolve();
  });
  return { times, missing: clients.length - times.length };
}

function stats(): WorkerStatsReply {
  let bytes = 0;
  let messages = 0;
  let streaming = 0;
  for (const client of clients) {
    bytes += client.bytes;
    messages += client.messages;
    if (client.streaming) streaming += 1;
  }
  return { clients: clients.length, streaming, bytes, messages, memory: memoryReport() };
}

// Ends with the driver, which closes the IPC channel when it exits for any reason.
process.on('disconnect', () => process.exit(1));

serveRequests<WorkerRequest>(async (request) => {
  switch (request.type) {
    case 'start':
      return start(request);
    case 'watch':
      return watch(request);
    case 'stats':
      return stats();
    case 'stop':
      for (const client of clients) client.close();
      setTimeout(() => process.exit(0), 100);
      return null;
  }
});
