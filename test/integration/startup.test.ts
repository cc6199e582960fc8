/**
 * Start-up of a whole coordinator: the permissions of what it creates in data_dir, the warnings
 * it logs for a setup that works but is likely a mistake, and its errors for busy ports.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { StartupError } from '../../src/startup-checks.js';
import { type TestCoordinator, startTestCoordinator } from '../helpers/coordinator.js';

let coordinator: TestCoordinator | undefined;
const folders: string[] = [];

afterEach(async () => {
  await coordinator?.stop();
  coordinator = undefined;
  for (const folder of folders.splice(0)) fs.rmSync(folder, { recursive: true, force: true });
});

function tempDir(mode: number): string {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'wonder-startup-'));
  fs.chmodSync(folder, mode);
  folders.push(folder);
  return folder;
}

function modeOf(file: string): string {
  return (fs.statSync(file).mode & 0o777).toString(8).padStart(4, '0');
}

describe('data_dir permissions', () => {
  it('creates the database files 0600', async () => {
    const previous = process.umask(0o022);
    try {
      coordinator = await startTestCoordinator();
    } finally {
      process.umask(previous);
    }
    for (const name of ['wonder.sqlite', 'wonder.sqlite-wal', 'wonder.sqlite-shm', 'noise.key', 'derp.key']) {
      expect(modeOf(path.join(coordinator.dataDir, name)), name).toBe('0600');
    }
  });

  it('warns about a data_dir open to others', async () => {
    const dataDir = tempDir(0o755);
    coordinator = await startTestCoordinator({ dataDir });
    const warning = coordinator.logs.find((line) => line.level === 40 && line.dataDir === path.resolve(dataDir));
    expect(warning?.mode).toBe('0755');
    expect(warning?.msg).toBe(`data_dir ${path.resolve(dataDir)} has mode 0755, so other users can reach its files; run chmod 700 ${path.resolve(dataDir)}`);
  });

  it('does not warn about a 0700 data_dir', async () => {
    const dataDir = tempDir(0o700);
    coordinator = await startTestCoordinator({ dataDir });
    expect(coordinator.logs.filter((line) => line.dataDir !== undefined)).toEqual([]);
  });
});

/** Binds a loopback TCP or UDP port and returns it with a function that frees it. */
async function occupyPort(transport: 'TCP' | 'UDP'): Promise<{ port: number; release: () => Promise<void> }> {
  if (transport === 'UDP') {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return { port: socket.address().port, release: () => new Promise((resolve) => socket.close(() => resolve())) };
  }
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, release: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('busy ports', () => {
  it.each([
    ['listen_addr', 'TCP'],
    ['derp.listen_addr', 'TCP'],
    ['stun.listen_addr', 'UDP'],
  ] as const)('names %s when its port is in use', async (setting, transport) => {
    const dataDir = tempDir(0o700);
    const busy = await occupyPort(transport);
    try {
      const attempt = startTestCoordinator({ dataDir, overrides: { [setting]: `127.0.0.1:${busy.port}` } });
      await expect(attempt).rejects.toThrow(StartupError);
      await expect(attempt).rejects.toThrow(
        `${setting} 127.0.0.1:${busy.port}: the ${transport} port is already in use, perhaps by another coordinator; stop that process or set ${setting} to another address`,
      );
    } finally {
      await busy.release();
    }

    // The failed start released the database, the admin socket and the other ports.
    coordinator = await startTestCoordinator({ dataDir });
    expect(coordinator.tailnet.users.size).toBe(0);
  });

  it('names the admin socket of a data_dir in use', async () => {
    coordinator = await startTestCoordinator();
    const attempt = startTestCoordinator({ dataDir: coordinator.dataDir });
    await expect(attempt).rejects.toThrow(StartupError);
    await expect(attempt).rejects.toThrow(
      `data_dir ${coordinator.dataDir}: another process is serving the admin socket ${coordinator.adminSocketPath}, probably a coordinator with the same data_dir; stop it, or give this coordinator another data_dir`,
    );
  });
});

describe('relay on loopback', () => {
  it('warns when the DERP map advertises another host', async () => {
    coordinator = await startTestCoordinator({ overrides: { server_url: 'http://10.99.0.1:8080' } });
    const warnings = coordinator.logs.filter((line) => line.level === 40 && typeof line.setting === 'string');
    expect(warnings.map((line) => line.setting)).toEqual(['derp.listen_addr', 'stun.listen_addr']);
    expect(warnings[0]?.msg).toContain(`the DERP map tells clients to dial 10.99.0.1, but derp.listen_addr 127.0.0.1:${coordinator.derpPort} is a loopback address`);
  });

  it('stays quiet for a loopback server_url', async () => {
    coordinator = await startTestCoordinator();
    expect(coordinator.logs.filter((line) => line.level === 40 && typeof line.setting === 'string')).toEqual([]);
  });
});
