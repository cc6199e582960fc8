/**
 * Real tailscaled 1.92.5 daemons joining through sign-in: a user signs in at a real OIDC
 * provider (oidc-provider on loopback), creates a join token, and two daemons join with the
 * compiled `wonder join`. A third daemon runs an interactive `tailscale up`, whose AuthURL the
 * signed-in browser confirms. Tests in this file share the coordinator and run in order.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { TestBrowser } from '../helpers/browser.js';
import { type TestCoordinator, startTestCoordinator } from '../helpers/coordinator.js';
import { type TestProvider, startTestProvider } from '../helpers/oidc-provider.js';
import { csrfFrom, freePort, requestJson, signIn } from '../helpers/sign-in.js';
import { tailscalePath } from './binaries.js';
import { type Tailscaled, startTailscaled } from './tailscaled.js';

const cliPath = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

let provider: TestProvider;
let coordinator: TestCoordinator;
let browser: TestBrowser;
let bearer: string;
let scratch: string;
const daemons: Tailscaled[] = [];

/** Writes a tailscale CLI wrapper that talks to this daemon's socket, because `--socket` must come before the subcommand. */
function tailscaleFor(daemon: Tailscaled): string {
  const wrapper = path.join(scratch, `tailscale-${daemon.name}`);
  fs.writeFileSync(wrapper, `#!/bin/sh\nexec '${tailscalePath()}' --socket='${daemon.socketPath}' "$@"\n`, { mode: 0o755 });
  return wrapper;
}

/** Runs the compiled `wonder join` with the token in the environment, as a worker container does. */
function wonderJoin(token: string, daemon: Tailscaled): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = [cliPath, 'join', '--coordinator', coordinator.serverUrl, '--hostname', daemon.name, '--tailscale', tailscaleFor(daemon), '--', '--timeout=60s'];
  return new Promise((resolve) => {
    execFile(process.execPath, args, { timeout: 90_000, env: { ...process.env, WONDER_JOIN_TOKEN: token } }, (error, stdout, stderr) => {
      let code = 0;
      if (error !== null) code = typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

async function startDaemon(name: string): Promise<Tailscaled> {
  const daemon = await startTailscaled({ name, env: { TS_DEBUG_NEVER_DIRECT_UDP: '1' } });
  daemon.printLogsOnFailure();
  daemons.push(daemon);
  return daemon;
}

beforeAll(async () => {
  const port = await freePort();
  provider = await startTestProvider({
    redirectUris: [`http://127.0.0.1:${port}/oidc/callback`],
    accounts: [{ sub: 'alice-sub', email: 'alice@example.com', email_verified: true, preferred_username: 'alice', name: 'Alice' }],
  });
  coordinator = await startTestCoordinator({
    overrides: {
      listen_addr: `127.0.0.1:${port}`,
      'log.level': 'info',
      'oidc.issuer': provider.issuer,
      'oidc.client_id': provider.clientId,
      'oidc.client_secret': provider.clientSecret,
    },
  });
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'wonder-oidc-join-'));

  browser = new TestBrowser();
  const account = await signIn(browser, coordinator.serverUrl);
  expect(account.status).toBe(200);
  const shown = await browser.request(`${coordinator.serverUrl}/account/tokens`, { form: { csrf: csrfFrom(account) } });
  bearer = /<pre>(wsess-[0-9a-f-]+)<\/pre>/.exec(shown.body)![1]!;
});

afterAll(async () => {
  await Promise.all(daemons.map((daemon) => daemon.stop()));
  await coordinator?.stop();
  await provider?.close();
  if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
});

describe('joining through sign-in', () => {
  it('two daemons join with one join token', async () => {
    const created = await requestJson({ url: coordinator.serverUrl }, 'POST', '/api/v1/join-tokens', {
      headers: { authorization: `Bearer ${bearer}` },
      body: { uses: 2, expiration: '10m' },
    });
    expect(created.status).toBe(201);
    const token: string = created.body.token;

    const workers = [await startDaemon('worker-a'), await startDaemon('worker-b')];
    for (const worker of workers) {
      const result = await wonderJoin(token, worker);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toContain('as user alice');
    }
    for (const worker of workers) await worker.waitForState('Running', 30_000);

    for (const worker of workers) {
      const node = [...coordinator.tailnet.nodes.values()].find((candidate) => candidate.hostname === worker.name);
      expect(node, worker.name).toBeDefined();
      expect(coordinator.tailnet.users.get(node!.userId)?.name).toBe('alice');
    }
    const status = await workers[0]!.status();
    const peers = Object.values(status.Peer ?? {}).map((peer) => peer.HostName);
    expect(peers).toContain('worker-b');

    const third = await startDaemon('worker-late');
    const refused = await wonderJoin(token, third);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('the join token is used up');
  });

  it('interactive tailscale up completes through the provider', async () => {
    const daemon = await startDaemon('laptop');
    const up = daemon.cli(['up', `--login-server=${coordinator.serverUrl}`, '--hostname=laptop', '--timeout=90s'], { timeoutMs: 100_000 });

    let authUrl = '';
    for (let attempt = 0; attempt < 100 && authUrl === ''; attempt += 1) {
      authUrl = (await daemon.status()).AuthURL;
      if (authUrl === '') await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(authUrl).toMatch(new RegExp(`^${coordinator.serverUrl}/register/[0-9a-f]{24}$`));

    // The browser is still signed in, so the login page shows the confirmation at once.
    const confirm = await browser.follow(authUrl);
    expect(confirm.body).toContain('Machine <strong>laptop</strong>');
    const approved = await browser.request(authUrl, { form: { csrf: csrfFrom(confirm) } });
    expect(approved.status).toBe(200);

    const result = await up;
    expect(result.code, result.stdout + result.stderr).toBe(0);
    await daemon.waitForState('Running', 30_000);
    const node = [...coordinator.tailnet.nodes.values()].find((candidate) => candidate.hostname === 'laptop');
    expect(coordinator.tailnet.users.get(node!.userId)?.name).toBe('alice');
  });
});
