import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { MachinePublic, NodePublic } from '../../protocol/key.js';
import { X25519PrivateKey } from '../../protocol/x25519.js';
import type { Node } from '../../src/tailnet/types.js';
import { type TestCoordinator, startTestCoordinator } from '../helpers/coordinator.js';
import { FakeNode } from '../helpers/fake-node.js';

interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
}

/** Sends one request to the API over the admin socket, or over TCP when `target` is a URL. */
function request(
  target: { socketPath: string } | { url: string },
  method: string,
  urlPath: string,
  options: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<Response> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  const headers: Record<string, string> = { ...options.headers };
  if (payload !== undefined) headers['content-type'] = 'application/json';
  const requestOptions: http.RequestOptions =
    'socketPath' in target ? { socketPath: target.socketPath, path: urlPath } : { ...urlParts(target.url), path: urlPath };
  return new Promise((resolve, reject) => {
    const outgoing = http.request({ ...requestOptions, method, headers }, (incoming) => {
      const parts: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => parts.push(chunk));
      incoming.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body: text === '' ? undefined : JSON.parse(text) });
      });
    });
    outgoing.on('error', reject);
    outgoing.end(payload);
  });
}

function urlParts(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port) };
}

/** Registers a node directly in the tailnet, as a completed register request would. */
function registerNode(coordinator: TestCoordinator, userId: number, hostname: string): Node {
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

let coordinator: TestCoordinator;
let socket: { socketPath: string };
let publicUrl: { url: string };

beforeAll(async () => {
  coordinator = await startTestCoordinator();
  socket = { socketPath: coordinator.adminSocketPath };
  publicUrl = { url: coordinator.serverUrl };
});
afterAll(async () => {
  await coordinator?.stop();
});

describe('admin socket', () => {
  it('is a socket file readable only by its owner', () => {
    const stat = fs.statSync(coordinator.adminSocketPath);
    expect(stat.isSocket()).toBe(true);
    expect(stat.mode & 0o777).toBe(0o600);
    expect(coordinator.adminSocketPath).toBe(path.join(coordinator.dataDir, 'admin.sock'));
  });

  it('serves the API without an API key', async () => {
    const response = await request(socket, 'GET', '/api/v1/users');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ users: expect.any(Array) });
  });

  it('answers unknown routes with a JSON 404', async () => {
    const response = await request(socket, 'GET', '/api/v1/nothing-here');
    expect(response.status).toBe(404);
    expect(response.body.error).toContain('/api/v1/nothing-here');
  });
});

describe('users API', () => {
  it('creates, lists, renames and deletes a user', async () => {
    const created = await request(socket, 'POST', '/api/v1/users', { body: { name: 'alice', displayName: 'Alice A.', email: 'alice@example.com' } });
    expect(created.status).toBe(201);
    expect(created.body.user).toMatchObject({ name: 'alice', displayName: 'Alice A.', email: 'alice@example.com', providerId: null });
    const id = created.body.user.id as number;

    const listed = await request(socket, 'GET', '/api/v1/users');
    expect(listed.body.users.map((user: { name: string }) => user.name)).toContain('alice');

    const renamed = await request(socket, 'POST', `/api/v1/users/${id}/rename`, { body: { name: 'alice2' } });
    expect(renamed.status).toBe(200);
    expect(renamed.body.user.name).toBe('alice2');
    expect(coordinator.tailnet.users.get(id)?.name).toBe('alice2');

    const deleted = await request(socket, 'DELETE', '/api/v1/users/alice2');
    expect(deleted.status).toBe(200);
    expect(deleted.body.user.id).toBe(id);
    expect(coordinator.tailnet.users.has(id)).toBe(false);
  });

  it('rejects a duplicate user name with 409', async () => {
    await request(socket, 'POST', '/api/v1/users', { body: { name: 'dup' } });
    const again = await request(socket, 'POST', '/api/v1/users', { body: { name: 'dup' } });
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('user "dup" already exists');
  });

  it('rejects an invalid user name with 400 naming it', async () => {
    const response = await request(socket, 'POST', '/api/v1/users', { body: { name: 'bad name!' } });
    expect(response.status).toBe(400);
    expect(response.body.error).toContain('"bad name!"');
  });

  it('rejects a body without the name with 400', async () => {
    const response = await request(socket, 'POST', '/api/v1/users', { body: { displayName: 'Nobody' } });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatch(/^invalid request: .*name/);
  });

  it('returns 404 naming an unknown user', async () => {
    const response = await request(socket, 'DELETE', '/api/v1/users/nobody');
    expect(response.status).toBe(404);
    expect(response.body.error).toBe('user "nobody" not found');
  });

  it('keeps a user who still owns nodes', async () => {
    const owner = coordinator.tailnet.createUser({ name: 'owner' });
    const node = registerNode(coordinator, owner.id, 'owned-laptop');

    const response = await request(socket, 'DELETE', '/api/v1/users/owner');
    expect(response.status).toBe(409);
    expect(response.body.error).toContain('"owner" still owns 1 node(s)');
    expect(coordinator.tailnet.users.has(owner.id)).toBe(true);
    expect(coordinator.tailnet.nodes.has(node.id)).toBe(true);
  });
});

