/**
 * Starts a real tailscaled (the pinned v1.92.5 build in interop/.bin) for a test, with its own
 * temporary state directory and LocalAPI socket, userspace networking and no log upload.
 * The daemon's output is captured so that a failing test can print it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { onTestFailed } from 'vitest';

import { tailscaledPath, tailscalePath } from './binaries.js';

export interface TailscaledOptions {
  /** Label for log dumps and error messages. Default "tailscaled". */
  name?: string;
  /** Extra environment for the daemon, e.g. `{ TS_DEBUG_NEVER_DIRECT_UDP: '1' }`. It overrides the defaults. */
  env?: Record<string, string>;
  /** Extra tailscaled flags, appended after the harness's own. */
  args?: string[];
  /** Start tailscaled's SOCKS5 proxy on an ephemeral loopback port (`--socks5-server=localhost:0`). */
  socks5?: boolean;
  /** Maximum time in ms to wait for the LocalAPI to respond to `status`. Default 15000. */
  startTimeoutMs?: number;
}

export interface CliResult {
  /** Exit code, or null if the process was killed by a signal (including the timeout). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface CliOptions {
  /** Maximum run time in ms before the CLI is killed with SIGKILL. Default 30000. */
  timeoutMs?: number;
}

/** The fields of `tailscale status --json` (ipnstate.Status) that tests read. */
export interface TailscaleStatus {
  Version: string;
  BackendState: string;
  AuthURL: string;
  TailscaleIPs: string[] | null;
  Self?: PeerStatus;
  Peer?: Record<string, PeerStatus> | null;
  Health?: string[] | null;
  [field: string]: unknown;
}

export interface PeerStatus {
  ID: string;
  PublicKey: string;
  HostName: string;
  DNSName: string;
  TailscaleIPs: string[] | null;
  Online?: boolean;
  [field: string]: unknown;
}

/** Maximum characters of daemon output kept in memory. Older output is dropped, but the log file keeps it until stop(). */
const maxCapturedChars = 8 * 1024 * 1024;
/** Lines of daemon output that error messages and failure dumps include. */
const logTailLines = 400;

const proxyVariables = ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'NO_PROXY'];

const liveDaemons = new Set<Tailscaled>();
let exitHookInstalled = false;

/**
 * Kills every daemon that is still running when the test process exits. The daemons also
 * watch the TS_PARENT_DEATH_FD pipe, which covers a test process that is killed outright.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const daemon of liveDaemons) daemon.killNow();
  });
}

/** Returns the environment without proxy settings, so that tailscaled and the CLI never use a proxy. */
function environmentWithoutProxies(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (proxyVariables.includes(name.toUpperCase())) delete env[name];
  }
  return env;
}

/** Starts a tailscaled and waits until its LocalAPI responds to `tailscale status --json`. */
export async function startTailscaled(options: TailscaledOptions = {}): Promise<Tailscaled> {
  const daemon = new Tailscaled(options);
  try {
    await daemon.waitForLocalAPI(options.startTimeoutMs ?? 15_000);
  } catch (error) {
    await daemon.stop();
    throw error;
  }
  return daemon;
}

export class Tailscaled {
  readonly name: string;
  /** Temporary directory holding the state, socket and log file. stop() removes it. */
  readonly dir: string;
  readonly stateDir: string;
  readonly socketPath: string;
  /** File with the daemon's complete stdout and stderr, removed by stop(). */
  readonly logFile: string;
  readonly pid: number;

  readonly #child: ChildProcess;
  readonly #logStream: fs.WriteStream;
  /** Resolves when the process has exited or failed to start. */
  readonly #exited: Promise<void>;
  /** Resolves when the process has exited and its output pipes are closed. */
  readonly #closed: Promise<void>;
  #exitDescription: string | undefined;
  #captured: string[] = [];
  #capturedChars = 0;
  #droppedChars = 0;
  #logListeners = new Set<() => void>();
  #stopping: Promise<void> | undefined;

