/**
 * Start-up of a whole coordinator: the permissions of what it creates in data_dir and the
 * warnings it logs for a setup that works but is likely a mistake.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

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
