import { describe, expect, it } from 'vitest';

import { backChannelRewrite } from '../../../src/auth/oidc.js';
import { loadConfig } from '../../../src/config/config.js';

const REQUIRED = { 'oidc.issuer': 'https://idp.example/realms/wonder', 'oidc.client_id': 'wonder' };

describe('oidc configuration', () => {
  it('is absent by default', () => {
    const config = loadConfig({});
    expect(config.oidc).toBeUndefined();
    expect(config.auth).toEqual({ session_lifetime: 12 * 3_600_000, join_key_lifetime: 5 * 60_000 });
  });

  it('fills defaults', () => {
    const config = loadConfig({ overrides: { ...REQUIRED, 'oidc.client_secret': 's3cret' } });
    expect(config.oidc).toEqual({
      issuer: 'https://idp.example/realms/wonder',
      client_id: 'wonder',
      client_secret: 's3cret',
      client_auth_method: 'client_secret_basic',
      scopes: ['openid', 'profile', 'email'],
      allowed_domains: [],
      allowed_users: [],
      allowed_groups: [],
      email_verified_required: true,
    });
  });

  it('reads lists from the environment', () => {
    const config = loadConfig({
      env: {
        WONDER_OIDC_ISSUER: 'https://idp.example',
        WONDER_OIDC_CLIENT_ID: 'wonder',
        WONDER_OIDC_CLIENT_SECRET_PATH: '/run/secrets/oidc',
        WONDER_OIDC_SCOPES: 'openid profile email groups',
        WONDER_OIDC_ALLOWED_GROUPS: 'admins, /ops',
        WONDER_OIDC_EMAIL_VERIFIED_REQUIRED: 'false',
      },
    });
    expect(config.oidc?.scopes).toEqual(['openid', 'profile', 'email', 'groups']);
    expect(config.oidc?.allowed_groups).toEqual(['admins', '/ops']);
    expect(config.oidc?.email_verified_required).toBe(false);
    expect(config.oidc?.client_secret_path).toBe('/run/secrets/oidc');
  });

  it('requires exactly one client secret', () => {
    expect(() => loadConfig({ overrides: REQUIRED })).toThrow('oidc: set exactly one of client_secret and client_secret_path');
    expect(() => loadConfig({ overrides: { ...REQUIRED, 'oidc.client_secret': 'a', 'oidc.client_secret_path': '/b' } })).toThrow(
      'set exactly one of client_secret and client_secret_path',
    );
  });

  it('requires the openid scope', () => {
    expect(() => loadConfig({ overrides: { ...REQUIRED, 'oidc.client_secret': 'a', 'oidc.scopes': 'profile,email' } })).toThrow('oidc.scopes: must include openid');
  });

  it('requires a discovery document URL', () => {
    expect(() => loadConfig({ overrides: { ...REQUIRED, 'oidc.client_secret': 'a', 'oidc.discovery_url': 'http://keycloak:8080/realms/wonder' } })).toThrow(
      'oidc.discovery_url: must end with /.well-known/openid-configuration',
    );
  });

  it('never prints the secret in errors', () => {
    expect(() => loadConfig({ overrides: { ...REQUIRED, 'oidc.client_secret': 'hunter2-secret', 'oidc.scopes': 'profile' } })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('hunter2-secret') }),
    );
  });
});

describe('server_url', () => {
  it('rejects a path prefix', () => {
    expect(() => loadConfig({ overrides: { server_url: 'https://example.com/wonder' } })).toThrow('server_url: must be a scheme, host and port without a path');
  });

  it('accepts a trailing slash', () => {
    expect(loadConfig({ overrides: { server_url: 'https://example.com:8443/' } }).server_url).toBe('https://example.com:8443');
  });
});

describe('backChannelRewrite', () => {
  const rewrite = backChannelRewrite('http://localhost:8081/realms/wonder', 'http://keycloak:8080/realms/wonder/.well-known/openid-configuration');

  it('maps URLs under the issuer', () => {
    expect(rewrite('http://localhost:8081/realms/wonder/.well-known/openid-configuration')).toBe('http://keycloak:8080/realms/wonder/.well-known/openid-configuration');
    expect(rewrite('http://localhost:8081/realms/wonder/protocol/openid-connect/token')).toBe('http://keycloak:8080/realms/wonder/protocol/openid-connect/token');
  });

  it('maps other URLs on the issuer origin', () => {
    expect(rewrite('http://localhost:8081/jwks')).toBe('http://keycloak:8080/jwks');
  });

  it('leaves other origins alone', () => {
    expect(rewrite('https://elsewhere.example/keys')).toBe('https://elsewhere.example/keys');
    expect(rewrite('http://keycloak:8080/realms/wonder/protocol/openid-connect/certs')).toBe('http://keycloak:8080/realms/wonder/protocol/openid-connect/certs');
  });

  it('maps to a different internal path', () => {
    const proxied = backChannelRewrite('https://login.example/', 'http://idp.internal:9000/auth/.well-known/openid-configuration');
    expect(proxied('https://login.example/.well-known/openid-configuration')).toBe('http://idp.internal:9000/auth/.well-known/openid-configuration');
    expect(proxied('https://login.example/token')).toBe('http://idp.internal:9000/auth/token');
  });
});
