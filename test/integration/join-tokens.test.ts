/**
 * Join tokens through the API: created by a signed-in user or an administrator, listed and
 * revoked by their owner, and traded at POST /api/v1/join for single-use pre-auth keys that
 * register real (fake-node) machines. Each failed join names its cause and changes nothing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { TestBrowser } from '../helpers/browser.js';
import { type TestCoordinator, startTestCoordinator } from '../helpers/coordinator.js';
import { FakeNode } from '../helpers/fake-node.js';
import { type TestProvider, startTestProvider } from '../helpers/oidc-provider.js';
import { csrfFrom, freePort, requestJson, signIn, storedCounts } from '../helpers/sign-in.js';

let provider: TestProvider;
let coordinator: TestCoordinator;
let serverUrl: string;
let aliceBearer: string;
let bobBearer: string;
let apiKey: string;
/** Each test joins from its own loopback address, so the per-address limit of failed joins stays out of the other tests. */
let nextAddress = 2;
function freshAddress(): string {
  nextAddress += 1;
  return `127.0.0.${nextAddress}`;
}

/** Signs `account` in and returns a bearer session token from the account page. */
async function bearerFor(account: string): Promise<string> {
  provider.nextAccount = account;
  const browser = new TestBrowser();
  const page = await signIn(browser, serverUrl);
  const shown = await browser.request(`${serverUrl}/account/tokens`, { form: { csrf: csrfFrom(page) } });
  return /<pre>(wsess-[0-9a-f-]+)<\/pre>/.exec(shown.body)![1]!;
}

function asUser(bearer: string) {
  return { headers: { authorization: `Bearer ${bearer}` } };
}

function createToken(bearer: string, body: Record<string, unknown>) {
  return requestJson({ url: serverUrl }, 'POST', '/api/v1/join-tokens', { ...asUser(bearer), body });
}

function join(token: string, address: string, hostname?: string) {
  return requestJson({ url: serverUrl, localAddress: address }, 'POST', '/api/v1/join', { body: hostname === undefined ? { token } : { token, hostname } });
}

beforeAll(async () => {
  const port = await freePort();
  provider = await startTestProvider({
    redirectUris: [`http://127.0.0.1:${port}/oidc/callback`],
    accounts: [
      { sub: 'alice-sub', email: 'alice@example.com', email_verified: true, preferred_username: 'alice' },
      { sub: 'bob-sub', email: 'bob@example.com', email_verified: true, preferred_username: 'bob' },
    ],
  });
  coordinator = await startTestCoordinator({
    overrides: {
      listen_addr: `127.0.0.1:${port}`,
      'oidc.issuer': provider.issuer,
      'oidc.client_id': provider.clientId,
      'oidc.client_secret': provider.clientSecret,
    },
  });
  serverUrl = coordinator.serverUrl;
  aliceBearer = await bearerFor('alice-sub');
  bobBearer = await bearerFor('bob-sub');
  const created = await requestJson({ socketPath: coordinator.adminSocketPath }, 'POST', '/api/v1/apikeys', { body: {} });
  apiKey = created.body.key;
}, 60_000);

afterAll(async () => {
  await coordinator?.stop();
  await provider?.close();
});

