/**
 * Checks that docker-compose.yml, the Keycloak realm export and the coordinator's
 * configuration agree. They must share one issuer URL for browsers and containers, the redirect
 * URI built from server_url, and the client ID and secret. Published ports must equal container
 * ports, and nothing may use host networking or a path prefix.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/config.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const compose = YAML.parse(fs.readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'));
const realm = JSON.parse(fs.readFileSync(path.join(root, 'deploy/keycloak/wonder-realm.json'), 'utf8'));
const config = loadConfig({ file: path.join(root, 'deploy/wonder.yaml') });
const oidc = config.oidc!;
const services = compose.services as Record<string, any>;
const client = realm.clients.find((candidate: { clientId: string }) => candidate.clientId === oidc.client_id);

/** Maps a path inside a container to the checkout file it is mounted from, through the service's bind mounts. */
function hostPath(service: any, containerPath: string): string | undefined {
  for (const volume of service.volumes as string[]) {
    const [source, target] = volume.split(':') as [string, string];
    if (!source.startsWith('./')) continue;
    if (containerPath === target || containerPath.startsWith(`${target.replace(/\/$/, '')}/`)) return path.join(root, source, containerPath.slice(target.length));
  }
  return undefined;
}

function publishedPorts(service: any): string[] {
  return (service.ports ?? []) as string[];
}

function commandOption(service: any, name: string): string | undefined {
  const command = service.command as string[];
  const inline = command.find((arg) => arg.startsWith(`${name}=`));
  if (inline !== undefined) return inline.slice(name.length + 1);
  const index = command.indexOf(name);
  return index >= 0 ? command[index + 1] : undefined;
}

describe('docker-compose deployment', () => {
  const keycloak = services.keycloak;
  const coordinator = services.coordinator;
  const workers = Object.entries(services).filter(([name]) => name.startsWith('worker-'));
  const serverUrl = new URL(config.server_url);

  it('loads the coordinator config the service runs', () => {
    const configFile = hostPath(coordinator, commandOption(coordinator, '--config')!);
    expect(configFile).toBe(path.join(root, 'deploy/wonder.yaml'));
  });

  it('gives Keycloak one issuer for browsers and containers', () => {
    const hostname = commandOption(keycloak, '--hostname')!;
    const port = commandOption(keycloak, '--http-port')!;
    expect(keycloak.image).toMatch(/^quay\.io\/keycloak\/keycloak:/);
    expect(keycloak.command[0]).toBe('start-dev');
    expect(keycloak.command).toContain('--import-realm');
    expect(new URL(hostname).hostname).toBe('keycloak');
    expect(new URL(hostname).port).toBe(port);
    expect(publishedPorts(keycloak)).toContain(`${port}:${port}`);
    expect(oidc.issuer).toBe(`${hostname}/realms/${realm.realm}`);
    expect(oidc.discovery_url).toBeUndefined();
  });

  it('imports the realm file', () => {
    const imported = (keycloak.volumes as string[]).find((volume) => volume.includes('/opt/keycloak/data/import/'))!;
    expect(path.join(root, imported.split(':')[0]!)).toBe(path.join(root, 'deploy/keycloak/wonder-realm.json'));
    expect(realm.realm).toBe('wonder');
    expect(realm.enabled).toBe(true);
  });

  it('registers a confidential client with the callback', () => {
    expect(client).toBeDefined();
    expect(client.publicClient).toBe(false);
    expect(client.standardFlowEnabled).toBe(true);
    expect(client.clientAuthenticatorType).toBe('client-secret');
    expect(client.redirectUris).toEqual([`${config.server_url}/oidc/callback`]);
    expect(client.webOrigins).toEqual([config.server_url]);
    expect(client.attributes['pkce.code.challenge.method']).toBe('S256');
  });

  it('hands the client secret to the coordinator', () => {
    expect(oidc.client_secret).toBeUndefined();
    expect(oidc.client_secret_path).toBe('/run/secrets/oidc_client_secret');
    expect(coordinator.secrets).toContain('oidc_client_secret');
    const secretFile = path.join(root, compose.secrets.oidc_client_secret.file);
    expect(fs.readFileSync(secretFile, 'utf8').trim()).toBe(client.secret);
  });

  it('requests only scopes the client has', () => {
    const available = new Set(['openid', ...(client.defaultClientScopes ?? []), ...(client.optionalClientScopes ?? [])]);
    for (const scope of oidc.scopes) expect(available).toContain(scope);
  });

  it('sends the groups that the policy allows', () => {
    const mapper = client.protocolMappers.find((candidate: { protocolMapper: string }) => candidate.protocolMapper === 'oidc-group-membership-mapper');
    expect(mapper.config['claim.name']).toBe('groups');
    expect(mapper.config['id.token.claim']).toBe('true');
    const realmGroups = realm.groups.map((group: { name: string }) => group.name);
    for (const group of oidc.allowed_groups) expect(realmGroups).toContain(group.replace(/^\//, ''));
    const user = realm.users[0];
    expect(user.emailVerified).toBe(true);
    expect(user.groups.map((group: string) => group.replace(/^\//, ''))).toEqual(expect.arrayContaining(oidc.allowed_groups));
  });

  it('serves the coordinator at the root of its own port', () => {
    expect(serverUrl.hostname).toBe('coordinator');
    expect(serverUrl.pathname).toBe('/');
    expect(config.listen.port).toBe(Number(serverUrl.port));
    expect(publishedPorts(coordinator)).toContain(`${serverUrl.port}:${config.listen.port}`);
    expect(publishedPorts(coordinator)).toContain(`${config.derp.listen.port}:${config.derp.listen.port}`);
    expect(publishedPorts(coordinator)).toContain(`${config.stun.listen.port}:${config.stun.listen.port}/udp`);
    expect(config.derp.host_name).toBe('coordinator');
  });

  it('runs two workers that join the coordinator', () => {
    expect(workers).toHaveLength(2);
    for (const [, worker] of workers) {
      expect(worker.image).toBe('tailscale/tailscale:v1.92.5');
      expect(worker.environment.WONDER_COORDINATOR).toBe(config.server_url);
      expect(worker.environment.WONDER_JOIN_TOKEN).toBe('${WONDER_JOIN_TOKEN:-}');
      const script = hostPath(worker, worker.entrypoint[1])!;
      expect(fs.readFileSync(script, 'utf8')).toContain('main.js join');
      expect(worker.depends_on.coordinator.condition).toBe('service_healthy');
    }
  });

  it('uses one bridge network without host networking', () => {
    expect(compose.networks.tailnet.driver).toBe('bridge');
    for (const [name, service] of Object.entries(services)) {
      expect(service.network_mode, name).toBeUndefined();
      expect(service.networks, name).toEqual(['tailnet']);
    }
  });
});
