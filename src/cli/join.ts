/**
 * `wonder join`: the worker side of join tokens. It trades a join token for a single-use
 * pre-auth key at `POST /api/v1/join`, then runs
 * `tailscale up --login-server=<url> --auth-key=<key> [--hostname=<name>] [extra args]`.
 *
 * This module imports only commander and Node built-ins, so it runs in a worker container that
 * has Node but not the coordinator's native modules.
 */
import { spawn } from 'node:child_process';

import { type Command, Option } from 'commander';

const REQUEST_TIMEOUT_MS = 30_000;

export interface JoinOptions {
  coordinator: string;
  token: string;
  hostname?: string;
  /** Print the tailscale command instead of running it. */
  print: boolean;
  /** With `print`, show the pre-auth key instead of redacting it. */
  showKey: boolean;
  /** The tailscale CLI to run. */
  tailscale: string;
  /** Arguments appended after `tailscale up`'s own. */
  extraArgs: string[];
}

export interface JoinOutput {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** A failure `wonder join` reports in one line; `exitCode` is the process exit status. */
export class JoinCommandError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'JoinCommandError';
  }
}

/** Exit statuses: 1 for a rejected token, 2 for invalid options, 3 when the coordinator cannot be reached or misbehaves, 4 when tailscale cannot be run. */
const EXIT_REJECTED = 1;
const EXIT_USAGE = 2;
const EXIT_UNREACHABLE = 3;
const EXIT_NO_TAILSCALE = 4;

interface JoinResponse {
  authKey: string;
  loginServer: string;
  expiresAt: string;
  user: string;
  ephemeral: boolean;
  tags: string[];
}

export function addJoinCommand(program: Command): void {
  program
    .command('join')
    .description('trade a join token for a pre-auth key and run tailscale up against the coordinator')
    .addOption(new Option('--coordinator <url>', 'the coordinator URL, without a path, e.g. http://coordinator:8080').env('WONDER_COORDINATOR').makeOptionMandatory())
    .addOption(new Option('--token <token>', 'the join token (wjoin-…); the environment variable keeps it out of the process list').env('WONDER_JOIN_TOKEN').makeOptionMandatory())
    .option('--hostname <name>', 'host name for this machine in the tailnet (passed to tailscale up --hostname)')
    .option('--print', 'print the tailscale up command instead of running it; the key is still used up', false)
    .option('--show-key', 'with --print, show the pre-auth key instead of redacting it', false)
    .option('--tailscale <path>', 'the tailscale CLI to run', 'tailscale')
    .argument('[tailscale-args...]', 'extra arguments for tailscale up, after --')
    .action(async (extraArgs: string[], flags: Omit<JoinOptions, 'extraArgs'>) => {
      process.exitCode = await runJoin({ ...flags, extraArgs }, { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) });
    });
}

/** Runs the join and returns the exit status: tailscale's own, or one of the statuses above. */
export async function runJoin(options: JoinOptions, output: JoinOutput): Promise<number> {
  try {
    const coordinator = parseCoordinatorUrl(options.coordinator);
    const joined = await requestJoin(coordinator, options.token, options.hostname);
    if (joined.loginServer !== coordinator) {
      output.stderr(`wonder join: the coordinator's server_url is ${joined.loginServer}, not ${coordinator}; tailscaled will use ${joined.loginServer}\n`);
    }
    const args = ['up', `--login-server=${joined.loginServer}`, `--auth-key=${joined.authKey}`];
    if (options.hostname !== undefined) args.push(`--hostname=${options.hostname}`);
    args.push(...options.extraArgs);

    if (options.print) {
      const shown = options.showKey ? args : args.map((arg) => (arg.startsWith('--auth-key=') ? `--auth-key=${redactKey(joined.authKey)}` : arg));
      output.stdout(`${[options.tailscale, ...shown].map(shellQuote).join(' ')}\n`);
      output.stderr(`wonder join: the key works once and expires at ${joined.expiresAt}${options.showKey ? '' : '; pass --show-key to print it'}\n`);
      return 0;
    }
    output.stderr(`wonder join: joining ${joined.loginServer} as user ${joined.user}${joined.ephemeral ? ' (ephemeral)' : ''}\n`);
    return await runTailscale(options.tailscale, args);
  } catch (error) {
    if (!(error instanceof JoinCommandError)) throw error;
    output.stderr(`wonder join: ${error.message}\n`);
    return error.exitCode;
  }
}

function parseCoordinatorUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new JoinCommandError(`--coordinator ${JSON.stringify(text)} is not a URL; expected something like http://coordinator:8080`, EXIT_USAGE);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new JoinCommandError(`--coordinator ${text}: expected an http or https URL`, EXIT_USAGE);
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') {
    throw new JoinCommandError(
      `--coordinator ${text} has a path; Tailscale clients open /ts2021 at the host root whatever the path, so serve the coordinator at the root of its own host or port and pass only ${url.origin}`,
      EXIT_USAGE,
    );
  }
  return url.origin;
}

async function requestJoin(coordinator: string, token: string, hostname: string | undefined): Promise<JoinResponse> {
  const endpoint = `${coordinator}/api/v1/join`;
  let response: Response;
  try {
    response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(hostname === undefined ? { token } : { token, hostname }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      redirect: 'manual',
    });
  } catch (error) {
    throw new JoinCommandError(`cannot reach the coordinator at ${coordinator}: ${networkReason(error)}; check --coordinator and that the coordinator is running`, EXIT_UNREACHABLE);
  }

  const text = await response.text();
  let body: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null) body = parsed as Record<string, unknown>;
  } catch {
    // Not JSON: handled below.
  }
  if (body === undefined) {
    throw new JoinCommandError(
      `${endpoint} returned HTTP ${response.status} with ${response.headers.get('content-type') ?? 'no content type'}, not a Wonder coordinator response; check --coordinator`,
      EXIT_UNREACHABLE,
    );
  }
  if (response.ok && typeof body.authKey === 'string' && typeof body.loginServer === 'string') return body as unknown as JoinResponse;

  const message = typeof body.error === 'string' ? body.error : `HTTP ${response.status}`;
  switch (body.reason) {
    case 'unknown':
      throw new JoinCommandError(`the join token is unknown to ${coordinator}: check that it was copied whole and was created on this coordinator`, EXIT_REJECTED);
    case 'expired':
      throw new JoinCommandError(`the join token has expired (${message})`, EXIT_REJECTED);
    case 'used-up':
      throw new JoinCommandError(`the join token is used up (${message})`, EXIT_REJECTED);
    case 'revoked':
      throw new JoinCommandError(`the join token was revoked (${message})`, EXIT_REJECTED);
    case 'rate-limited':
      throw new JoinCommandError(`the coordinator rejects more attempts for now: ${message}`, EXIT_REJECTED);
    default:
      throw new JoinCommandError(`the coordinator rejected the join with HTTP ${response.status}: ${message}`, EXIT_REJECTED);
  }
}

function runTailscale(command: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'inherit' });
    child.once('error', (error: NodeJS.ErrnoException) => {
      const hint = error.code === 'ENOENT' ? `${command} not found; install Tailscale or pass --tailscale PATH` : `cannot run ${command}: ${error.message}`;
      reject(new JoinCommandError(hint, EXIT_NO_TAILSCALE));
    });
    child.once('close', (code) => resolve(code ?? 1));
  });
}

function networkReason(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `no response within ${REQUEST_TIMEOUT_MS / 1000} s`;
  const cause = error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
  if (cause?.code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED)';
  if (cause?.code === 'ENOTFOUND' || cause?.code === 'EAI_AGAIN') return `host name not found (${cause.code})`;
  return cause?.message ?? (error instanceof Error ? error.message : String(error));
}

/** Keeps the key's public prefix, which the coordinator's logs and listings show, and hides the secret. */
function redactKey(key: string): string {
  const match = /^(wkey-auth-[0-9a-f]{12}-)/.exec(key);
  return match === null ? '[redacted]' : `${match[1]}[redacted]`;
}

function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