  constructor(options: TailscaledOptions) {
    this.name = options.name ?? 'tailscaled';
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wonder-tailscaled-'));
    this.stateDir = path.join(this.dir, 'state');
    this.socketPath = path.join(this.dir, 'tailscaled.sock');
    this.logFile = path.join(this.dir, 'tailscaled.log');
    this.#logStream = fs.createWriteStream(this.logFile);

    const args = [
      `--statedir=${this.stateDir}`,
      `--socket=${this.socketPath}`,
      '--tun=userspace-networking',
      '--port=0',
      '--no-logs-no-support',
      ...(options.socks5 === true ? ['--socks5-server=localhost:0'] : []),
      ...(options.args ?? []),
    ];
    const env = {
      ...environmentWithoutProxies(),
      // Without a non-loopback interface that is up, tailscaled pauses its control client.
      TS_ASSUME_NETWORK_UP_FOR_TEST: '1',
      TS_DISABLE_PORTMAPPER: '1',
      TS_DEBUG_LOG_RATE: 'all',
      TS_NO_LOGS_NO_SUPPORT: '1',
      TS_LOGS_DIR: this.dir,
      // tailscaled exits when this pipe (fd 3) closes, that is when the test process dies.
      TS_PARENT_DEATH_FD: '3',
      ...options.env,
    };

    this.#child = spawn(tailscaledPath(), args, { env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    if (this.#child.pid === undefined) {
      // spawn() reports the reason asynchronously through the 'error' event.
      this.#exitDescription = 'failed to start';
    }
    this.pid = this.#child.pid ?? -1;
    this.#capture(this.#child.stdout);
    this.#capture(this.#child.stderr);
    const parentDeathPipe = this.#child.stdio[3] as Readable | null;
    // The pipe only signals by closing; an error on it when tailscaled exits is expected.
    parentDeathPipe?.on('error', () => {});

