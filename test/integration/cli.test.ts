/**
 * Drives the compiled `wonder` CLI against a real coordinator: every admin command with
 * `--output json`, the errors it prints for bad input, and a restart that must keep every record.
 * Join tokens made by the CLI are also exchanged at `POST /api/v1/join`, as `wonder join` does.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { MachinePublic, NodePublic } from '../../protocol/key.js';
import { X25519PrivateKey } from '../../protocol/x25519.js';
import { LEAF_PATHS } from '../../src/config/config.js';
import type { Node } from '../../src/tailnet/types.js';
import { type TestCoordinator, startTestCoordinator } from '../helpers/coordinator.js';
import { FakeNode } from '../helpers/fake-node.js';
import { requestJson, storedCounts } from '../helpers/sign-in.js';

const root = path.resolve(import.meta.dirname, '../..');
const cliPath = path.join(root, 'dist/src/cli/main.js');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `wonder` with `args` and resolves with its exit code and output; it never rejects on a non-zero exit. */
function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      env: { ...process.env, WONDER_ADMIN_SOCKET: undefined, WONDER_API_KEY: undefined, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

let coordinator: TestCoordinator;

/** Runs an admin command over the coordinator's admin socket with JSON output and parses it; fails the test on a non-zero exit. */
async function wonderJson(...args: string[]): Promise<any> {
  const result = await runCli(['--socket', coordinator.adminSocketPath, ...args, '--output', 'json']);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout);
}

/** Runs an admin command that must fail; returns its standard error. */
async function wonderError(...args: string[]): Promise<string> {
  const result = await runCli(['--socket', coordinator.adminSocketPath, ...args, '--output', 'json']);
  expect(result.code).not.toBe(0);
  expect(result.stdout).toBe('');
  return result.stderr;
}

function registerNode(userId: number, hostname: string): Node {
  return coordinator.tailnet.registerNode(
    {
      machineKey: MachinePublic.fromBytes(X25519PrivateKey.generate().publicKey),
      nodeKey: NodePublic.fromBytes(X25519PrivateKey.generate().publicKey),
      hostinfo: { Hostname: hostname, OS: 'linux' },
      ephemeral: false,
      capVersion: 131,
    },
    userId,
  );
}

beforeAll(async () => {
  // The CLI under test is the compiled one, as `wonder` is installed.
  const tsc = path.join(root, 'node_modules/.bin/tsc');
  try {
    await promisify(execFile)(tsc, ['-p', 'tsconfig.json'], { cwd: root });
  } catch (error) {
    const output = error as { stdout?: string; stderr?: string };
    throw new Error(`tsc -p tsconfig.json failed:\n${output.stdout ?? ''}${output.stderr ?? ''}`);
  }
  coordinator = await startTestCoordinator();
}, 180_000);
afterAll(async () => {
  await coordinator?.stop();
});

describe('wonder users', () => {
  it('creates, lists, renames and deletes users', async () => {
    const created = await wonderJson('users', 'create', 'alice', '--display-name', 'Alice A.', '--email', 'alice@example.com');
    expect(created.user).toMatchObject({ name: 'alice', displayName: 'Alice A.', email: 'alice@example.com' });

    const listed = await wonderJson('users', 'list');
    expect(listed.users.map((user: { name: string }) => user.name)).toContain('alice');

    await wonderJson('users', 'create', 'bob');
    const renamed = await wonderJson('users', 'rename', 'bob', 'robert');
    expect(renamed.user.name).toBe('robert');
    expect(coordinator.tailnet.findUserByName('robert')).toBeDefined();

    const deleted = await wonderJson('users', 'delete', 'robert');
    expect(deleted.user.name).toBe('robert');
    expect(coordinator.tailnet.findUserByName('robert')).toBeUndefined();
  });

  it('rejects a duplicate user name', async () => {
    const stderr = await wonderError('users', 'create', 'alice');
    expect(stderr).toBe('wonder: user "alice" already exists\n');
  });

  it('rejects an invalid user name naming it', async () => {
    const stderr = await wonderError('users', 'create', 'no spaces');
    expect(stderr).toContain('invalid user name "no spaces"');
  });

  it('reports an unknown user', async () => {
    const stderr = await wonderError('users', 'delete', 'ghost');
    expect(stderr).toBe('wonder: user "ghost" not found\n');
  });

  it('prints a table by default', async () => {
    const result = await runCli(['--socket', coordinator.adminSocketPath, 'users', 'list']);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+NAME\s+DISPLAY NAME\s+EMAIL\s+CREATED$/);
    expect(lines.some((line) => /^\d+\s+alice\s+Alice A\.\s+alice@example\.com\s+\d{4}-/.test(line))).toBe(true);
  });

  it('reads the socket path from WONDER_ADMIN_SOCKET', async () => {
    const result = await runCli(['users', 'list', '--output', 'json'], { WONDER_ADMIN_SOCKET: coordinator.adminSocketPath });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).users.length).toBeGreaterThan(0);
  });
});