describe('join tokens', () => {
  it('are created, listed and exchanged', async () => {
    const created = await createToken(aliceBearer, { uses: 2, ephemeral: true, tags: ['tag:worker'], expiration: '1h' });
    expect(created.status).toBe(201);
    expect(created.body.token).toMatch(/^wjoin-[0-9a-f]{12}-[0-9a-f]{48}$/);
    expect(created.body.joinToken).toMatchObject({ user: 'alice', uses: 2, useCount: 0, ephemeral: true, tags: ['tag:worker'], state: 'active' });
    const token: string = created.body.token;
    const secret = token.slice(token.lastIndexOf('-') + 1);

    const listed = await requestJson({ url: serverUrl }, 'GET', '/api/v1/join-tokens', asUser(aliceBearer));
    expect(listed.body.joinTokens.map((entry: { id: number }) => entry.id)).toContain(created.body.joinToken.id);
    expect(JSON.stringify(listed.body)).not.toContain(secret);

    const address = freshAddress();
    const first = await join(token, address, 'worker-1');
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ loginServer: serverUrl, user: 'alice', ephemeral: true, tags: ['tag:worker'] });
    expect(first.body.authKey).toMatch(/^wkey-auth-[0-9a-f]{12}-[0-9a-f]{48}$/);
    const lifetime = Date.parse(first.body.expiresAt) - Date.now();
    expect(lifetime).toBeGreaterThan(4 * 60_000);
    expect(lifetime).toBeLessThanOrEqual(5 * 60_000);
    const key = coordinator.tailnet.checkPreAuthKey(first.body.authKey);
    expect(key).toMatchObject({ reusable: false, ephemeral: true, tags: ['tag:worker'] });
    expect(coordinator.tailnet.users.get(key.userId)?.name).toBe('alice');

    const second = await join(token, address, 'worker-2');
    expect(second.status).toBe(200);
    expect(second.body.authKey).not.toBe(first.body.authKey);

    const third = await join(token, address);
    expect(third.status).toBe(410);
    expect(third.body.reason).toBe('used-up');
    expect(third.body.error).toContain('all 2 of its uses were taken');

    const after = await requestJson({ url: serverUrl }, 'GET', '/api/v1/join-tokens', asUser(aliceBearer));
    const entry = after.body.joinTokens.find((candidate: { id: number }) => candidate.id === created.body.joinToken.id);
    expect(entry).toMatchObject({ useCount: 2, state: 'used-up' });
    expect(entry.lastUsedAt).not.toBeNull();
  });

  it('hand out keys that register one machine', async () => {
    const created = await createToken(aliceBearer, { tags: ['tag:worker'] });
    const joined = await join(created.body.token, freshAddress());
    const worker = new FakeNode(serverUrl, coordinator.noisePublicKey, 'worker-node');
    const copycat = new FakeNode(serverUrl, coordinator.noisePublicKey, 'copycat');
    try {
      const registered = await worker.register({ Auth: { AuthKey: joined.body.authKey } });
      expect(registered.body.MachineAuthorized).toBe(true);
      const node = coordinator.tailnet.findNodeByNodeKey(worker.nodeKey)!;
      expect(node.tags).toEqual(['tag:worker']);
      expect(coordinator.tailnet.users.get(node.userId)?.name).toBe('alice');

      const reused = await copycat.register({ Auth: { AuthKey: joined.body.authKey } });
      expect(reused.body.Error).toContain('was already used');
      expect(coordinator.tailnet.findNodeByNodeKey(copycat.nodeKey)).toBeUndefined();
    } finally {
      worker.close();
      copycat.close();
    }
  });

  it('single-use token works once concurrently', async () => {
    const created = await createToken(aliceBearer, { uses: 1 });
    const before = storedCounts(coordinator.dataDir);

    const results = await Promise.all(Array.from({ length: 20 }, () => join(created.body.token, freshAddress())));

    const statuses = results.map((result) => result.status).sort();
    expect(statuses.filter((status) => status === 200)).toHaveLength(1);
    expect(statuses.filter((status) => status === 410)).toHaveLength(19);
    expect(results.filter((result) => result.status === 410).every((result) => result.body.reason === 'used-up')).toBe(true);
    expect(storedCounts(coordinator.dataDir).preAuthKeys).toBe(before.preAuthKeys + 1);
  });
});

