/**
 * A real OpenID Connect provider for tests: oidc-provider 9 on a loopback port, with one
 * confidential client and a set of accounts. Its interaction pages are replaced by a handler
 * that signs in `nextAccount` and grants every requested scope, so a test drives the whole
 * authorization code flow with plain HTTP requests.
 *
 * oidc-provider 9 warns that Node 20 is unsupported and runs anyway.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import * as jose from 'jose';
import Provider from 'oidc-provider';

export interface TestAccount {
  sub: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
  preferred_username?: string;
  picture?: string;
  groups?: string[];
}

export interface TestProviderOptions {
  /** Issuer to announce; defaults to http://127.0.0.1:<port>. `{port}` is replaced by the bound port. */
  issuer?: string;
  clientId?: string;
  clientSecret?: string;
  redirectUris: string[];
  accounts: TestAccount[];
}

export interface TestProvider {
  issuer: string;
  port: number;
  clientId: string;
  clientSecret: string;
  /** The account the interaction handler signs in next. */
  nextAccount: string;
  /** When set, rewrites each ID token the token endpoint returns; the result is signed again with the provider's key. */
  tamperIdToken?: (claims: jose.JWTPayload) => jose.JWTPayload;
  close(): Promise<void>;
}

export async function startTestProvider(options: TestProviderOptions): Promise<TestProvider> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const issuer = (options.issuer ?? 'http://127.0.0.1:{port}').replace('{port}', String(port));
  const clientId = options.clientId ?? 'wonder';
  const clientSecret = options.clientSecret ?? 'test-client-secret-0123456789';
  const accounts = new Map(options.accounts.map((account) => [account.sub, account]));

  // The signing key is made here rather than by oidc-provider, so tamperIdToken can sign with it.
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const privateJwk = { ...(await jose.exportJWK(privateKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: options.redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    jwks: { keys: [privateJwk] },
    cookies: { keys: ['test-cookie-key-0123456789abcdef'] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username', 'picture'],
      groups: ['groups'],
    },
    // The coordinator must send PKCE with S256; the provider enforces it.
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    // Fixed lifetimes in seconds, so the provider does not print a notice for each default it uses.
    ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 3600, IdToken: 600, Interaction: 600, Session: 3600 },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: (_ctx, sub) => {
      const account = accounts.get(sub);
      if (account === undefined) return undefined;
      return { accountId: sub, claims: async () => ({ ...account }) };
    },
  });

  const testProvider: TestProvider = {
    issuer,
    port,
    clientId,
    clientSecret,
    nextAccount: options.accounts[0]!.sub,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  provider.use(async (ctx, next) => {
    await next();
    const tamper = testProvider.tamperIdToken;
    const body = ctx.body as { id_token?: string } | undefined;
    if (tamper === undefined || ctx.path !== '/token' || typeof body?.id_token !== 'string') return;
    const claims = tamper(jose.decodeJwt(body.id_token));
    body.id_token = await new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'test-key' }).sign(privateKey);
  });

  const callback = provider.callback();
  server.on('request', (request: http.IncomingMessage, response: http.ServerResponse) => {
    if (request.url?.startsWith('/interaction/')) {
      handleInteraction(provider, testProvider, request, response).catch((error: unknown) => {
        response.statusCode = 500;
        response.end(String(error));
      });
      return;
    }
    void callback(request, response);
  });
  return testProvider;
}

/** Signs in `nextAccount` at the login prompt and grants everything requested at the consent prompt. */
async function handleInteraction(provider: Provider, test: TestProvider, request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
  const details = await provider.interactionDetails(request, response);
  if (details.prompt.name === 'login') {
    await provider.interactionFinished(request, response, { login: { accountId: test.nextAccount } }, { mergeWithLastSubmission: false });
    return;
  }
  const accountId = details.session!.accountId;
  const grant = details.grantId === undefined ? new provider.Grant({ accountId, clientId: String(details.params.client_id) }) : (await provider.Grant.find(details.grantId))!;
  const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
  if (missing.missingOIDCScope !== undefined) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims !== undefined) grant.addOIDCClaims(missing.missingOIDCClaims);
  const grantId = await grant.save();
  await provider.interactionFinished(request, response, { consent: { grantId } }, { mergeWithLastSubmission: true });
}
