/**
 * The OpenID Connect relying party, on openid-client 6: provider discovery at start, the
 * authorization URL with PKCE, state and nonce, and the code exchange with ID token and
 * UserInfo at the callback.
 *
 * The issuer check is strict: `oidc.issuer` must equal the `issuer` of the provider's
 * discovery document character for character, and ID tokens must carry the same `iss`. When
 * the coordinator reaches the provider by another address than browsers do (a container
 * network, for example), `oidc.discovery_url` names that address. Discovery still starts from
 * the configured issuer, and a custom fetch sends every back-channel request (discovery, token,
 * JWKS, UserInfo) to the discovery URL's address instead, so every check compares against the
 * issuer that browsers use.
 */
import fs from 'node:fs';
import * as client from 'openid-client';

import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import { type Identity, identityFromClaims } from './identity.js';

export type OidcSettings = NonNullable<Config['oidc']>;

const DISCOVERY_SUFFIX = '/.well-known/openid-configuration';

/** The provider cannot be used with this configuration; the coordinator does not start. */
export class OidcSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OidcSetupError';
  }
}

/** A sign-in that failed at the provider or in a check; `message` is safe to show and log. */
export class OidcSignInError extends Error {
  constructor(
    message: string,
    /** A short machine-readable cause for logs and tests, such as `nonce` or `audience`. */
    readonly reason: string,
  ) {
    super(message);
    this.name = 'OidcSignInError';
  }
}

export interface AuthorizationChecks {
  state: string;
  nonce: string;
  codeVerifier: string;
}

export class OidcClient {
  private constructor(
    private readonly configuration: client.Configuration,
    private readonly settings: OidcSettings,
    private readonly log: Logger,
  ) {}

  /** The issuer identifier, as configured and as the provider states it. */
  get issuer(): string {
    return this.settings.issuer;
  }

  /**
   * Reads the client secret and fetches the provider's discovery document.
   * @throws {OidcSetupError} naming the setting to fix: an unreadable secret file, an unreachable
   *   provider, or an issuer that differs from the configured one (both are named).
   */
  static async discover(settings: OidcSettings, options: { log: Logger; timeoutSeconds?: number }): Promise<OidcClient> {
    const { log } = options;
    const secret = readClientSecret(settings);
    const issuerUrl = new URL(settings.issuer);
    const insecure = issuerUrl.protocol === 'http:' || (settings.discovery_url !== undefined && new URL(settings.discovery_url).protocol === 'http:');
    const rewrite = settings.discovery_url === undefined ? undefined : backChannelRewrite(settings.issuer, settings.discovery_url);
    const clientAuth = settings.client_auth_method === 'client_secret_post' ? client.ClientSecretPost(secret) : client.ClientSecretBasic(secret);
    const discoveryOptions: client.DiscoveryRequestOptions = {
      timeout: options.timeoutSeconds ?? 15,
      execute: insecure ? [client.allowInsecureRequests] : [],
    };
    if (rewrite !== undefined) {
      discoveryOptions[client.customFetch] = (url, init) => fetch(rewrite(url), init);
    }
    const documentUrl = settings.discovery_url ?? `${settings.issuer.replace(/\/$/, '')}${DISCOVERY_SUFFIX}`;

    let configuration: client.Configuration;
    try {
      configuration = await client.discovery(issuerUrl, settings.client_id, undefined, clientAuth, discoveryOptions);
    } catch (error) {
      throw setupError(error, settings, documentUrl);
    }

    // openid-client compares issuers as parsed URLs, which equates "https://idp" and "https://idp/".
    // ID tokens carry the issuer as text, so the configured text must match exactly.
    const stated = configuration.serverMetadata().issuer;
    if (stated !== settings.issuer) throw new OidcSetupError(issuerMismatchMessage(settings.issuer, stated, documentUrl));

    if (insecure) log.warn({ issuer: settings.issuer, discoveryUrl: settings.discovery_url }, 'the OIDC provider is reached over plain HTTP; use HTTPS outside test setups');
    if (!configuration.serverMetadata().supportsPKCE()) {
      log.warn({ issuer: settings.issuer }, 'the OIDC provider does not advertise PKCE with S256; the coordinator sends a code challenge anyway');
    }
    log.info({ issuer: settings.issuer, discoveryUrl: documentUrl, clientId: settings.client_id, scopes: settings.scopes }, 'OIDC provider discovered');
    return new OidcClient(configuration, settings, log);
  }

  /** Returns the provider URL that starts a sign-in; `redirectUri` must come from server_url. */
  async authorizationUrl(redirectUri: string, checks: AuthorizationChecks): Promise<URL> {
    const codeChallenge = await client.calculatePKCECodeChallenge(checks.codeVerifier);
    return client.buildAuthorizationUrl(this.configuration, {
      redirect_uri: redirectUri,
      scope: this.settings.scopes.join(' '),
      code_challenge: codeChallenge,
      code_challenge_method: 'S256',
      state: checks.state,
      nonce: checks.nonce,
    });
  }

  /**
   * Exchanges the authorization code in `callbackUrl` and returns the signed-in identity.
   * `callbackUrl` is `<server_url>/oidc/callback` with the query the browser brought, never
   * rebuilt from the request's Host header, because openid-client derives the redirect_uri of
   * the token request from it.
   * @throws {OidcSignInError} when the provider reports an error or a check fails (state, nonce,
   *   audience, issuer, signature, expiry).
   */
  async finishSignIn(callbackUrl: URL, checks: AuthorizationChecks): Promise<Identity> {
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(this.configuration, callbackUrl, {
        pkceCodeVerifier: checks.codeVerifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        idTokenExpected: true,
      });
    } catch (error) {
      throw signInError(error);
    }
    const claims = tokens.claims();
    if (claims === undefined) throw new OidcSignInError('the provider returned no ID token', 'no-id-token');