describe('failed joins', () => {
  it('report an unknown token', async () => {
    const before = storedCounts(coordinator.dataDir);
    const wellFormed = await join(`wjoin-${'a'.repeat(12)}-${'b'.repeat(48)}`, freshAddress());
    const garbage = await join('not-a-token', freshAddress());

    expect(wellFormed.status).toBe(401);
    expect(wellFormed.body.reason).toBe('unknown');
    expect(garbage.status).toBe(401);
    expect(garbage.body.reason).toBe('unknown');
    expect(storedCounts(coordinator.dataDir)).toEqual(before);
    await coordinator.waitForLog((line) => line.msg === 'join rejected' && line.reason === 'unknown');
  });

  it('reject a misspelt field naming it', async () => {
    const before = storedCounts(coordinator.dataDir);
    const response = await createToken(aliceBearer, { uses: 2, ephemeral: true, tag: ['tag:worker'] });

    expect(response.status).toBe(400);
    expect(response.body.error).toBe('invalid request: body has unknown field "tag"');
    expect(storedCounts(coordinator.dataDir)).toEqual(before);
  });

  it('report a revoked token', async () => {
    const created = await createToken(aliceBearer, { uses: 5 });
    const revoked = await requestJson({ url: serverUrl }, 'DELETE', `/api/v1/join-tokens/${created.body.joinToken.id}`, asUser(aliceBearer));
    expect(revoked.status).toBe(200);
    expect(revoked.body.joinToken.state).toBe('revoked');
    const before = storedCounts(coordinator.dataDir);

    const result = await join(created.body.token, freshAddress());

    expect(result.status).toBe(410);
    expect(result.body.reason).toBe('revoked');
    expect(result.body.error).toContain('was revoked at');
    expect(storedCounts(coordinator.dataDir)).toEqual(before);
  });

  it('report an expired token', async () => {
    const created = await createToken(aliceBearer, { expiration: new Date(Date.now() + 1000).toISOString() });
    expect(created.status).toBe(201);
    await sleep(1100);
    const before = storedCounts(coordinator.dataDir);

    const result = await join(created.body.token, freshAddress());

    expect(result.status).toBe(410);
    expect(result.body.reason).toBe('expired');
    expect(result.body.error).toContain('expired at');
    expect(storedCounts(coordinator.dataDir)).toEqual(before);
  });

  it('are rate limited per address', async () => {
    const limited = freshAddress();
    const other = freshAddress();
    const valid = await createToken(aliceBearer, { uses: 2 });
    for (let attempt = 0; attempt < 10; attempt += 1) {
      const result = await join('wrong-token', limited);
      expect(result.status).toBe(401);
    }

    const blocked = await join('wrong-token', limited);
    const blockedValid = await join(valid.body.token, limited);
    const elsewhere = await join(valid.body.token, other);

    expect(blocked.status).toBe(429);
    expect(blocked.body.reason).toBe('rate-limited');
    expect(blocked.headers['retry-after']).toBe('30');
    expect(blockedValid.status).toBe(429);
    expect(elsewhere.status).toBe(200);
    const listed = await requestJson({ url: serverUrl }, 'GET', '/api/v1/join-tokens', asUser(aliceBearer));
    expect(listed.body.joinTokens.find((entry: { id: number }) => entry.id === valid.body.joinToken.id).useCount).toBe(1);
  });
});

