/**
 * Starts the DERP relay alone for a test: its own temporary data folder, free loopback ports,
 * a verifier of the test's choice, and its log lines captured for assertions.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { DerpClient, type DerpClientOptions, type DerpMessage } from '../../protocol/derp/client.js';
import type { NodePublic } from '../../protocol/key.js';
import { X25519PrivateKey } from '../../protocol/x25519.js';
import type { DerpRelay } from '../../src/derp/relay.js';
import { type DerpService, type DerpSettings, startDerpService } from '../../src/derp/service.js';
import { type ClientVerifier, admitAllClients } from '../../src/derp/verifier.js';
import { createLogger } from '../../src/log.js';
import { captureLogs } from './logs.js';

export interface TestRelay {
  service: DerpService;
  relay: DerpRelay;
  port: number;
  dataDir: string;
  /** SHA-256 of the certificate, from the DERP map's CertName pin. */
  pin: string;
  logs: Array<Record<string, unknown>>;
  /** Resolves with the first log line, past or future, that `match` accepts. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Connects a client with a new key (or the given one) over TLS, checking the pin. */
  connect(options?: Partial<DerpClientOptions>): Promise<DerpClient>;
  stop(): Promise<void>;
}

export const DEFAULT_TEST_SETTINGS: DerpSettings = {
  enabled: true,
  listen: { host: '127.0.0.1', port: 0 },
  private_key_path: '',
  region_id: 900,
  region_code: 'test',
  region_name: 'Test relay',
  host_name: '127.0.0.1',
  keepalive_interval: 60_000,
  handshake_timeout: 10_000,
  write_timeout: 2_000,
  send_queue_packets: 32,
  client_rate_limit: 0,
  client_rate_burst: 0,
  tls: {},
};

export async function startTestRelay(
  options: { settings?: Partial<DerpSettings>; verifyClient?: ClientVerifier; dataDir?: string; logLevel?: string; recheckIntervalMs?: number } = {},
): Promise<TestRelay> {
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'wonder-derp-'));
  const { logs, waitForLog, destination } = captureLogs();
  const service = await startDerpService({
    settings: { ...DEFAULT_TEST_SETTINGS, private_key_path: path.join(dataDir, 'derp.key'), ...options.settings },
    dataDir,
    verifyClient: options.verifyClient ?? admitAllClients,
    stunPort: -1,
    log: createLogger({ level: options.logLevel ?? 'debug', destination }),
    ...(options.recheckIntervalMs === undefined ? {} : { recheckIntervalMs: options.recheckIntervalMs }),
  });
  const port = service.address!.port;
  const certName = service.derpMap().Regions['900']?.Nodes[0]?.CertName ?? '';
  const pin = certName.replace(/^sha256-raw:/, '');

  return {
    service,
    relay: service.relay!,
    port,
    dataDir,
    pin,
    logs,
    waitForLog,
    connect: (clientOptions = {}) =>
      DerpClient.connect({
        host: '127.0.0.1',
        port,
        tls: { serverName: '127.0.0.1', pinSha256: pin },
        privateKey: X25519PrivateKey.generate(),
        timeoutMs: 5_000,
        ...clientOptions,
      }),
    async stop() {
      await service.close();
      if (options.dataDir === undefined) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Waits for the ServerInfo that the relay sends once it admitted the client. */
export async function admitted(client: DerpClient): Promise<Extract<DerpMessage, { type: 'serverInfo' }>> {
  return (await client.waitFor((message) => message.type === 'serverInfo')) as Extract<DerpMessage, { type: 'serverInfo' }>;
}

/** Returns `message` narrowed to `type`, or throws naming both types. */
export function ofType<T extends DerpMessage['type']>(message: DerpMessage, type: T): Extract<DerpMessage, { type: T }> {
  if (message.type !== type) throw new Error(`expected a ${type} message, got ${message.type}`);
  return message as Extract<DerpMessage, { type: T }>;
}

/** Waits for the next relayed packet. */
export async function nextPacket(client: DerpClient, timeoutMs = 5_000): Promise<{ source: NodePublic; packet: Buffer }> {
  const message = await client.waitFor((candidate) => candidate.type === 'packet', timeoutMs);
  return message as Extract<DerpMessage, { type: 'packet' }>;
}

/** Checks that the relay still serves others: two fresh clients exchange a packet both ways. */
export async function expectRelayServes(relay: TestRelay): Promise<void> {
  const a = await relay.connect();
  const b = await relay.connect();
  try {
    await Promise.all([admitted(a), admitted(b)]);
    a.send(b.publicKey, Buffer.from('ping from a'));
    const atB = await nextPacket(b);
    if (!atB.source.equals(a.publicKey) || atB.packet.toString() !== 'ping from a') throw new Error('relay delivered the wrong packet to b');
    b.send(a.publicKey, Buffer.from('ping from b'));
    const atA = await nextPacket(a);
    if (!atA.source.equals(b.publicKey) || atA.packet.toString() !== 'ping from b') throw new Error('relay delivered the wrong packet to a');
  } finally {
    a.close();
    b.close();
  }
}
