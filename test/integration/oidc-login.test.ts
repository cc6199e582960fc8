/**
 * Browser sign-in through a real OIDC provider (oidc-provider on loopback), sessions and the
 * interactive node login page. Each bad input of the sign-in flow must be rejected with a clear
 * page or JSON error, be logged without secrets, and change nothing stored.
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { TestBrowser } from '../helpers/browser.js';
import { type TestCoordinator, startTestCoordinator } from '../helpers/coordinator.js';
import { FakeNode } from '../helpers/fake-node.js';
import { type TestAccount, type TestProvider, startTestProvider } from '../helpers/oidc-provider.js';
import { csrfFrom, freePort, requestJson, signIn, storedCounts } from '../helpers/sign-in.js';

const ACCOUNTS: TestAccount[] = [
  { sub: 'alice-sub', email: 'alice@example.com', email_verified: true, name: 'Alice Liddell', preferred_username: 'alice', groups: ['/wonder-users'] },
  { sub: 'bob-sub', email: 'bob@elsewhere.test', email_verified: true, name: 'Bob', preferred_username: 'bob', groups: ['wonder-users'] },
  { sub: 'carol-sub', email: 'carol@example.com', email_verified: true, name: 'Carol', preferred_username: 'carol', groups: ['/other'] },
  { sub: 'dave-sub', email: 'dave@example.com', email_verified: false, name: 'Dave', preferred_username: 'dave', groups: ['wonder-users'] },
];

let provider: TestProvider;
let coordinator: TestCoordinator;
let serverUrl: string;
/** A coordinator with allowed_domains and allowed_groups set. */
let strict: TestCoordinator;
let strictUrl: string;
/** A coordinator whose sessions last one second. */
let shortLived: TestCoordinator;
let shortLivedUrl: string;
/** Every secret the tests saw; none may appear in a log line. */
const secrets = new Set<string>();

function oidcOverrides(port: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    listen_addr: `127.0.0.1:${port}`,
    'oidc.issuer': provider.issuer,
    'oidc.client_id': provider.clientId,
    'oidc.client_secret': provider.clientSecret,
    'oidc.scopes': 'openid,profile,email,groups',
    ...extra,
  };
}

beforeAll(async () => {
  const ports = [await freePort(), await freePort(), await freePort()];
  provider = await startTestProvider({ redirectUris: ports.map((port) => `http://127.0.0.1:${port}/oidc/callback`), accounts: ACCOUNTS });
  secrets.add(provider.clientSecret);
  coordinator = await startTestCoordinator({ overrides: oidcOverrides(ports[0]!) });
  serverUrl = coordinator.serverUrl;
  strict = await startTestCoordinator({
    overrides: oidcOverrides(ports[1]!, { 'oidc.allowed_domains': 'example.com', 'oidc.allowed_groups': 'wonder-users' }),
  });
  strictUrl = strict.serverUrl;
  shortLived = await startTestCoordinator({ overrides: oidcOverrides(ports[2]!, { 'auth.session_lifetime': '1s' }) });
  shortLivedUrl = shortLived.serverUrl;
}, 60_000);

afterAll(async () => {
  await coordinator?.stop();
  await strict?.stop();
  await shortLived?.stop();
  await provider?.close();
});

function rememberSessionSecret(browser: TestBrowser, url: string): void {
  const token = browser.cookie(url, 'wonder_session');
  if (token !== undefined) secrets.add(token);
}