describe('wonder preauthkeys', () => {
  it('creates a key with every flag and lists it without the secret', async () => {
    const created = await wonderJson(
      'preauthkeys',
      'create',
      '--user',
      'alice',
      '--reusable',
      '--ephemeral',
      '--expiration',
      '2h',
      '--tags',
      'tag:web,tag:prod',
    );
    expect(created.key).toMatch(/^wkey-auth-[0-9a-f]{12}-[0-9a-f]{48}$/);
    expect(created.preAuthKey).toMatchObject({ user: 'alice', reusable: true, ephemeral: true, tags: ['tag:web', 'tag:prod'], expired: false });
    expect(coordinator.tailnet.checkPreAuthKey(created.key).id).toBe(created.preAuthKey.id);

    const listed = await wonderJson('preauthkeys', 'list', '--user', 'alice');
    expect(listed.preAuthKeys.map((key: { prefix: string }) => key.prefix)).toContain(created.preAuthKey.prefix);
    expect(JSON.stringify(listed)).not.toContain(created.key.slice(-48));
  });

  it('prints the key once after the table', async () => {
    const result = await runCli(['--socket', coordinator.adminSocketPath, 'preauthkeys', 'create', '--user', 'alice']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ID\s+PREFIX\s+USER/);
    expect(result.stdout).toMatch(/\nkey: wkey-auth-[0-9a-f]{12}-[0-9a-f]{48}\n/);
  });

  it('exits quietly when stdout is closed', async () => {
    coordinator.tailnet.createUser({ name: 'piper' });
    const before = coordinator.tailnet.preAuthKeys.size;
    const child = spawn(process.execPath, [cliPath, '--socket', coordinator.adminSocketPath, 'preauthkeys', 'create', '--user', 'piper'], {
      env: { ...process.env, WONDER_ADMIN_SOCKET: undefined, WONDER_API_KEY: undefined },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Closing the read end before the command prints, as `| head -0` would, makes its writes fail with EPIPE.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('close', (exitCode) => resolve(exitCode)));

    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(coordinator.tailnet.preAuthKeys.size).toBe(before + 1);
  });

  it.each([
    ['a bad duration', ['--user', 'alice', '--expiration', '5x'], 'invalid expiration "5x"'],
    ['a past time', ['--user', 'alice', '--expiration', '2000-01-01T00:00:00Z'], 'is in the past'],
    ['a huge duration', ['--user', 'alice', '--expiration', '99999999999d'], 'invalid expiration "99999999999d": the maximum is 3650d (10 years) from now'],
    ['a bad tag', ['--user', 'alice', '--tags', 'web'], 'invalid tag "web"'],
    ['an unknown user', ['--user', 'ghost'], 'user "ghost" not found'],
  ])('rejects %s', async (_case, flags, message) => {
    const before = coordinator.tailnet.preAuthKeys.size;
    const stderr = await wonderError('preauthkeys', 'create', ...flags);
    expect(stderr).toContain(message);
    expect(stderr.startsWith('wonder: ')).toBe(true);
    expect(coordinator.tailnet.preAuthKeys.size).toBe(before);
  });

  it('requires --user', async () => {
    const result = await runCli(['--socket', coordinator.adminSocketPath, 'preauthkeys', 'create']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("required option '--user <user>' not specified");
  });

  it('expires and deletes a key by prefix', async () => {
    const created = await wonderJson('preauthkeys', 'create', '--user', 'alice');
    const prefix = created.preAuthKey.prefix as string;

    const expired = await wonderJson('preauthkeys', 'expire', prefix);
    expect(expired.preAuthKey.expired).toBe(true);

    const deleted = await wonderJson('preauthkeys', 'delete', prefix);
    expect(deleted.preAuthKey.prefix).toBe(prefix);
    const stderr = await wonderError('preauthkeys', 'delete', prefix);
    expect(stderr).toBe(`wonder: pre-auth key "${prefix}" not found\n`);
  });
});

describe('wonder nodes', () => {
  let node: Node;

  beforeAll(() => {
    const owner = coordinator.tailnet.createUser({ name: 'carol' });
    node = registerNode(owner.id, 'build-box');
  });

  it('lists and shows a node', async () => {
    const listed = await wonderJson('nodes', 'list', '--user', 'carol');
    expect(listed.nodes).toHaveLength(1);
    expect(listed.nodes[0]).toMatchObject({ id: node.id, name: 'build-box', user: 'carol', ipAddresses: [node.ipv4, node.ipv6] });

    const shown = await wonderJson('nodes', 'show', 'build-box');
    expect(shown.node).toEqual(listed.nodes[0]);
  });

  it('shows a node as name and value lines by default', async () => {
    const result = await runCli(['--socket', coordinator.adminSocketPath, 'nodes', 'show', String(node.id)]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`\nMachine key: ${node.machineKey.toString()}\n`);
    expect(result.stdout).toMatch(/^ID:\s+\d+\n/);
  });

  it('shows a node named pending', async () => {
    const namedPending = registerNode(node.userId, 'pending');
    const shown = await wonderJson('nodes', 'show', 'pending');
    expect(shown.node.id).toBe(namedPending.id);

    await wonderJson('nodes', 'delete', 'pending');
    const stderr = await wonderError('nodes', 'show', 'pending');
    expect(stderr).toBe('wonder: node "pending" not found\n');
  });

  it('keeps a user who still owns nodes', async () => {
    const stderr = await wonderError('users', 'delete', 'carol');
    expect(stderr).toBe('wonder: user "carol" still owns 1 node(s); delete them first\n');
    expect(coordinator.tailnet.findUserByName('carol')).toBeDefined();
    expect(coordinator.tailnet.nodes.has(node.id)).toBe(true);
  });

  it('renames and expires a node', async () => {
    const renamed = await wonderJson('nodes', 'rename', String(node.id), 'builder');
    expect(renamed.node.name).toBe('builder');

    const stderr = await wonderError('nodes', 'rename', 'builder', 'Bad_Name');
    expect(stderr).toContain('invalid name "Bad_Name"');

    const expired = await wonderJson('nodes', 'expire', 'builder');
    expect(expired.node.expired).toBe(true);
  });

  it('deletes a node, after which its user can go', async () => {
    const extra = registerNode(node.userId, 'scratch');
    const deleted = await wonderJson('nodes', 'delete', String(extra.id));
    expect(deleted.node.name).toBe('scratch');
    expect(coordinator.tailnet.nodes.has(extra.id)).toBe(false);

    const stderr = await wonderError('nodes', 'show', String(extra.id));
    expect(stderr).toBe(`wonder: node "${extra.id}" not found\n`);
  });

  it('lists and approves a pending login', async () => {
    const fake = new FakeNode(coordinator.serverUrl, coordinator.noisePublicKey, 'waiting-box');
    try {
      const first = await fake.register();
      const authUrl = first.body.AuthURL ?? '';
      const pending = await wonderJson('nodes', 'pending');
      const login = pending.pending.find((entry: { hostname: string }) => entry.hostname === 'waiting-box');
      expect(authUrl.endsWith(`/${login.id}`)).toBe(true);

      const followup = fake.register({ Followup: authUrl });
      const approved = await wonderJson('nodes', 'approve', login.id, '--user', 'carol');
      expect(approved).toMatchObject({ login: { id: login.id, hostname: 'waiting-box' }, user: { name: 'carol' } });

      expect((await followup).body.MachineAuthorized).toBe(true);
      const listed = await wonderJson('nodes', 'list', '--user', 'carol');
      expect(listed.nodes.map((entry: { hostname: string }) => entry.hostname)).toContain('waiting-box');
    } finally {
      fake.close();
    }
  });

  it('escapes control characters in node tables', async () => {
    const hostile = registerNode(node.userId, 'evil\x1b[2J\rbox\nline\u202e');
    try {
      const listed = await runCli(['--socket', coordinator.adminSocketPath, 'nodes', 'list', '--user', 'carol']);
      expect(listed.code).toBe(0);
      expect(listed.stdout).not.toMatch(/[\x1b\r\u202e]/);
      expect(listed.stdout).toContain('evil\\x1b[2J\\rbox\\nline\\u202e');
      const carolsNodes = [...coordinator.tailnet.nodes.values()].filter((candidate) => candidate.userId === node.userId);
      expect(listed.stdout.trimEnd().split('\n')).toHaveLength(1 + carolsNodes.length);

      const shown = await runCli(['--socket', coordinator.adminSocketPath, 'nodes', 'show', String(hostile.id)]);
      expect(shown.stdout).not.toMatch(/[\x1b\r\u202e]/);
      expect(shown.stdout).toMatch(/\nHostname: +evil\\x1b\[2J\\rbox\\nline\\u202e\n/);

      const json = await wonderJson('nodes', 'show', String(hostile.id));
      expect(json.node.hostname).toBe('evil\x1b[2J\rbox\nline\u202e');
    } finally {
      coordinator.tailnet.deleteNode(hostile.id);
    }
  });

  it('escapes control characters in pending logins', async () => {
    const fake = new FakeNode(coordinator.serverUrl, coordinator.noisePublicKey, 'sneaky\x1b]0;title\x07\r\n');
    try {
      await fake.register();
      const result = await runCli(['--socket', coordinator.adminSocketPath, 'nodes', 'pending']);
      expect(result.code).toBe(0);
      expect(result.stdout).not.toMatch(/[\x07\x1b\r]/);
      expect(result.stdout).toContain('sneaky\\x1b]0;title\\x07\\r\\n');
      const { pending } = await wonderJson('nodes', 'pending');
      expect(result.stdout.trimEnd().split('\n')).toHaveLength(1 + pending.length);
    } finally {
      fake.close();
    }
  });

  it('reports an unknown pending login', async () => {
    const stderr = await wonderError('nodes', 'approve', 'feedface', '--user', 'carol');
    expect(stderr).toBe('wonder: pending login "feedface" not found\n');
  });
});

describe('wonder apikeys and --server', () => {
  it('creates a key that works over the public port until it is expired', async () => {
    const created = await wonderJson('apikeys', 'create', '--expiration', '1d');
    expect(created.key).toMatch(/^wapi-[0-9a-f]{12}-[0-9a-f]{48}$/);

    const remote = await runCli(['--server', coordinator.serverUrl, '--api-key', created.key, 'users', 'list', '--output', 'json']);
    expect(remote.stderr).toBe('');
    expect(JSON.parse(remote.stdout).users.map((user: { name: string }) => user.name)).toContain('alice');

    const fromEnv = await runCli(['--server', coordinator.serverUrl, 'nodes', 'list', '--output', 'json'], { WONDER_API_KEY: created.key });
    expect(fromEnv.code).toBe(0);

    const listed = await wonderJson('apikeys', 'list');
    const entry = listed.apiKeys.find((key: { prefix: string }) => key.prefix === created.apiKey.prefix);
    expect(entry.lastUsedAt).not.toBeNull();
    expect(JSON.stringify(listed)).not.toContain(created.key.slice(-48));

    const expired = await wonderJson('apikeys', 'expire', created.apiKey.prefix);
    expect(expired.apiKey.expired).toBe(true);

    const rejected = await runCli(['--server', coordinator.serverUrl, '--api-key', created.key, 'users', 'list']);
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toContain('API key was expired by an administrator');
  });

  it('rejects a bad API key expiration naming the value', async () => {
    const stderr = await wonderError('apikeys', 'create', '--expiration', 'forever');
    expect(stderr).toContain('invalid expiration "forever"');
  });

  it('requires an API key with --server', async () => {
    const result = await runCli(['--server', coordinator.serverUrl, 'users', 'list']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--server needs an API key');
  });
});

describe('wonder jointokens', () => {
  const tokenPattern = /^wjoin-[0-9a-f]{12}-[0-9a-f]{48}$/;

  beforeAll(() => {
    coordinator.tailnet.createUser({ name: 'workers' });
  });

  it('creates, lists and revokes a token', async () => {
    const created = await wonderJson(
      'jointokens',
      'create',
      '--user',
      'workers',
      '--uses',
      '3',
      '--ephemeral',
      '--tags',
      'tag:ci,tag:build',
      '--expiration',
      '2h',
    );
    expect(created.token).toMatch(tokenPattern);
    expect(created.joinToken).toMatchObject({ user: 'workers', uses: 3, useCount: 0, ephemeral: true, tags: ['tag:ci', 'tag:build'], state: 'active' });
    const lifetime = Date.parse(created.joinToken.expiresAt) - Date.now();
    expect(lifetime).toBeGreaterThan(119 * 60_000);
    expect(lifetime).toBeLessThanOrEqual(120 * 60_000);

    const listed = await wonderJson('jointokens', 'list', '--user', 'workers');
    expect(listed.joinTokens.map((token: { id: number }) => token.id)).toContain(created.joinToken.id);
    expect(listed.joinTokens.every((token: { user: string }) => token.user === 'workers')).toBe(true);

    const revoked = await wonderJson('jointokens', 'revoke', created.joinToken.prefix);
    expect(revoked.joinToken).toMatchObject({ id: created.joinToken.id, state: 'revoked' });
    const after = await wonderJson('jointokens', 'list');
    expect(after.joinTokens.find((token: { id: number }) => token.id === created.joinToken.id).state).toBe('revoked');
  });

  it('revokes a token by ID', async () => {
    const created = await wonderJson('jointokens', 'create', '--user', 'workers');
    expect(created.joinToken).toMatchObject({ uses: 1, ephemeral: false, tags: [] });

    const revoked = await wonderJson('jointokens', 'revoke', String(created.joinToken.id));
    expect(revoked.joinToken.state).toBe('revoked');
  });

  it('creates a token a worker redeems', async () => {
    const created = await wonderJson('jointokens', 'create', '--user', 'workers', '--tags', 'tag:ci', '--ephemeral');

    const joined = await requestJson({ url: coordinator.serverUrl }, 'POST', '/api/v1/join', { body: { token: created.token, hostname: 'worker-1' } });
    expect(joined.status).toBe(200);
    expect(joined.body).toMatchObject({ loginServer: coordinator.serverUrl, user: 'workers', ephemeral: true, tags: ['tag:ci'] });
    const key = coordinator.tailnet.checkPreAuthKey(joined.body.authKey);
    expect(key).toMatchObject({ reusable: false, ephemeral: true, tags: ['tag:ci'] });
    expect(coordinator.tailnet.users.get(key.userId)?.name).toBe('workers');

    const listed = await wonderJson('jointokens', 'list', '--user', 'workers');
    const entry = listed.joinTokens.find((token: { id: number }) => token.id === created.joinToken.id);
    expect(entry).toMatchObject({ useCount: 1, state: 'used-up' });
    expect(entry.lastUsedAt).not.toBeNull();
  });

  it('shows the token only on create', async () => {
    const created = await runCli(['--socket', coordinator.adminSocketPath, 'jointokens', 'create', '--user', 'workers', '--uses', '2']);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const lines = created.stdout.split('\n');
    expect(lines[0]).toMatch(/^ID\s+PREFIX\s+USER\s+USED\s+EPHEMERAL\s+TAGS\s+EXPIRES\s+STATUS$/);
    expect(lines[1]).toMatch(/^\d+\s+[0-9a-f]{12}\s+workers\s+0\/2\s+no\s+-\s+\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\s+active$/);
    const token = /\ntoken: (\S+)\n/.exec(created.stdout)?.[1] ?? '';
    expect(token).toMatch(tokenPattern);
    const secret = token.slice(token.lastIndexOf('-') + 1);
    const prefix = token.split('-')[1]!;

    const outputs = [
      await runCli(['--socket', coordinator.adminSocketPath, 'jointokens', 'list']),
      await runCli(['--socket', coordinator.adminSocketPath, 'jointokens', 'list', '--output', 'json']),
      await runCli(['--socket', coordinator.adminSocketPath, 'jointokens', 'revoke', prefix]),
    ];
    for (const output of outputs) {
      expect(output.code).toBe(0);
      expect(output.stdout).toContain(prefix);
      expect(output.stdout).not.toContain(secret);
    }
    expect(outputs[2]!.stdout).toMatch(new RegExp(`\\n\\d+\\s+${prefix}\\s+workers\\s+0/2\\s+.*\\srevoked\\n$`));
    expect(JSON.stringify(coordinator.logs)).not.toContain(secret);
  });

  it.each([
    ['an unknown user', ['--user', 'ghost'], 'wonder: user "ghost" not found\n'],
    ['a bad tag', ['--user', 'workers', '--tags', 'tag:ci,web'], 'wonder: invalid tag "web": expected tag:NAME\n'],
    ['a bad expiration', ['--user', 'workers', '--expiration', '5x'], 'invalid expiration "5x"'],
    ['a past expiration', ['--user', 'workers', '--expiration', '2000-01-01T00:00:00Z'], 'expiry 2000-01-01T00:00:00.000Z is in the past'],
    ['too many uses', ['--user', 'workers', '--uses', '1001'], 'wonder: invalid request: body/uses must be <= 1000\n'],
  ])('rejects %s naming it', async (_case, flags, message) => {
    const before = storedCounts(coordinator.dataDir);
    const stderr = await wonderError('jointokens', 'create', ...flags);
    expect(stderr).toContain(message);
    expect(stderr.startsWith('wonder: ')).toBe(true);
    expect(storedCounts(coordinator.dataDir)).toEqual(before);
  });

  it.each(['0', '-1', '1.5', 'two'])('rejects --uses %s naming it', async (uses) => {
    const before = storedCounts(coordinator.dataDir);
    const stderr = await wonderError('jointokens', 'create', '--user', 'workers', '--uses', uses);
    expect(stderr).toContain(`error: option '--uses <count>' argument '${uses}' is invalid. expected a whole number of 1 or more`);
    expect(storedCounts(coordinator.dataDir)).toEqual(before);
  });

  it('requires --user on create', async () => {
    const result = await runCli(['--socket', coordinator.adminSocketPath, 'jointokens', 'create']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("required option '--user <user>' not specified");
  });

  it('rejects revoking an unknown token', async () => {
    const before = await wonderJson('jointokens', 'list');
    expect(await wonderError('jointokens', 'revoke', '0123456789ab')).toBe('wonder: join token "0123456789ab" not found\n');
    expect(await wonderError('jointokens', 'revoke', '999999')).toBe('wonder: join token "999999" not found\n');
    expect(await wonderJson('jointokens', 'list')).toEqual(before);
  });

  it('reports an unknown user to list', async () => {
    expect(await wonderError('jointokens', 'list', '--user', 'ghost')).toBe('wonder: user "ghost" not found\n');
  });

  it('works over the public port with an API key', async () => {
    const { key } = await wonderJson('apikeys', 'create', '--expiration', '1h');
    const remote = (...args: string[]) => runCli(['--server', coordinator.serverUrl, '--api-key', key, 'jointokens', ...args, '--output', 'json']);

    const created = await remote('create', '--user', 'workers');
    expect(created.stderr).toBe('');
    expect(JSON.parse(created.stdout).token).toMatch(tokenPattern);
    const prefix = JSON.parse(created.stdout).joinToken.prefix as string;

    const listed = await remote('list', '--user', 'workers');
    expect(listed.stderr).toBe('');
    expect(JSON.parse(listed.stdout).joinTokens.map((token: { prefix: string }) => token.prefix)).toContain(prefix);

    const revoked = await remote('revoke', prefix);
    expect(revoked.stderr).toBe('');
    expect(revoked.code).toBe(0);
    expect(JSON.parse(revoked.stdout).joinToken.state).toBe('revoked');

    // The public port sends {error, reason}; the CLI prints the message alone.
    const unknown = await remote('revoke', '0123456789ab');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('wonder: join token "0123456789ab" not found\n');
  });
});

describe('unreachable coordinator', () => {
  it('names a missing socket', async () => {
    const socketPath = path.join(os.tmpdir(), 'wonder-missing', 'admin.sock');
    const result = await runCli(['--socket', socketPath, 'users', 'list']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot reach the coordinator at admin socket ${socketPath}: the socket does not exist`);
  });

  it('names a URL nobody listens on', async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}`;
    const result = await runCli(['--server', url, '--api-key', 'wapi-000000000000-' + '0'.repeat(48), 'users', 'list']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot reach the coordinator at ${url}`);
  });
});

describe('wonder serve', () => {
  let child: ChildProcess | undefined;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wonder-serve-'));

  afterAll(() => {
    child?.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts with the admin environment variables set and stops on SIGTERM', async () => {
    // Every listener on port 0, so the test never collides with another coordinator on this machine.
    const ports = ['--set', ...LEAF_PATHS.filter((setting) => setting.endsWith('listen_addr')).map((setting) => `${setting}=127.0.0.1:0`)];
    child = spawn(process.execPath, [cliPath, 'serve', ...ports, '--data-dir', dataDir], {
      env: { ...process.env, WONDER_ADMIN_SOCKET: path.join(dataDir, 'admin.sock'), WONDER_API_KEY: 'unused' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no 'coordinator listening' line within 15 s; output: ${output}`)), 15_000);
      child!.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8');
        if (output.includes('"coordinator listening"')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child!.on('exit', (code) => reject(new Error(`wonder serve exited with ${code}: ${output}`)));
    });

    const users = await runCli(['users', 'list', '--output', 'json'], { WONDER_ADMIN_SOCKET: path.join(dataDir, 'admin.sock') });
    expect(users.code).toBe(0);
    expect(JSON.parse(users.stdout)).toEqual({ users: [] });

    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(fs.existsSync(path.join(dataDir, 'admin.sock'))).toBe(false);
  });
});

describe('wonder serve start-up errors', () => {
  const folders: string[] = [];
  afterAll(() => {
    for (const folder of folders) fs.rmSync(folder, { recursive: true, force: true });
  });

  /** Runs `wonder serve` on a new data_dir with every listener on a free loopback port, then `settings`. */
  function serve(settings: string[], dataDir?: string): Promise<CliResult> {
    const folder = dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'wonder-serve-error-'));
    if (dataDir === undefined) folders.push(folder);
    const freePorts = LEAF_PATHS.filter((setting) => setting.endsWith('listen_addr')).map((setting) => `${setting}=127.0.0.1:0`);
    return runCli(['serve', '--data-dir', folder, '--log-level', 'error', '--set', ...freePorts, ...settings]);
  }

  it('prints a busy port in one line and exits 2', async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const { port } = busy.address() as net.AddressInfo;
    try {
      const result = await serve(['derp.listen_addr=127.0.0.1:' + port]);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(
        `wonder: derp.listen_addr 127.0.0.1:${port}: the TCP port is already in use, perhaps by another coordinator; stop that process or set derp.listen_addr to another address\n`,
      );
    } finally {
      await new Promise<void>((resolve) => busy.close(() => resolve()));
    }
  });

  it('prints a data_dir in use in one line and exits 2', async () => {
    const result = await serve([], coordinator.dataDir);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `wonder: data_dir ${coordinator.dataDir}: another process is serving the admin socket ${coordinator.adminSocketPath}, probably a coordinator with the same data_dir; stop it, or give this coordinator another data_dir\n`,
    );
  });
});