describe('pre-auth keys API', () => {
  it('creates a key whose full text appears only in the create response', async () => {
    coordinator.tailnet.createUser({ name: 'keyuser' });
    const created = await request(socket, 'POST', '/api/v1/preauthkeys', {
      body: { user: 'keyuser', reusable: true, ephemeral: false, expiration: '2h', tags: ['tag:server'] },
    });
    expect(created.status).toBe(201);
    const text = created.body.key as string;
    expect(text).toMatch(/^wkey-auth-[0-9a-f]{12}-[0-9a-f]{48}$/);
    expect(created.body.preAuthKey).toMatchObject({ user: 'keyuser', reusable: true, ephemeral: false, tags: ['tag:server'], expired: false });
    expect(text).toContain(created.body.preAuthKey.prefix);
    const expiresIn = Date.parse(created.body.preAuthKey.expiresAt) - Date.now();
    expect(expiresIn).toBeGreaterThan(119 * 60_000);
    expect(expiresIn).toBeLessThanOrEqual(120 * 60_000);

    const listed = await request(socket, 'GET', '/api/v1/preauthkeys?user=keyuser');
    expect(listed.status).toBe(200);
    expect(listed.body.preAuthKeys).toHaveLength(1);
    expect(JSON.stringify(listed.body)).not.toContain(text.slice(-48));
    expect(listed.body.preAuthKeys[0]).not.toHaveProperty('secretHash');

    await coordinator.waitForLog((line) => line.msg === 'API request' && line.url === '/api/v1/preauthkeys');
    expect(JSON.stringify(coordinator.logs)).not.toContain(text.slice(-48));
  });

  it('accepts an RFC 3339 expiration', async () => {
    const year = new Date().getUTCFullYear() + 2;
    const response = await request(socket, 'POST', '/api/v1/preauthkeys', { body: { user: 'keyuser', expiration: `${year}-01-02T03:04:05Z` } });
    expect(response.status).toBe(201);
    expect(response.body.preAuthKey.expiresAt).toBe(`${year}-01-02T03:04:05.000Z`);
  });

  it('defaults to a one-hour single-use key', async () => {
    const response = await request(socket, 'POST', '/api/v1/preauthkeys', { body: { user: 'keyuser' } });
    expect(response.status).toBe(201);
    expect(response.body.preAuthKey).toMatchObject({ reusable: false, ephemeral: false, tags: [] });
    const expiresIn = Date.parse(response.body.preAuthKey.expiresAt) - Date.now();
    expect(expiresIn).toBeGreaterThan(59 * 60_000);
    expect(expiresIn).toBeLessThanOrEqual(60 * 60_000);
  });

  it.each([
    ['a bad duration', { user: 'keyuser', expiration: '5 weeks' }, 400, 'invalid expiration "5 weeks"'],
    ['a time in the past', { user: 'keyuser', expiration: '2001-01-01T00:00:00Z' }, 400, 'is in the past'],
    ['a duration beyond the maximum', { user: 'keyuser', expiration: '99999999999d' }, 400, 'invalid expiration "99999999999d": the maximum is 3650d'],
    ['a bad tag', { user: 'keyuser', tags: ['server'] }, 400, 'invalid tag "server"'],
    ['an unknown user', { user: 'ghost' }, 404, 'user "ghost" not found'],
    ['a misspelt field', { user: 'keyuser', reuseable: true }, 400, 'invalid request: body has unknown field "reuseable"'],
  ])('rejects %s', async (_case, body, status, message) => {
    const before = coordinator.tailnet.preAuthKeys.size;
    const response = await request(socket, 'POST', '/api/v1/preauthkeys', { body });
    expect(response.status).toBe(status);
    expect(response.body.error).toContain(message);
    expect(coordinator.tailnet.preAuthKeys.size).toBe(before);
  });

  it('expires and deletes a key by prefix', async () => {
    const created = await request(socket, 'POST', '/api/v1/preauthkeys', { body: { user: 'keyuser' } });
    const prefix = created.body.preAuthKey.prefix as string;

    const expired = await request(socket, 'POST', `/api/v1/preauthkeys/${prefix}/expire`);
    expect(expired.status).toBe(200);
    expect(expired.body.preAuthKey.expired).toBe(true);
    expect(expired.body.preAuthKey.revokedAt).not.toBeNull();
    expect(() => coordinator.tailnet.checkPreAuthKey(created.body.key)).toThrow(/expired by an administrator/);

    const deleted = await request(socket, 'DELETE', `/api/v1/preauthkeys/${prefix}`);
    expect(deleted.status).toBe(200);
    const missing = await request(socket, 'DELETE', `/api/v1/preauthkeys/${prefix}`);
    expect(missing.status).toBe(404);
    expect(missing.body.error).toBe(`pre-auth key "${prefix}" not found`);
  });

  it('returns 404 for a list filtered by an unknown user', async () => {
    const response = await request(socket, 'GET', '/api/v1/preauthkeys?user=ghost');
    expect(response.status).toBe(404);
    expect(response.body.error).toBe('user "ghost" not found');
  });
});