    this.#exited = new Promise((resolve) => {
      this.#child.once('error', (error) => {
        this.#exitDescription = `failed to start: ${error.message}`;
        resolve();
      });
      this.#child.once('exit', (code, signal) => {
        this.#exitDescription = signal === null ? `exited with code ${code}` : `was killed by ${signal}`;
        resolve();
      });
    });

    this.#closed = new Promise((resolve) => this.#child.once('close', () => resolve()));

    liveDaemons.add(this);
    installExitHook();
  }

  /** Returns true until the daemon process has exited. */
  get running(): boolean {
    return this.#exitDescription === undefined;
  }

  /** Returns the daemon's captured stdout and stderr, interleaved in arrival order. */
  logs(): string {
    const text = this.#captured.join('');
    if (this.#droppedChars === 0) return text;
    return `[${this.#droppedChars} earlier characters dropped]\n${text}`;
  }

  /** Returns the last `lines` lines of the captured output with a header naming the daemon. */
  formatLogTail(lines = logTailLines): string {
    const all = this.logs().split('\n');
    const tail = all.slice(-lines).join('\n');
    const state = this.running ? 'running' : this.#exitDescription;
    return (
      `----- ${this.name} (pid ${this.pid}, ${state}) log, last ${Math.min(lines, all.length)} lines -----\n` +
      `${tail}\n----- end of ${this.name} log -----`
    );
  }

  /**
   * Prints the daemon's log tail if the current test fails, and saves the whole captured log to a
   * file outside the daemon's directory. Call this inside a test. Vitest runs the failure hook after
   * afterEach, so it works after stop() too.
   */
  printLogsOnFailure(): void {
    onTestFailed(() => {
      console.error(`${this.formatLogTail()}\nWhole captured log: ${this.saveLogs()}`);
    });
  }

  /** Writes the captured output to a new file in the system temp directory and returns its path. */
  saveLogs(): string {
    const safeName = this.name.replace(/[^A-Za-z0-9_.-]/g, '_');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), `wonder-${safeName}-log-`)), 'tailscaled.log');
    fs.writeFileSync(file, this.logs());
    return file;
  }

  /** Resolves when the captured output matches `pattern`; rejects after `timeoutMs` or when the daemon exits. */
  async waitForLog(pattern: string | RegExp, timeoutMs = 10_000): Promise<void> {
    const matches = (): boolean => {
      const text = this.logs();
      return typeof pattern === 'string' ? text.includes(pattern) : pattern.test(text);
    };
    if (matches()) return;

    let listener: (() => void) | undefined;
    const found = new Promise<'found'>((resolve) => {
      listener = () => {
        if (matches()) resolve('found');
      };
      this.#logListeners.add(listener);
    });
    try {
      const outcome = await settleWithin(Promise.race([found, this.#exited.then(() => 'exited' as const)]), timeoutMs);
      if (outcome === 'found' || matches()) return;
      const reason = outcome === 'exited' ? `tailscaled ${this.#exitDescription}` : `timed out after ${timeoutMs} ms`;
      throw new Error(`${this.name}: log never matched ${String(pattern)}: ${reason}\n${this.formatLogTail(50)}`);
    } finally {
      if (listener !== undefined) this.#logListeners.delete(listener);
    }
  }

  /**
   * Returns the host:port of the SOCKS5 proxy that `socks5: true` starts, read from the daemon's
   * "SOCKS5 listening on ADDRESS" log line. With userspace networking, this proxy is how a test opens
   * TCP connections to tailnet addresses.
   */
  async socks5Address(timeoutMs = 10_000): Promise<string> {
    const pattern = /SOCKS5 listening on (\S+)/;
    await this.waitForLog(pattern, timeoutMs);
    const match = pattern.exec(this.logs());
    if (match?.[1] === undefined) throw new Error(`${this.name}: SOCKS5 listening line disappeared from the captured log`);
    return match[1];
  }

  /** Runs `tailscale --socket=<this daemon's socket> ...args` and returns its exit code and output. */
  cli(args: string[], options: CliOptions = {}): Promise<CliResult> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      const child = spawn(tailscalePath(), [`--socket=${this.socketPath}`, ...args], {
        env: environmentWithoutProxies(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`could not run tailscale ${args.join(' ')}: ${error.message}`));
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr, timedOut });
      });
    });
  }

  /** Runs `tailscale status --json` and returns the parsed status; throws if the CLI fails. */
  async status(): Promise<TailscaleStatus> {
    const result = await this.cli(['status', '--json'], { timeoutMs: 10_000 });
    if (result.code !== 0) {
      throw new Error(
        `${this.name}: tailscale status --json failed (${describeCliFailure(result)}): ${result.stderr.trim()}`,
      );
    }
    try {
      return JSON.parse(result.stdout) as TailscaleStatus;
    } catch (error) {
      throw new Error(`${this.name}: tailscale status --json printed invalid JSON (${String(error)}): ${result.stdout}`);
    }
  }

  /** Polls `status` until BackendState equals `state`; throws with the last state and the log tail on timeout. */
  async waitForState(state: string, timeoutMs = 20_000): Promise<TailscaleStatus> {
    const deadline = Date.now() + timeoutMs;
    let lastState = '(no status yet)';
    let lastError: unknown;
    for (;;) {
      if (!this.running) {
        throw new Error(`${this.name}: tailscaled ${this.#exitDescription} while waiting for ${state}\n${this.formatLogTail(50)}`);
      }
      try {
        const status = await this.status();
        if (status.BackendState === state) return status;
        lastState = status.BackendState;
        lastError = undefined;
      } catch (error) {
        lastError = error;
      }
      if (Date.now() >= deadline) break;
      await sleep(200);
    }
    const errorText = lastError === undefined ? '' : ` (last status error: ${String(lastError)})`;
    throw new Error(
      `${this.name}: BackendState is "${lastState}" after ${timeoutMs} ms, expected "${state}"${errorText}\n` +
        this.formatLogTail(50),
    );
  }

  /** Returns the node's Tailscale IP addresses from `status`, or an empty array before it has any. */
  async ips(): Promise<string[]> {
    const status = await this.status();
    return status.TailscaleIPs ?? [];
  }

  /**
   * Stops the daemon with SIGTERM, then SIGKILL after `graceMs`, and removes its directory.
   * The captured output stays available through logs(). Calling stop() again returns the same promise.
   */
  stop(graceMs = 5_000): Promise<void> {
    this.#stopping ??= this.#stop(graceMs);
    return this.#stopping;
  }

  async #stop(graceMs: number): Promise<void> {
    if (this.running) {
      this.#child.kill('SIGTERM');
      if ((await settleWithin(this.#exited, graceMs)) === 'timeout') {
        this.#child.kill('SIGKILL');
        await this.#exited;
      }
    }
    // 'exit' can come before the output pipes are drained; give them a moment so the log is complete.
    await settleWithin(this.#closed, 1_000);
    liveDaemons.delete(this);
    await new Promise<void>((resolve) => this.#logStream.end(resolve));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Sends SIGKILL without waiting; for the process exit hook only. */
  killNow(): void {
    if (this.running) this.#child.kill('SIGKILL');
  }

  /** Polls `status --json` until the LocalAPI responds. */
  async waitForLocalAPI(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown;
    while (Date.now() < deadline) {
      if (!this.running) {
        throw new Error(`${this.name}: tailscaled ${this.#exitDescription} during startup\n${this.formatLogTail(50)}`);
      }
      try {
        await this.status();
        return;
      } catch (error) {
        lastError = error;
      }
      await sleep(100);
    }
    throw new Error(
      `${this.name}: LocalAPI at ${this.socketPath} did not respond within ${timeoutMs} ms: ${String(lastError)}\n` +
        this.formatLogTail(50),
    );
  }

  #capture(stream: Readable | null): void {
    if (stream === null) return;
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      this.#logStream.write(chunk);
      this.#captured.push(chunk);
      this.#capturedChars += chunk.length;
      while (this.#capturedChars > maxCapturedChars && this.#captured.length > 1) {
        const dropped = this.#captured.shift() ?? '';
        this.#capturedChars -= dropped.length;
        this.#droppedChars += dropped.length;
      }
      for (const listener of this.#logListeners) listener();
    });
  }
}

/** Resolves with the value of `promise`, or with 'timeout' if it has not settled after `timeoutMs`. */
async function settleWithin<T>(promise: Promise<T>, timeoutMs: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function describeCliFailure(result: CliResult): string {
  if (result.timedOut) return 'timed out';
  if (result.signal !== null) return `killed by ${result.signal}`;
  return `exit code ${result.code}`;
}
