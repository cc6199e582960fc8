/**
 * Messages between the netmap-scale driver and its child processes over the IPC channel of
 * `child_process.fork`. Every request carries an id, and the reply carries the same id.
 */

export interface MemoryReport {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

/** Requests the driver sends to the coordinator process. */
export type CoordinatorRequest =
  | { id: number; type: 'setup' }
  | { id: number; type: 'stats' }
  | { id: number; type: 'cpu' }
  | { id: number; type: 'full-map'; repeat: number }
  | { id: number; type: 'heap-snapshot' }
  | { id: number; type: 'stop' };

export interface SetupReply {
  serverUrl: string;
  noisePublicKey: string;
  authKey: string;
}

export interface StatsReply {
  /** After three forced garbage collections. */
  memory: MemoryReport;
  /** process.cpuUsage() in microseconds since the process started. */
  cpu: { user: number; system: number };
  nodes: number;
  mapSessions: number;
}

export interface FullMapReply {
  peers: number;
  jsonBytes: number;
  /** Size of the message fullMapJson plus compression makes, and of the one fullMapMessage makes. */
  messageBytes: number;
  cachedMessageBytes: number;
  /** One entry per repetition, in milliseconds of CPU unless named wall. */
  samples: Array<{ jsonCpuMs: number; compressCpuMs: number; totalCpuMs: number; wallMs: number; cachedCpuMs: number }>;
  /** fullMapMessage of a new Netmap whose caches are empty, as after a restart. */
  coldCachedCpuMs: number;
  /** Netmap.warm() on a new Netmap: the start-up cost of filling its caches. */
  warmUpCpuMs: number;
  /** fullMapMessage of that Netmap right after warm(). */
  afterWarmUpCpuMs: number;
}

/** Requests the driver sends to a client worker. */
export type WorkerRequest =
  | { id: number; type: 'start'; serverUrl: string; noisePublicKey: string; authKey: string; count: number; concurrency: number; namePrefix: string }
  | { id: number; type: 'watch'; nodeKey: string; timeoutMs: number }
  | { id: number; type: 'stats' }
  | { id: number; type: 'stop' };

export interface StartReply {
  started: number;
  failures: string[];
}

/** Receipt times (by wallClockMs) of the watched PeersChanged, one per client that saw it. */
export interface WatchReply {
  times: number[];
  missing: number;
}

export interface WorkerStatsReply {
  clients: number;
  streaming: number;
  bytes: number;
  messages: number;
  memory: MemoryReport;
}

/** Unsolicited progress from a worker during start-up. */
export interface ProgressMessage {
  type: 'progress';
  up: number;
}

export type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

export function memoryReport(): MemoryReport {
  const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
  return { rss, heapUsed, heapTotal, external, arrayBuffers };
}

/** Serves IPC requests in a child process with `handle` and sends errors back as messages. */
export function serveRequests<Request extends { id: number; type: string }>(handle: (request: Request) => Promise<unknown>): void {
  process.on('message', (request: Request) => {
    handle(request).then(
      (value) => process.send!({ id: request.id, ok: true, value } satisfies Reply),
      (error: unknown) => process.send!({ id: request.id, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) } satisfies Reply),
    );
  });
}
