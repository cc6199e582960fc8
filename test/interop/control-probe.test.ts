/**
 * Tailscale's own control dialer (Go, tailscale.com v1.92.5) against our ts2021 endpoint: the
 * handshake, HTTP/2 inside Noise and a 150 KB body across the channel, over a plain HTTP
 * upgrade and over a WebSocket.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type TestCoordinator, startTestCoordinator } from '../helpers/coordinator.js';
import { controlprobePath } from './binaries.js';

const run = promisify(execFile);
let coordinator: TestCoordinator;

beforeAll(async () => {
  coordinator = await startTestCoordinator({ overrides: { 'control.echo_route': 'true' } });
});
afterAll(async () => {
  await coordinator?.stop();
});

describe('Tailscale control dialer against ts2021', () => {
  for (const transport of ['http', 'websocket'] as const) {
    it(`completes the handshake and echoes 150 KB over ${transport}`, async () => {
      const { stdout } = await run(controlprobePath(), ['--server', coordinator.serverUrl, '--transport', transport, '--size', '150000', '--streams', '3'], {
        timeout: 60_000,
      });
      const result = JSON.parse(stdout.trim()) as Record<string, unknown>;
      expect(result.transport).toBe(transport);
      expect(result.echoed).toBe(true);
      expect(result.bytes).toBe(150000);
      expect(result.streams).toBe(3);
      expect(result.peer).toBe(coordinator.noisePublicKey.toString());
      const machineKey = String(result.machineKey);
      await coordinator.waitForLog((line) => line.msg === 'echo request' && String(line.machine) === `[${machineKey.slice(5, 13)}]`);
    });
  }

  it('fails the probe cleanly when the echo route is absent', async () => {
    const plain = await startTestCoordinator();
    try {
      await expect(run(controlprobePath(), ['--server', plain.serverUrl, '--timeout', '20s'], { timeout: 60_000 })).rejects.toMatchObject({
        stderr: expect.stringMatching(/controlprobe: (echo|http2)/),
      });
    } finally {
      await plain.stop();
    }
  });
});
