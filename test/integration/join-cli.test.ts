/**
 * `wonder join` against a real coordinator, with a stand-in `tailscale` script that records
 * its arguments. Each failure must say whether the token was unknown, expired, used up or
 * revoked, or whether the coordinator could not be reached.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { addJoinCommand, type JoinOptions, runJoin } from '../../src/cli/join.js';
import { type TestCoordinator, startTestCoordinator } from '../helpers/coordinator.js';
import { freePort, requestJson } from '../helpers/sign-in.js';

let coordinator: TestCoordinator;
let apiKey: string;
let scratch: string;
/** A stand-in tailscale CLI: writes its arguments, one per line, to $ARGS_FILE and exits with $EXIT_CODE. */
let fakeTailscale: string;

async function createToken(body: Record<string, unknown> = {}): Promise<string> {
  const created = await requestJson({ url: coordinator.serverUrl }, 'POST', '/api/v1/join-tokens', {
    headers: { authorization: `Bearer ${apiKey}` },
    body: { user: 'workers', ...body },
  });
  expect(created.status).toBe(201);
  return created.body.token as string;
}

async function run(options: Partial<JoinOptions>): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runJoin(
    { coordinator: coordinator.serverUrl, token: '', print: false, showKey: false, tailscale: fakeTailscale, extraArgs: [], ...options },
    { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) },
  );
  return { code, stdout, stderr };
}

beforeAll(async () => {
  coordinator = await startTestCoordinator();
  const socket = { socketPath: coordinator.adminSocketPath };
  await requestJson(socket, 'POST', '/api/v1/users', { body: { name: 'workers' } });
  apiKey = (await requestJson(socket, 'POST', '/api/v1/apikeys', { body: {} })).body.key;
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'wonder-join-cli-'));
  fakeTailscale = path.join(scratch, 'tailscale');
  fs.writeFileSync(fakeTailscale, '#!/bin/sh\nprintf "%s\\n" "$@" > "$ARGS_FILE"\nexit "${EXIT_CODE:-0}"\n', { mode: 0o755 });
});

afterAll(async () => {
  await coordinator?.stop();
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe('wonder join', () => {
  it('runs tailscale up with the key', async () => {
    const token = await createToken({ ephemeral: true });
    const argsFile = path.join(scratch, 'args-ok');
    vi.stubEnv('ARGS_FILE', argsFile);
    try {
      const result = await run({ token, hostname: 'worker-1', extraArgs: ['--accept-dns=false'] });

      expect(result.code).toBe(0);
      expect(result.stderr).toContain(`joining ${coordinator.serverUrl} as user workers (ephemeral)`);
      const args = fs.readFileSync(argsFile, 'utf8').trimEnd().split('\n');
      expect(args[0]).toBe('up');
      expect(args[1]).toBe(`--login-server=${coordinator.serverUrl}`);
      expect(args[2]).toMatch(/^--auth-key=wkey-auth-[0-9a-f]{12}-[0-9a-f]{48}$/);
      expect(args.slice(3)).toEqual(['--hostname=worker-1', '--accept-dns=false']);
      const key = coordinator.tailnet.checkPreAuthKey(args[2]!.slice('--auth-key='.length));
      expect(key.ephemeral).toBe(true);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('exits with the status of tailscale', async () => {
    const token = await createToken();
    vi.stubEnv('ARGS_FILE', path.join(scratch, 'args-status'));
    vi.stubEnv('EXIT_CODE', '7');
    try {
      expect((await run({ token })).code).toBe(7);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('prints the command with the key redacted', async () => {
    const token = await createToken();
    const result = await run({ token, print: true, tailscale: '/usr/bin/tailscale', extraArgs: ['--advertise-tags=tag:a b'] });

    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      new RegExp(`^/usr/bin/tailscale up --login-server=${coordinator.serverUrl} '--auth-key=wkey-auth-[0-9a-f]{12}-\\[redacted\\]' '--advertise-tags=tag:a b'\\n$`),
    );
    expect(result.stderr).toContain('pass --show-key to print it');
  });

  it('prints the key with --show-key', async () => {
    const token = await createToken();
    const result = await run({ token, print: true, showKey: true });
    const key = /--auth-key=(\S+)/.exec(result.stdout)![1]!;
    expect(coordinator.tailnet.checkPreAuthKey(key).reusable).toBe(false);
  });

  it('parses options and extra arguments', async () => {
    const token = await createToken();
    const program = new Command('wonder').exitOverride();
    addJoinCommand(program);
    const written: string[] = [];
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await program.parseAsync(['join', '--coordinator', coordinator.serverUrl, '--token', token, '--hostname', 'w2', '--print', '--', '--ssh'], { from: 'user' });
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
    }
    expect(process.exitCode).toBe(0);
    process.exitCode = undefined;
    expect(written.join('')).toMatch(/ --hostname=w2 --ssh\n$/);
  });
});

describe('wonder join failures', () => {
  it('names an unknown token', async () => {
    const result = await run({ token: `wjoin-${'1'.repeat(12)}-${'2'.repeat(48)}` });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`wonder join: the join token is unknown to ${coordinator.serverUrl}: check that it was copied whole and was created on this coordinator\n`);
  });

  it('names an expired token', async () => {
    const token = await createToken({ expiration: new Date(Date.now() + 1000).toISOString() });
    await sleep(1100);
    const result = await run({ token });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^wonder join: the join token has expired \(join token wjoin-[0-9a-f]{12}… expired at .*; ask its owner for a new one\)\n$/);
  });

  it('names a used-up token', async () => {
    const token = await createToken();
    expect((await run({ token, print: true })).code).toBe(0);
    const result = await run({ token });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('the join token is used up');
  });

  it('names a revoked token', async () => {
    const token = await createToken();
    const prefix = token.split('-')[1]!;
    await requestJson({ url: coordinator.serverUrl }, 'DELETE', `/api/v1/join-tokens/${prefix}`, { headers: { authorization: `Bearer ${apiKey}` } });
    const result = await run({ token });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('the join token was revoked');
  });

  it('names an unreachable coordinator', async () => {
    const port = await freePort();
    const result = await run({ coordinator: `http://127.0.0.1:${port}`, token: 'wjoin-x' });
    expect(result.code).toBe(3);
    expect(result.stderr).toBe(
      `wonder join: cannot reach the coordinator at http://127.0.0.1:${port}: connection refused (ECONNREFUSED); check --coordinator and that the coordinator is running\n`,
    );
  });

  it('names a server that is not a coordinator', async () => {
    const server = http.createServer((_request, response) => response.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not found</h1>'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const result = await run({ coordinator: url, token: 'wjoin-x' });
      expect(result.code).toBe(3);
      expect(result.stderr).toContain(`${url}/api/v1/join returned HTTP 404 with text/html, not a Wonder coordinator response`);
    } finally {
      server.close();
    }
  });

  it('rejects a coordinator URL with a path', async () => {
    const result = await run({ coordinator: `${coordinator.serverUrl}/wonder`, token: 'wjoin-x' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('has a path; Tailscale clients open /ts2021 at the host root');
  });

  it('names a missing tailscale binary', async () => {
    const token = await createToken();
    const result = await run({ token, tailscale: path.join(scratch, 'no-such-tailscale') });
    expect(result.code).toBe(4);
    expect(result.stderr).toContain('not found; install Tailscale or pass --tailscale PATH');
  });
});