describe('token management', () => {
  it('keeps users to their own tokens', async () => {
    const bobs = await createToken(bobBearer, {});
    const alices = await createToken(aliceBearer, {});

    const aliceList = await requestJson({ url: serverUrl }, 'GET', '/api/v1/join-tokens', asUser(aliceBearer));
    const revokeOther = await requestJson({ url: serverUrl }, 'DELETE', `/api/v1/join-tokens/${bobs.body.joinToken.prefix}`, asUser(aliceBearer));
    const listOther = await requestJson({ url: serverUrl }, 'GET', '/api/v1/join-tokens?user=bob', asUser(aliceBearer));
    const createForOther = await createToken(aliceBearer, { user: 'bob' });

    expect(aliceList.body.joinTokens.every((entry: { user: string }) => entry.user === 'alice')).toBe(true);
    expect(aliceList.body.joinTokens.map((entry: { id: number }) => entry.id)).toContain(alices.body.joinToken.id);
    expect(revokeOther.status).toBe(404);
    expect(listOther.status).toBe(403);
    expect(createForOther.status).toBe(403);
    const bobList = await requestJson({ url: serverUrl }, 'GET', '/api/v1/join-tokens', asUser(bobBearer));
    expect(bobList.body.joinTokens.find((entry: { id: number }) => entry.id === bobs.body.joinToken.id).state).toBe('active');
  });

  it('lets an API key manage every token', async () => {
    const bobs = await createToken(bobBearer, {});

    const all = await requestJson({ url: serverUrl }, 'GET', '/api/v1/join-tokens', asUser(apiKey));
    const bobsOnly = await requestJson({ url: serverUrl }, 'GET', '/api/v1/join-tokens?user=bob', asUser(apiKey));
    const withoutUser = await createToken(apiKey, {});
    const forBob = await createToken(apiKey, { user: 'bob', uses: 3 });
    const revoked = await requestJson({ url: serverUrl }, 'DELETE', `/api/v1/join-tokens/${bobs.body.joinToken.id}`, asUser(apiKey));

    const users = new Set(all.body.joinTokens.map((entry: { user: string }) => entry.user));
    expect(users).toEqual(new Set(['alice', 'bob']));
    expect(bobsOnly.body.joinTokens.every((entry: { user: string }) => entry.user === 'bob')).toBe(true);
    expect(withoutUser.status).toBe(400);
    expect(withoutUser.body.error).toContain('must name the user');
    expect(forBob.status).toBe(201);
    expect(forBob.body.joinToken).toMatchObject({ user: 'bob', uses: 3 });
    expect(revoked.status).toBe(200);
    expect(revoked.body.joinToken.state).toBe('revoked');
  });

  it.each([
    [{ uses: 0 }, 'must be >= 1'],
    [{ tags: ['worker'] }, 'invalid tag "worker"'],
    [{ expiration: 'yesterday' }, 'invalid expiration "yesterday"'],
    [{ expiration: '2001-01-01T00:00:00Z' }, 'is in the past'],
    [{ expiration: '99999999999d' }, 'invalid expiration "99999999999d": the maximum is 3650d'],
  ])('rejects invalid request %j', async (body, message) => {
    const before = storedCounts(coordinator.dataDir);
    const result = await createToken(aliceBearer, body);
    expect(result.status).toBe(400);
    expect(result.body.error).toContain(message);
    expect(storedCounts(coordinator.dataDir)).toEqual(before);
  });

  it.each([
    ['no credentials', {}, 'not signed in'],
    ['a malformed header', { authorization: 'Basic abc' }, 'must be "Bearer <token>"'],
    ['an unknown session', { authorization: `Bearer wsess-${'0'.repeat(12)}-${'1'.repeat(48)}` }, 'unknown session'],
    ['an unknown API key', { authorization: `Bearer wapi-${'0'.repeat(12)}-${'1'.repeat(48)}` }, 'unknown API key'],
  ])('rejects %s', async (_name, headers, message) => {
    const result = await requestJson({ url: serverUrl }, 'GET', '/api/v1/join-tokens', { headers });
    expect(result.status).toBe(401);
    expect(result.body.reason).toBe('unauthenticated');
    expect(result.body.error).toContain(message);
  });
});

describe('without OIDC', () => {
  it('lets an administrator hand out join tokens', async () => {
    const plain = await startTestCoordinator();
    try {
      const socket = { socketPath: plain.adminSocketPath };
      await requestJson(socket, 'POST', '/api/v1/users', { body: { name: 'ci' } });
      const key = (await requestJson(socket, 'POST', '/api/v1/apikeys', { body: {} })).body.key as string;

      const login = await new TestBrowser().request(`${plain.serverUrl}/login`);
      const created = await requestJson({ url: plain.serverUrl }, 'POST', '/api/v1/join-tokens', { headers: { authorization: `Bearer ${key}` }, body: { user: 'ci' } });
      const joined = await requestJson({ url: plain.serverUrl }, 'POST', '/api/v1/join', { body: { token: created.body.token } });

      expect(login.status).toBe(404);
      expect(login.body).toContain('no oidc section');
      expect(created.status).toBe(201);
      expect(joined.status).toBe(200);
      expect(joined.body.user).toBe('ci');
    } finally {
      await plain.stop();
    }
  });
});