describe('sign-in', () => {
  it('creates the user once and keeps its profile', async () => {
    provider.nextAccount = 'alice-sub';
    const first = new TestBrowser();
    const page = await signIn(first, serverUrl);
    rememberSessionSecret(first, serverUrl);

    expect(page.url).toBe(`${serverUrl}/account`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('Signed in as <strong>Alice Liddell</strong>');
    const users = [...coordinator.tailnet.users.values()].filter((user) => user.providerId === `${provider.issuer} alice-sub`);
    expect(users).toHaveLength(1);
    expect(users[0]).toMatchObject({ name: 'alice', displayName: 'Alice Liddell', email: 'alice@example.com' });

    const before = storedCounts(coordinator.dataDir);
    const second = new TestBrowser();
    await signIn(second, serverUrl);
    rememberSessionSecret(second, serverUrl);
    const after = storedCounts(coordinator.dataDir);
    expect(after.users).toBe(before.users);
    expect(after.sessions).toBe(before.sessions + 1);

    const session = await requestJson({ url: serverUrl }, 'GET', '/api/v1/session', { headers: { cookie: `wonder_session=${second.cookie(serverUrl, 'wonder_session')}` } });
    expect(session.status).toBe(200);
    expect(session.body).toMatchObject({ kind: 'browser', user: { name: 'alice', providerId: `${provider.issuer} alice-sub` } });
  });

  it('sets HttpOnly SameSite=Lax cookies', async () => {
    provider.nextAccount = 'alice-sub';
    const browser = new TestBrowser();
    const start = await browser.request(`${serverUrl}/login`);
    const flowCookie = start.headers.getSetCookie().find((line) => line.startsWith('wonder_signin_'));
    expect(flowCookie).toMatch(/; Path=\/oidc\/callback/);
    expect(flowCookie).toMatch(/; HttpOnly/);
    expect(flowCookie).toMatch(/; SameSite=Lax/);
    expect(flowCookie).not.toMatch(/; Secure/);
    // Signed by @fastify/cookie: the value carries a signature after a dot.
    expect(flowCookie).toMatch(/^wonder_signin_[^=]+=[^.;]+\.[^;]+;/);

    const done = await browser.follow(start.location!, { stopAt: (url) => url.startsWith(`${serverUrl}/account`) });
    rememberSessionSecret(browser, serverUrl);
    const sessionCookie = done.headers.getSetCookie().find((line) => line.startsWith('wonder_session='));
    expect(sessionCookie).toMatch(/; Max-Age=43200/);
    expect(sessionCookie).toMatch(/; Path=\//);
    expect(sessionCookie).toMatch(/; HttpOnly/);
    expect(sessionCookie).toMatch(/; SameSite=Lax/);
  });

  it('builds the redirect URI from server_url, not Host', async () => {
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const outgoing = http.request(`${serverUrl}/login`, { headers: { host: 'attacker.example:666' } }, resolve);
      outgoing.on('error', reject);
      outgoing.end();
    });
    response.resume();
    expect(response.statusCode).toBe(303);
    const target = new URL(response.headers.location!);
    expect(target.origin).toBe(provider.issuer);
    expect(target.searchParams.get('redirect_uri')).toBe(`${serverUrl}/oidc/callback`);
    expect(target.searchParams.get('code_challenge_method')).toBe('S256');
    expect(target.searchParams.get('scope')).toBe('openid profile email groups');
  });

  it('returns only to local paths', async () => {
    const browser = new TestBrowser();
    provider.nextAccount = 'alice-sub';
    const page = await signIn(browser, serverUrl, 'https://attacker.example/');
    rememberSessionSecret(browser, serverUrl);
    expect(page.url).toBe(`${serverUrl}/account`);
  });
});