    let userInfo: Record<string, unknown> = {};
    try {
      userInfo = await client.fetchUserInfo(this.configuration, tokens.access_token, claims.sub);
    } catch (error) {
      // The ID token alone identifies the user, so a failed UserInfo request only loses profile claims.
      this.log.warn({ err: describeError(error), subject: claims.sub }, 'OIDC UserInfo request failed; using the ID token claims alone');
    }
    return identityFromClaims(this.settings.issuer, claims, userInfo);
  }
}

function readClientSecret(settings: OidcSettings): string {
  if (settings.client_secret !== undefined) return settings.client_secret;
  const file = settings.client_secret_path!;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new OidcSetupError(`cannot read oidc.client_secret_path ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const secret = text.trim();
  if (secret === '') throw new OidcSetupError(`oidc.client_secret_path ${file} is empty`);
  return secret;
}

/**
 * Returns a function that maps back-channel URLs at the issuer's address to the discovery URL's
 * address. URLs under the issuer keep their path below it; other URLs on the issuer's origin
 * keep their whole path and change only the origin.
 */
export function backChannelRewrite(issuer: string, discoveryUrl: string): (url: string) => string {
  const publicBase = issuer.replace(/\/$/, '');
  const internalBase = discoveryUrl.slice(0, discoveryUrl.length - DISCOVERY_SUFFIX.length);
  const publicOrigin = new URL(issuer).origin;
  const internalOrigin = new URL(discoveryUrl).origin;
  return (url) => {
    if (url === publicBase || url.startsWith(`${publicBase}/`)) return internalBase + url.slice(publicBase.length);
    if (new URL(url).origin === publicOrigin) return internalOrigin + url.slice(publicOrigin.length);
    return url;
  };
}

function issuerMismatchMessage(configured: string, stated: string, documentUrl: string): string {
  let hint: string;
  if (configured.replace(/\/$/, '') === stated.replace(/\/$/, '')) {
    hint = 'The two differ only in a trailing slash, which still makes them different issuers.';
  } else if (new URL(configured).pathname.replace(/\/$/, '') === new URL(stated).pathname.replace(/\/$/, '')) {
    hint =
      'Only the address differs: the provider probably derives its issuer from the host name of each request. ' +
      'Give it one fixed public URL (Keycloak: KC_HOSTNAME) and, if the coordinator must reach it by another address, set oidc.discovery_url.';
  } else {
    hint = 'Set oidc.issuer to the issuer the provider states.';
  }
  return `OIDC issuer mismatch: oidc.issuer is ${JSON.stringify(configured)}, but the discovery document at ${documentUrl} states issuer ${JSON.stringify(stated)}. ${hint}`;
}

function setupError(error: unknown, settings: OidcSettings, documentUrl: string): OidcSetupError {
  if (error instanceof client.ClientError && error.code === 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED') {
    const stated = (error.cause as { body?: { issuer?: unknown } } | undefined)?.body?.issuer;
    return new OidcSetupError(issuerMismatchMessage(settings.issuer, String(stated), documentUrl));
  }
  const where = settings.discovery_url === undefined ? 'check oidc.issuer, or set oidc.discovery_url if the coordinator reaches the provider by another address' : 'check oidc.discovery_url';
  return new OidcSetupError(`OIDC discovery at ${documentUrl} failed: ${describeError(error)}; ${where}`);
}

function signInError(error: unknown): OidcSignInError {
  if (error instanceof client.AuthorizationResponseError) {
    const description = error.error_description === undefined ? '' : `: ${error.error_description}`;
    return new OidcSignInError(`the identity provider rejected the sign-in (${error.error}${description})`, 'provider-rejected');
  }
  if (error instanceof client.ResponseBodyError) {
    const description = error.error_description === undefined ? '' : `: ${error.error_description}`;
    return new OidcSignInError(`the identity provider rejected the code exchange (${error.error}${description})`, 'token-request');
  }
  if (error instanceof client.ClientError && error.code === 'OAUTH_JWT_CLAIM_COMPARISON_FAILED') {
    const claim = ((error.cause as { cause?: { claim?: unknown } } | undefined)?.cause?.claim ?? 'unknown') as string;
    const messages: Record<string, [string, string]> = {
      nonce: ['the ID token does not belong to this sign-in (its nonce differs)', 'nonce'],
      aud: ['the ID token was issued for another client (its audience is not oidc.client_id)', 'audience'],
      azp: ['the ID token was issued for another client (its authorized party is not oidc.client_id)', 'audience'],
      iss: ['the ID token comes from another issuer than oidc.issuer', 'issuer'],
    };
    const [message, reason] = messages[claim] ?? [`the ID token failed the ${claim} check`, claim];
    return new OidcSignInError(message, reason);
  }
  if (error instanceof client.ClientError && error.code === 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED') {
    return new OidcSignInError('the ID token is expired or not yet valid; check the clocks of the coordinator and the provider', 'token-time');
  }
  // fetch rejects with a TypeError when the connection fails, and with a TimeoutError on timeout.
  if (error instanceof TypeError || (error instanceof Error && error.name === 'TimeoutError')) {
    return new OidcSignInError(`the identity provider could not be reached: ${describeError(error)}`, 'provider-unreachable');
  }
  return new OidcSignInError(`the sign-in could not be completed: ${describeError(error)}`, 'failed');
}

/** Joins an error's message with its causes' messages, leaving out response bodies, which can contain tokens. */
function describeError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth += 1) {
    parts.push(current.message);
    current = current.cause;
  }
  return parts.length === 0 ? String(error) : parts.join(': ');
}
