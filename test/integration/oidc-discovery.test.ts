/**
 * Start-up checks of the OIDC provider: an issuer that differs from the configured one stops
 * the coordinator with both named, and oidc.discovery_url lets the coordinator reach a provider
 * by another address than browsers use while the issuer check stays strict.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ConfigError } from '../../src/config/config.js';
import { TestBrowser } from '../helpers/browser.js';
import { startTestCoordinator } from '../helpers/coordinator.js';
import { type TestProvider, startTestProvider } from '../helpers/oidc-provider.js';
import { freePort, signIn } from '../helpers/sign-in.js';

const ACCOUNT = { sub: 'erin-sub', email: 'erin@example.com', email_verified: true, preferred_username: 'erin' };

describe('issuer check', () => {
  let provider: TestProvider;
  beforeAll(async () => {
    provider = await startTestProvider({ redirectUris: ['http://127.0.0.1:1/oidc/callback'], accounts: [ACCOUNT] });
  });
  afterAll(async () => {
    await provider?.close();
  });

  function startWithIssuer(issuer: string) {
    return startTestCoordinator({ overrides: { 'oidc.issuer': issuer, 'oidc.client_id': 'wonder', 'oidc.client_secret': provider.clientSecret } });
  }

  it('names both issuers when the host differs', async () => {
    const configured = provider.issuer.replace('127.0.0.1', 'localhost');
    const started = startWithIssuer(configured);
    await expect(started).rejects.toThrow(ConfigError);
    await expect(started).rejects.toThrow(`oidc.issuer is "${configured}", but the discovery document at ${configured}/.well-known/openid-configuration states issuer "${provider.issuer}"`);
    await expect(started).rejects.toThrow('KC_HOSTNAME');
  });

  it('rejects an issuer that differs by a trailing slash', async () => {
    const started = startWithIssuer(`${provider.issuer}/`);
    await expect(started).rejects.toThrow(`oidc.issuer is "${provider.issuer}/"`);
    await expect(started).rejects.toThrow('differ only in a trailing slash');
  });

  it('reports an unreachable provider', async () => {
    const port = await freePort();
    const started = startWithIssuer(`http://127.0.0.1:${port}`);
    await expect(started).rejects.toThrow(`OIDC discovery at http://127.0.0.1:${port}/.well-known/openid-configuration failed`);
    await expect(started).rejects.toThrow('ECONNREFUSED');
  });

  it('reports an unreadable client secret file', async () => {
    const missing = path.join(os.tmpdir(), 'wonder-no-such-secret-file');
    const started = startTestCoordinator({ overrides: { 'oidc.issuer': provider.issuer, 'oidc.client_id': 'wonder', 'oidc.client_secret_path': missing } });
    await expect(started).rejects.toThrow(`cannot read oidc.client_secret_path ${missing}: ENOENT`);
  });
});

describe('discovery_url', () => {
  it('reaches the provider by its internal address', async () => {
    const port = await freePort();
    // Browsers know the provider as provider.invalid, a name the coordinator cannot resolve.
    const provider = await startTestProvider({
      issuer: 'http://provider.invalid:{port}',
      redirectUris: [`http://127.0.0.1:${port}/oidc/callback`],
      accounts: [ACCOUNT],
    });
    const secretDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wonder-secret-'));
    const secretFile = path.join(secretDir, 'client-secret');
    fs.writeFileSync(secretFile, `${provider.clientSecret}\n`, { mode: 0o600 });
    const coordinator = await startTestCoordinator({
      overrides: {
        listen_addr: `127.0.0.1:${port}`,
        'oidc.issuer': provider.issuer,
        'oidc.discovery_url': `http://127.0.0.1:${provider.port}/.well-known/openid-configuration`,
        'oidc.client_id': provider.clientId,
        'oidc.client_secret_path': secretFile,
      },
    });
    try {
      const browser = new TestBrowser({ 'provider.invalid': '127.0.0.1' });
      const page = await signIn(browser, coordinator.serverUrl);

      expect(page.status).toBe(200);
      expect(page.body).toContain('Signed in as');
      const user = [...coordinator.tailnet.users.values()].find((candidate) => candidate.name === 'erin');
      expect(user?.providerId).toBe(`http://provider.invalid:${provider.port} erin-sub`);
      expect(JSON.stringify(coordinator.logs)).not.toContain(provider.clientSecret);
    } finally {
      await coordinator.stop();
      await provider.close();
      fs.rmSync(secretDir, { recursive: true, force: true });
    }
  });
});