describe('sign-in bad input', () => {
  it('rejects a forged state', async () => {
    const browser = new TestBrowser();
    await browser.request(`${serverUrl}/login`);
    const before = storedCounts(coordinator.dataDir);

    const page = await browser.request(`${serverUrl}/oidc/callback?code=made-up-code&state=forged-state-value-0123456789`);

    expect(page.status).toBe(400);
    expect(page.body).toContain('This sign-in was not started in this browser');
    expect(storedCounts(coordinator.dataDir)).toEqual(before);
    await coordinator.waitForLog((line) => line.msg === 'sign-in callback rejected' && line.reason === 'state-mismatch');
  });

  it('rejects a replayed callback', async () => {
    provider.nextAccount = 'alice-sub';
    const browser = new TestBrowser();
    const atCallback = await browser.follow(`${serverUrl}/login`, { stopAt: (url) => url.startsWith(`${serverUrl}/oidc/callback`) });
    const callbackUrl = atCallback.location!;
    const flowCookie = browser.cookies.find((cookie) => cookie.name.startsWith('wonder_signin_'))!;
    secrets.add(new URL(callbackUrl).searchParams.get('code')!);

    const first = await browser.request(callbackUrl);
    rememberSessionSecret(browser, serverUrl);
    expect(first.status).toBe(303);
    const before = storedCounts(coordinator.dataDir);

    // An attacker who copied both the callback URL and the state cookie replays them.
    browser.cookies.push({ ...flowCookie });
    const replay = await browser.request(callbackUrl);

    expect(replay.status).toBe(400);
    expect(replay.body).toContain('already used or has expired');
    expect(storedCounts(coordinator.dataDir)).toEqual(before);
    await coordinator.waitForLog((line) => line.msg === 'sign-in callback rejected' && line.reason === 'state-unknown');
  });

  it('rejects an ID token with the wrong nonce', async () => {
    provider.nextAccount = 'alice-sub';
    const browser = new TestBrowser();
    const atProvider = await browser.request(`${serverUrl}/login`);
    const tampered = new URL(atProvider.location!);
    tampered.searchParams.set('nonce', 'a-nonce-the-coordinator-never-made');
    const before = storedCounts(coordinator.dataDir);

    const page = await browser.follow(tampered.href);

    expect(page.url).toMatch(/\/oidc\/callback\?/);
    expect(page.status).toBe(401);
    expect(page.body).toContain('nonce differs');
    expect(storedCounts(coordinator.dataDir)).toEqual(before);
    await coordinator.waitForLog((line) => line.msg === 'sign-in callback rejected' && line.reason === 'nonce');
  });

  it('rejects an ID token for another audience', async () => {
    provider.nextAccount = 'alice-sub';
    provider.tamperIdToken = (claims) => ({ ...claims, aud: 'some-other-client' });
    try {
      const browser = new TestBrowser();
      const before = storedCounts(coordinator.dataDir);

      const page = await signIn(browser, serverUrl);

      expect(page.status).toBe(401);
      expect(page.body).toContain('issued for another client');
      expect(storedCounts(coordinator.dataDir)).toEqual(before);
      await coordinator.waitForLog((line) => line.msg === 'sign-in callback rejected' && line.reason === 'audience');
    } finally {
      delete provider.tamperIdToken;
    }
  });

  it('rejects an error from the provider', async () => {
    const browser = new TestBrowser();
    const atProvider = await browser.request(`${serverUrl}/login`);
    const state = new URL(atProvider.location!).searchParams.get('state')!;
    const before = storedCounts(coordinator.dataDir);

    const page = await browser.request(`${serverUrl}/oidc/callback?error=access_denied&error_description=user+cancelled&state=${state}&iss=${encodeURIComponent(provider.issuer)}`);

    expect(page.status).toBe(401);
    expect(page.body).toContain('rejected the sign-in (access_denied: user cancelled)');
    expect(storedCounts(coordinator.dataDir)).toEqual(before);
  });
});

describe('provider outage', () => {
  it('shows 502 when the code exchange cannot reach the provider', async () => {
    // A provider that answers discovery and then goes away before the callback.
    const port = await freePort();
    const flaky = await startTestProvider({ redirectUris: [`http://127.0.0.1:${port}/oidc/callback`], accounts: ACCOUNTS });
    const outage = await startTestCoordinator({
      overrides: { listen_addr: `127.0.0.1:${port}`, 'oidc.issuer': flaky.issuer, 'oidc.client_id': flaky.clientId, 'oidc.client_secret': flaky.clientSecret },
    });
    try {
      const browser = new TestBrowser();
      const atCallback = await browser.follow(`${outage.serverUrl}/login`, { stopAt: (url) => url.startsWith(`${outage.serverUrl}/oidc/callback`) });
      await flaky.close();
      const before = storedCounts(outage.dataDir);

      const page = await browser.request(atCallback.location!);

      expect(page.status).toBe(502);
      expect(page.body).toContain('the identity provider could not be reached');
      expect(storedCounts(outage.dataDir)).toEqual(before);
    } finally {
      await outage.stop();
      await flaky.close().catch(() => {});
    }
  });
});