describe('nodes API', () => {
  let node: Node;

  beforeAll(() => {
    const user = coordinator.tailnet.createUser({ name: 'nodeuser' });
    node = registerNode(coordinator, user.id, 'Work Laptop');
  });

  it('lists and shows nodes with their addresses and keys', async () => {
    const listed = await request(socket, 'GET', '/api/v1/nodes?user=nodeuser');
    expect(listed.status).toBe(200);
    expect(listed.body.nodes).toHaveLength(1);
    const shown = listed.body.nodes[0];
    expect(shown).toMatchObject({
      id: node.id,
      stableId: node.stableId,
      name: 'work-laptop',
      hostname: 'Work Laptop',
      user: 'nodeuser',
      ipAddresses: [node.ipv4, node.ipv6],
      machineKey: node.machineKey.toString(),
      nodeKey: node.nodeKey.toString(),
      online: false,
      lastSeen: null,
      expired: false,
      ephemeral: false,
      tags: [],
    });

    const byName = await request(socket, 'GET', '/api/v1/nodes/work-laptop');
    expect(byName.status).toBe(200);
    expect(byName.body.node).toEqual(shown);
  });

  it('renames a node and rejects an invalid name', async () => {
    const renamed = await request(socket, 'POST', `/api/v1/nodes/${node.id}/rename`, { body: { name: 'desk' } });
    expect(renamed.status).toBe(200);
    expect(renamed.body.node.name).toBe('desk');

    const invalid = await request(socket, 'POST', `/api/v1/nodes/${node.id}/rename`, { body: { name: 'Not A Label' } });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error).toContain('"Not A Label"');
    expect(coordinator.tailnet.nodes.get(node.id)?.givenName).toBe('desk');
  });

  it('expires a node', async () => {
    const response = await request(socket, 'POST', '/api/v1/nodes/desk/expire');
    expect(response.status).toBe(200);
    expect(response.body.node.expired).toBe(true);
    expect(coordinator.tailnet.isNodeKeyAuthorized(node.nodeKey)).toBe(false);
  });

  it('deletes a node and then reports it missing', async () => {
    const response = await request(socket, 'DELETE', `/api/v1/nodes/${node.id}`);
    expect(response.status).toBe(200);
    expect(response.body.node.id).toBe(node.id);
    expect(coordinator.tailnet.nodes.has(node.id)).toBe(false);

    const missing = await request(socket, 'GET', `/api/v1/nodes/${node.id}`);
    expect(missing.status).toBe(404);
    expect(missing.body.error).toBe(`node "${node.id}" not found`);
  });

  it('approves a pending interactive login', async () => {
    const fake = new FakeNode(coordinator.serverUrl, coordinator.noisePublicKey, 'pending-box');
    try {
      const first = await fake.register();
      const authUrl = first.body.AuthURL ?? '';
      expect(authUrl).toMatch(/\/register\/[0-9a-f]+$/);

      const pending = await request(socket, 'GET', '/api/v1/nodes/pending');
      expect(pending.status).toBe(200);
      const login = pending.body.pending.find((entry: { hostname: string }) => entry.hostname === 'pending-box');
      expect(login).toMatchObject({ machineKey: MachinePublic.fromBytes(fake.machineKey.publicKey).toString(), nodeKey: fake.nodeKey.toString() });
      expect(authUrl.endsWith(`/${login.id}`)).toBe(true);

      const followup = fake.register({ Followup: authUrl });
      const approved = await request(socket, 'POST', `/api/v1/nodes/pending/${login.id}/approve`, { body: { user: 'nodeuser' } });
      expect(approved.status).toBe(200);
      expect(approved.body.user.name).toBe('nodeuser');

      const answer = await followup;
      expect(answer.status).toBe(200);
      expect(answer.body.MachineAuthorized).toBe(true);
      const nodes = await request(socket, 'GET', '/api/v1/nodes?user=nodeuser');
      expect(nodes.body.nodes.map((entry: { hostname: string }) => entry.hostname)).toContain('pending-box');
    } finally {
      fake.close();
    }
  });

  it('returns 404 for an unknown pending login', async () => {
    const response = await request(socket, 'POST', '/api/v1/nodes/pending/0123abcd/approve', { body: { user: 'nodeuser' } });
    expect(response.status).toBe(404);
    expect(response.body.error).toBe('pending login "0123abcd" not found');
  });
});

