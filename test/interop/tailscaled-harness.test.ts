import fs from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { type Tailscaled, startTailscaled } from './tailscaled.js';

/** Returns a loopback port that nothing listens on: it was free a moment ago and has been released. */
async function closedLoopbackPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Returns the ids of processes whose command line mentions `text` (Linux /proc only). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // The process exited while we were reading /proc.
    }
  }
  return pids;
}

describe('tailscaled harness', () => {
  let daemon: Tailscaled | undefined;
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
  });

  it('reaches NeedsLogin with unreachable login server', async () => {
    daemon = await startTailscaled({ name: 'harness-self-test' });
    daemon.printLogsOnFailure();

    // tailscaled v1.92.5 moves from NoState to NeedsLogin as soon as it starts with empty state.
    const initial = await daemon.waitForState('NeedsLogin', 10_000);
    expect(initial.Version).toMatch(/^1\.92\.5\b/);

    const port = await closedLoopbackPort();
    const loginServer = `http://127.0.0.1:${port}`;
    const up = await daemon.cli(['up', `--login-server=${loginServer}`, '--timeout=3s'], { timeoutMs: 20_000 });
    expect(up.timedOut).toBe(false);
    expect(up.code).not.toBe(0);

    // The daemon keeps trying /key on the closed port and stays in NeedsLogin without addresses.
    await daemon.waitForLog(`fetch control key: Get "${loginServer}/key?v=131"`);
    const status = await daemon.waitForState('NeedsLogin', 10_000);
    expect(status.AuthURL).toBe('');
    expect(await daemon.ips()).toEqual([]);

    const prefs = await daemon.cli(['debug', 'prefs']);
    expect(prefs.code).toBe(0);
    expect(JSON.parse(prefs.stdout)).toMatchObject({ ControlURL: loginServer, WantRunning: true });
  });

  it('stop leaves no process or directory behind', async () => {
    daemon = await startTailscaled({ name: 'harness-stop-test' });
    daemon.printLogsOnFailure();
    const { pid, dir } = daemon;
    expect(processExists(pid)).toBe(true);
    expect(processesMentioning(dir)).toEqual([pid]);

    await daemon.stop();

    expect(daemon.running).toBe(false);
    expect(processExists(pid)).toBe(false);
    expect(processesMentioning(dir)).toEqual([]);
    expect(fs.existsSync(dir)).toBe(false);
    // The captured output stays readable after stop().
    expect(daemon.logs()).toContain('Program starting: v1.92.5');
  });

  it('socks5 option reports loopback address', async () => {
    daemon = await startTailscaled({ name: 'harness-socks5-test', socks5: true });
    daemon.printLogsOnFailure();

    const address = await daemon.socks5Address();

    expect(address).toMatch(/^127\.0\.0\.1:\d+$/);
    const port = Number(address.split(':')[1]);
    expect(port).toBeGreaterThan(0);
    // Something listens there: a TCP connection succeeds.
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.destroy();
  });

  it('cli reports exit code and stderr', async () => {
    daemon = await startTailscaled({ name: 'harness-cli-test' });
    daemon.printLogsOnFailure();

    const result = await daemon.cli(['no-such-subcommand']);

    expect(result.timedOut).toBe(false);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('no-such-subcommand');
  });
});