describe('sign-in policy', () => {
  it('admits an allowed user with a full group path', async () => {
    provider.nextAccount = 'alice-sub';
    const browser = new TestBrowser();
    const page = await signIn(browser, strictUrl);
    rememberSessionSecret(browser, strictUrl);
    expect(page.status).toBe(200);
    expect(page.body).toContain('Signed in as');
  });

  it.each([
    ['bob-sub', 'email domain elsewhere.test is not allowed'],
    ['carol-sub', 'not a member of an allowed group'],
    ['dave-sub', 'is not verified by the provider'],
  ])('refuses %s', async (account, reason) => {
    provider.nextAccount = account;
    const browser = new TestBrowser();
    const before = storedCounts(strict.dataDir);

    const page = await signIn(browser, strictUrl);

    expect(page.status).toBe(403);
    expect(page.body).toContain(reason);
    expect(browser.cookie(strictUrl, 'wonder_session')).toBeUndefined();
    expect(storedCounts(strict.dataDir)).toEqual(before);
    await strict.waitForLog((line) => line.msg === 'sign-in rejected by the sign-in policy' && line.subject === account);
  });
});

describe('sessions', () => {
  it('rejects an expired session', async () => {
    provider.nextAccount = 'alice-sub';
    const browser = new TestBrowser();
    await signIn(browser, shortLivedUrl);
    const token = browser.cookie(shortLivedUrl, 'wonder_session')!;
    secrets.add(token);
    const signedIn = await requestJson({ url: shortLivedUrl }, 'GET', '/api/v1/session', { headers: { authorization: `Bearer ${token}` } });
    expect(signedIn.status).toBe(200);

    await sleep(1100);
    const before = storedCounts(shortLived.dataDir);
    const session = await requestJson({ url: shortLivedUrl }, 'GET', '/api/v1/session', { headers: { authorization: `Bearer ${token}` } });
    const create = await requestJson({ url: shortLivedUrl }, 'POST', '/api/v1/join-tokens', { headers: { cookie: `wonder_session=${token}` }, body: {} });

    expect(session.status).toBe(401);
    expect(session.body.reason).toBe('session-expired');
    expect(session.body.error).toMatch(/^session expired at .*; sign in again$/);
    expect(create.status).toBe(401);
    expect(create.body.reason).toBe('session-expired');
    expect(storedCounts(shortLived.dataDir)).toEqual(before);
  });

  it('shows a bearer token once and signs out', async () => {
    provider.nextAccount = 'alice-sub';
    const browser = new TestBrowser();
    const account = await signIn(browser, serverUrl);
    rememberSessionSecret(browser, serverUrl);

    const forged = await browser.request(`${serverUrl}/account/tokens`, { form: { csrf: 'not-the-token' } });
    expect(forged.status).toBe(403);

    const shown = await browser.request(`${serverUrl}/account/tokens`, { form: { csrf: csrfFrom(account) } });
    expect(shown.status).toBe(201);
    expect(shown.headers.get('cache-control')).toBe('no-store');
    const bearer = /<pre>(wsess-[0-9a-f]{12}-[0-9a-f]{48})<\/pre>/.exec(shown.body)![1]!;
    secrets.add(bearer);
    const session = await requestJson({ url: serverUrl }, 'GET', '/api/v1/session', { headers: { authorization: `Bearer ${bearer}` } });
    expect(session.body).toMatchObject({ kind: 'bearer', user: { name: 'alice' } });

    const signOut = await browser.request(`${serverUrl}/logout`, { form: { csrf: csrfFrom(account) } });
    expect(signOut.status).toBe(200);
    expect(browser.cookie(serverUrl, 'wonder_session')).toBeUndefined();
    const ended = await requestJson({ url: serverUrl }, 'DELETE', '/api/v1/session', { headers: { authorization: `Bearer ${bearer}` } });
    expect(ended.body).toEqual({ ended: true });
    const after = await requestJson({ url: serverUrl }, 'GET', '/api/v1/session', { headers: { authorization: `Bearer ${bearer}` } });
    expect(after.status).toBe(401);
    expect(after.body.reason).toBe('unauthenticated');
  });
});

