/**
 * Starts a real coordinator for a test: its own temporary data folder, a free loopback port,
 * and its log lines captured so tests can assert on what was logged.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { loadConfig } from '../../src/config/config.js';
import type { ClientVerifier } from '../../src/derp/verifier.js';
import { createLogger } from '../../src/log.js';
import { type Coordinator, startCoordinator } from '../../src/server.js';
import { captureLogs } from './logs.js';

export interface TestCoordinator extends Coordinator {
  dataDir: string;
  /** Every log line so far, parsed. */
  logs: Array<Record<string, unknown>>;
  /** Resolves with the first log line for which `match` returns true, waiting up to `timeoutMs`. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Stops the coordinator and removes its data folder unless `keepData` is set. */
  stop(options?: { keepData?: boolean }): Promise<void>;
  /**
   * Stops the coordinator and starts a new one on the same data folder and the same HTTP, DERP
   * and STUN ports, as an operator's restart would. The returned object owns the data folder.
   */
  restart(): Promise<TestCoordinator>;
}

export async function startTestCoordinator(
  options: { dataDir?: string; overrides?: Record<string, string>; derpClientVerifier?: ClientVerifier } = {},
): Promise<TestCoordinator> {
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'wonder-test-'));
  const config = loadConfig({
    overrides: {
      listen_addr: '127.0.0.1:0',
      'derp.listen_addr': '127.0.0.1:0',
      'stun.listen_addr': '127.0.0.1:0',
      data_dir: dataDir,
      'log.level': 'debug',
      ...options.overrides,
    },
  });

  const { logs, waitForLog, destination } = captureLogs();

  const startOptions = options.derpClientVerifier === undefined ? {} : { derpClientVerifier: options.derpClientVerifier };
  const coordinator = await startCoordinator(config, createLogger({ level: config.log.level, destination }), startOptions);
  return {
    ...coordinator,
    dataDir,
    logs,
    waitForLog,
    async stop(stopOptions = {}) {
      await coordinator.close();
      if (!stopOptions.keepData && options.dataDir === undefined) fs.rmSync(dataDir, { recursive: true, force: true });
    },
    async restart() {
      await coordinator.close();
      const samePorts: Record<string, string> = { listen_addr: `127.0.0.1:${coordinator.address.port}` };
      if (coordinator.derpPort !== undefined) samePorts['derp.listen_addr'] = `127.0.0.1:${coordinator.derpPort}`;
      if (coordinator.stunPort !== undefined) samePorts['stun.listen_addr'] = `127.0.0.1:${coordinator.stunPort}`;
      const next = await startTestCoordinator({ ...options, dataDir, overrides: { ...options.overrides, ...samePorts } });
      // The data folder now belongs to the new coordinator, which removes it on stop.
      return { ...next, stop: async (stopOptions = {}) => {
        await next.stop({ keepData: true });
        if (!stopOptions.keepData && options.dataDir === undefined) fs.rmSync(dataDir, { recursive: true, force: true });
      } };
    },
  };
}