describe('join tokens API on the admin socket', () => {
  beforeAll(async () => {
    const created = await request(socket, 'POST', '/api/v1/users', { body: { name: 'tokenuser' } });
    expect(created.status).toBe(201);
  });

  it('manages tokens without an API key', async () => {
    const created = await request(socket, 'POST', '/api/v1/join-tokens', { body: { user: 'tokenuser', uses: 2, tags: ['tag:ci'] } });
    expect(created.status).toBe(201);
    expect(created.body.token).toMatch(/^wjoin-[0-9a-f]{12}-[0-9a-f]{48}$/);
    expect(created.body.joinToken).toMatchObject({ user: 'tokenuser', uses: 2, useCount: 0, ephemeral: false, tags: ['tag:ci'], state: 'active' });
    const lifetime = Date.parse(created.body.joinToken.expiresAt) - Date.now();
    expect(lifetime).toBeGreaterThan(23 * 3_600_000);
    expect(lifetime).toBeLessThanOrEqual(24 * 3_600_000);

    const listed = await request(socket, 'GET', '/api/v1/join-tokens?user=tokenuser');
    expect(listed.status).toBe(200);
    expect(listed.body.joinTokens).toEqual([created.body.joinToken]);
    expect(JSON.stringify(listed.body)).not.toContain(created.body.token.slice(-48));

    const revoked = await request(socket, 'DELETE', `/api/v1/join-tokens/${created.body.joinToken.prefix}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.joinToken.state).toBe('revoked');
    expect(revoked.body.joinToken.revokedAt).not.toBeNull();

    const audit = await coordinator.waitForLog((entry) => entry.msg === 'API request' && entry.method === 'POST' && entry.url === '/api/v1/join-tokens');
    expect(audit).toMatchObject({ statusCode: 201, caller: 'admin socket' });
  });

  it('requires the user on create', async () => {
    const response = await request(socket, 'POST', '/api/v1/join-tokens', { body: {} });
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ error: 'a request on the admin socket must name the user the token is for in "user"' });
  });

  it('sends errors in the admin API format', async () => {
    const unknownToken = await request(socket, 'DELETE', '/api/v1/join-tokens/0123456789ab');
    expect(unknownToken.status).toBe(404);
    expect(unknownToken.body).toEqual({ error: 'join token "0123456789ab" not found' });

    const unknownUser = await request(socket, 'GET', '/api/v1/join-tokens?user=ghost');
    expect(unknownUser.status).toBe(404);
    expect(unknownUser.body).toEqual({ error: 'user "ghost" not found' });

    const badUses = await request(socket, 'POST', '/api/v1/join-tokens', { body: { user: 'tokenuser', uses: 0 } });
    expect(badUses.status).toBe(400);
    expect(badUses.body).toEqual({ error: 'invalid request: body/uses must be >= 1' });
  });

  it('does not serve the worker exchange', async () => {
    const created = await request(socket, 'POST', '/api/v1/join-tokens', { body: { user: 'tokenuser' } });
    const response = await request(socket, 'POST', '/api/v1/join', { body: { token: created.body.token } });
    expect(response.status).toBe(404);
    expect(response.body.error).toBe('no API route POST /api/v1/join');

    const listed = await request(socket, 'GET', '/api/v1/join-tokens?user=tokenuser');
    const entry = listed.body.joinTokens.find((token: { id: number }) => token.id === created.body.joinToken.id);
    expect(entry).toMatchObject({ useCount: 0, state: 'active' });
  });
});

describe('public port', () => {
  let apiKey: string;

  beforeAll(async () => {
    const created = await request(socket, 'POST', '/api/v1/apikeys', { body: { expiration: '1d' } });
    expect(created.status).toBe(201);
    apiKey = created.body.key;
  });

  it('rejects a request without Authorization with a JSON 401', async () => {
    const response = await request(publicUrl, 'GET', '/api/v1/users');
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(response.body.error).toContain('missing Authorization: Bearer header');
  });

  it('rejects an unknown key and logs it without the secret', async () => {
    const wrong = `wapi-${apiKey.slice(5, 17)}-${'0'.repeat(48)}`;
    const response = await request(publicUrl, 'GET', '/api/v1/users', { headers: { authorization: `Bearer ${wrong}` } });
    expect(response.status).toBe(401);
    expect(response.body.error).toContain('unknown API key');

    const line = await coordinator.waitForLog((entry) => entry.msg === 'API authentication failed' && entry.reason === 'unknown API key');
    expect(line.prefix).toBe(apiKey.slice(5, 17));
    expect(JSON.stringify(coordinator.logs)).not.toContain('0'.repeat(48));
    expect(JSON.stringify(coordinator.logs)).not.toContain(apiKey.slice(-48));
  });

  it('rejects text that is not an API key', async () => {
    const response = await request(publicUrl, 'DELETE', '/api/v1/users/dup', { headers: { authorization: 'Bearer hunter2' } });
    expect(response.status).toBe(401);
    expect(coordinator.tailnet.findUserByName('dup')).toBeDefined();
    expect(JSON.stringify(coordinator.logs)).not.toContain('hunter2');
  });

  it('serves every route with a valid key', async () => {
    const headers = { authorization: `Bearer ${apiKey}` };
    const created = await request(publicUrl, 'POST', '/api/v1/users', { body: { name: 'remote' }, headers });
    expect(created.status).toBe(201);
    const listed = await request(publicUrl, 'GET', '/api/v1/nodes', { headers });
    expect(listed.status).toBe(200);
    const audit = await coordinator.waitForLog((entry) => entry.msg === 'API request' && entry.url === '/api/v1/users' && entry.statusCode === 201 && entry.caller !== 'admin socket');
    expect(audit.caller).toBe(`api key ${apiKey.slice(5, 17)}`);
  });

  it('lists API keys without their secrets and stops accepting an expired key', async () => {
    const listed = await request(socket, 'GET', '/api/v1/apikeys');
    expect(listed.status).toBe(200);
    const prefix = apiKey.slice(5, 17);
    const entry = listed.body.apiKeys.find((key: { prefix: string }) => key.prefix === prefix);
    expect(entry).toMatchObject({ expired: false, revokedAt: null });
    expect(entry.lastUsedAt).not.toBeNull();
    expect(JSON.stringify(listed.body)).not.toContain(apiKey.slice(-48));

    const extra = await request(socket, 'POST', '/api/v1/apikeys', { body: {} });
    const extraKey = extra.body.key as string;
    const expired = await request(socket, 'POST', `/api/v1/apikeys/${extra.body.apiKey.prefix}/expire`);
    expect(expired.status).toBe(200);
    expect(expired.body.apiKey.expired).toBe(true);

    const response = await request(publicUrl, 'GET', '/api/v1/users', { headers: { authorization: `Bearer ${extraKey}` } });
    expect(response.status).toBe(401);
    expect(response.body.error).toContain('expired by an administrator');
  });

  it('rejects a bad API key expiration naming the value', async () => {
    const response = await request(socket, 'POST', '/api/v1/apikeys', { body: { expiration: 'soon' } });
    expect(response.status).toBe(400);
    expect(response.body.error).toContain('invalid expiration "soon"');
  });

  it('rejects an API key expiration beyond the maximum', async () => {
    const response = await request(socket, 'POST', '/api/v1/apikeys', { body: { expiration: '9999999999999999h' } });
    expect(response.status).toBe(400);
    expect(response.body.error).toBe('invalid expiration "9999999999999999h": the maximum is 3650d (10 years) from now');
  });

  it('leaves the other public routes open', async () => {
    const response = await request(publicUrl, 'GET', '/health');
    expect(response.status).toBe(200);
  });
});

describe('admin socket start-up', () => {
  it('replaces a stale socket file', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wonder-stale-'));
    // A server that closes after its socket file was renamed leaves that file behind, unserved.
    const server = net.createServer();
    const temporary = path.join(dataDir, 'tmp.sock');
    await new Promise<void>((resolve) => server.listen(temporary, resolve));
    fs.renameSync(temporary, path.join(dataDir, 'admin.sock'));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    expect(fs.statSync(path.join(dataDir, 'admin.sock')).isSocket()).toBe(true);

    const restarted = await startTestCoordinator({ dataDir });
    try {
      const response = await request({ socketPath: restarted.adminSocketPath }, 'GET', '/api/v1/users');
      expect(response.status).toBe(200);
      expect(restarted.logs.some((line) => line.msg === 'removed a stale admin socket')).toBe(true);
    } finally {
      await restarted.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses to start while another process serves the socket', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wonder-busy-'));
    const server = net.createServer((connection) => connection.destroy());
    await new Promise<void>((resolve) => server.listen(path.join(dataDir, 'admin.sock'), resolve));
    try {
      await expect(startTestCoordinator({ dataDir })).rejects.toThrow(/another process is serving the admin socket .*admin\.sock/);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses to replace a file that is not a socket', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wonder-file-'));
    fs.writeFileSync(path.join(dataDir, 'admin.sock'), 'not a socket');
    try {
      await expect(startTestCoordinator({ dataDir })).rejects.toThrow(/admin\.sock exists and is not a socket/);
      expect(fs.readFileSync(path.join(dataDir, 'admin.sock'), 'utf8')).toBe('not a socket');
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