describe('interactive node login', () => {
  it('binds the node to the signed-in user after confirmation', async () => {
    provider.nextAccount = 'alice-sub';
    const node = new FakeNode(serverUrl, coordinator.noisePublicKey, 'laptop-one');
    try {
      const started = await node.register();
      const authUrl = started.body.AuthURL!;
      expect(authUrl).toMatch(new RegExp(`^${serverUrl}/register/[0-9a-f]{24}$`));

      const browser = new TestBrowser();
      const notSignedIn = await browser.request(authUrl);
      expect(notSignedIn.status).toBe(303);
      expect(notSignedIn.location).toBe(`${serverUrl}/login?next=${encodeURIComponent(new URL(authUrl).pathname)}`);

      const confirm = await browser.follow(authUrl);
      rememberSessionSecret(browser, serverUrl);
      expect(confirm.url).toBe(authUrl);
      expect(confirm.body).toContain('Machine <strong>laptop-one</strong> (linux) is waiting to join.');
      expect(confirm.body).toContain(node.nodeKey.short());
      expect(confirm.body).toContain('as user <strong>alice</strong>');
      expect(coordinator.pendingLogins.find(authUrl)?.approvedUserId).toBeUndefined();

      const followup = node.register({ Followup: authUrl });
      const forged = await browser.request(authUrl, { form: { csrf: 'forged' } });
      expect(forged.status).toBe(403);
      expect(coordinator.pendingLogins.find(authUrl)?.approvedUserId).toBeUndefined();

      const approved = await browser.request(authUrl, { form: { csrf: csrfFrom(confirm) } });
      expect(approved.status).toBe(200);
      expect(approved.body).toContain('laptop-one joins the tailnet as <strong>alice</strong>');

      const response = await followup;
      expect(response.body.MachineAuthorized).toBe(true);
      expect(response.body.User?.LoginName).toBe('alice@example.com');
      const registered = coordinator.tailnet.findNodeByNodeKey(node.nodeKey)!;
      expect(coordinator.tailnet.users.get(registered.userId)?.name).toBe('alice');
    } finally {
      node.close();
    }
  });

  it('keeps administrator approval working', async () => {
    const node = new FakeNode(serverUrl, coordinator.noisePublicKey, 'laptop-two');
    try {
      const started = await node.register();
      const authUrl = started.body.AuthURL!;
      const login = coordinator.pendingLogins.find(authUrl)!;
      const followup = node.register({ Followup: authUrl });
      const admin = coordinator.tailnet.createUser({ name: 'approved-by-admin' });

      const approved = await requestJson({ socketPath: coordinator.adminSocketPath }, 'POST', `/api/v1/nodes/pending/${login.id}/approve`, { body: { user: admin.name } });

      expect(approved.status).toBe(200);
      expect((await followup).body.MachineAuthorized).toBe(true);
      expect(coordinator.tailnet.findNodeByNodeKey(node.nodeKey)?.userId).toBe(admin.id);
    } finally {
      node.close();
    }
  });

  it('shows an unknown login as not found', async () => {
    const page = await new TestBrowser().request(`${serverUrl}/register/${'0'.repeat(24)}`);
    expect(page.status).toBe(404);
    expect(page.body).toContain('unknown or expired');
  });
});

describe('logs', () => {
  it('never contain a secret', () => {
    const text = [coordinator, strict, shortLived].map((c) => JSON.stringify(c.logs)).join('\n');
    expect(secrets.size).toBeGreaterThan(5);
    for (const secret of secrets) expect(text).not.toContain(secret);
  });
});
