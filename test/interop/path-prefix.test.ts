/**
 * A real tailscaled 1.92.5 with a login URL that has a path. It fetches `<path>/key`, opens
 * `/ts2021` at the host root and sends `<path>/machine/register` and `<path>/machine/map`
 * inside the Noise channel.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type TestCoordinator, startTestCoordinator } from '../helpers/coordinator.js';
import { type Tailscaled, startTailscaled } from './tailscaled.js';
import { wonder, wonderJson } from './wonder-cli.js';

let coordinator: TestCoordinator;
let daemon: Tailscaled | undefined;

beforeAll(async () => {
  coordinator = await startTestCoordinator({ overrides: { 'log.level': 'info' } });
  const created = await wonder(coordinator.dataDir, ['users', 'create', 'prefix-user']);
  expect(created.code, created.stderr).toBe(0);
});

afterAll(async () => {
  await daemon?.stop();
  await coordinator?.stop();
});

describe('login URL with a path prefix', () => {
  it('brings a daemon with a pre-auth key to Running', async () => {
    const { key } = await wonderJson<{ key: string }>(coordinator.dataDir, ['preauthkeys', 'create', '--user', 'prefix-user']);
    daemon = await startTailscaled({ name: 'prefixed' });
    daemon.printLogsOnFailure();

    const loginServer = `${coordinator.serverUrl}/hs`;
    const up = await daemon.cli(['up', `--login-server=${loginServer}`, `--auth-key=${key}`, '--hostname=prefixed', '--timeout=60s'], { timeoutMs: 90_000 });
    expect(up.code, up.stdout + up.stderr).toBe(0);

    const status = await daemon.waitForState('Running', 30_000);
    expect(status.TailscaleIPs?.some((ip) => /^100\.64\.\d+\.\d+$/.test(ip))).toBe(true);

    const { nodes } = await wonderJson<{ nodes: Array<{ name: string; ipAddresses: string[] }> }>(coordinator.dataDir, ['nodes', 'list']);
    const node = nodes.find((candidate) => candidate.name === 'prefixed');
    expect(node?.ipAddresses.sort()).toEqual([...(status.TailscaleIPs ?? [])].sort());
    expect(coordinator.logs.filter((line) => line.msg === 'no route for request')).toEqual([]);
  });
});