describe('restart', () => {
  it('keeps every user, key, node and API key', async () => {
    const before = {
      users: await wonderJson('users', 'list'),
      preAuthKeys: await wonderJson('preauthkeys', 'list'),
      nodes: await wonderJson('nodes', 'list'),
      apiKeys: await wonderJson('apikeys', 'list'),
    };
    expect(before.users.users.length).toBeGreaterThan(0);
    expect(before.preAuthKeys.preAuthKeys.length).toBeGreaterThan(0);
    expect(before.nodes.nodes.length).toBeGreaterThan(0);
    expect(before.apiKeys.apiKeys.length).toBeGreaterThan(0);

    const dataDir = coordinator.dataDir;
    await coordinator.stop({ keepData: true });
    coordinator = await startTestCoordinator({ dataDir });
    try {
      expect(await wonderJson('users', 'list')).toEqual(before.users);
      expect(await wonderJson('preauthkeys', 'list')).toEqual(before.preAuthKeys);
      expect(await wonderJson('apikeys', 'list')).toEqual(before.apiKeys);
      // Online state and last-seen time belong to live map streams, which a restart ends.
      const withoutLiveState = (response: { nodes: Array<Record<string, unknown>> }) =>
        response.nodes.map(({ online: _online, lastSeen: _lastSeen, ...rest }) => rest);
      expect(withoutLiveState(await wonderJson('nodes', 'list'))).toEqual(withoutLiveState(before.nodes));
    } finally {
      await coordinator.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
      coordinator = undefined as unknown as TestCoordinator;
    }
  });
});

/** Returns a loopback port that was free a moment ago and has no listener now. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
