/**
 * The composition root: builds every part of the coordinator from its configuration and wires
 * them together. Nothing else constructs parts, so this file shows the whole architecture.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

import { MachinePublic } from '../protocol/key.js';
import { UPGRADE_PATH } from '../protocol/ts2021/upgrade.js';
import { AdminSocketError, startAdminSocket } from './api/admin-socket.js';
import { adminApi, API_PREFIX } from './api/plugin.js';
import { ApiKeys } from './auth/api-keys.js';
import { FailureLimiter } from './auth/failure-limiter.js';
import { JoinTokens } from './auth/join-tokens.js';
import { LoginFlows } from './auth/login-flows.js';
import { OidcClient, OidcSetupError } from './auth/oidc.js';
import { Sessions } from './auth/sessions.js';
import { type Config, ConfigError } from './config/config.js';
import { registerEchoRoute } from './control/echo.js';
import { registerMapRoute } from './control/map.js';
import { MapSessions } from './control/map-sessions.js';
import { NoiseRouter } from './control/noise-routes.js';
import { NoiseServer } from './control/noise-server.js';
import { PendingLogins } from './control/pending-logins.js';
import { registerRegisterRoute } from './control/register.js';
import { Ts2021Endpoint } from './control/ts2021.js';
import { DerpMapError } from './derp/derp-map.js';
import { type DerpService, startDerpService } from './derp/service.js';
import { type ClientVerifier, admitAllClients } from './derp/verifier.js';
import { buildHttpApp, type UpgradeHandler } from './http/app.js';
import { clientAddressResolver } from './http/client-address.js';
import type { AuthContext } from './http/auth-context.js';
import { loadOrCreatePrivateKey } from './key-file.js';
import type { Logger } from './log.js';
import { Netmap } from './netmap/netmap.js';
import { Store } from './store/store.js';
import { bindError, isBindError, StartupError, warnIfOpenToOthers, warnIfRelayOnLoopback } from './startup-checks.js';
import { StunServer } from './stun/server.js';
import { Tailnet } from './tailnet/tailnet.js';
import type { DERPMap } from '../protocol/tailcfg/derp-map.js';

export interface Coordinator {
  /** The configured server URL, where clients reach the coordinator. */
  serverUrl: string;
  /** The address actually bound, useful when the configured port was 0. */
  address: { host: string; port: number };
  noisePublicKey: MachinePublic;
  tailnet: Tailnet;
  pendingLogins: PendingLogins;
  mapSessions: MapSessions;
  /** Builds map responses; benchmarks time it directly. */
  netmap: Netmap;
  /** The Unix socket that serves the admin API to the local `wonder` CLI: `<data_dir>/admin.sock`. */
  adminSocketPath: string;
  /** The DERP map clients receive: the embedded relay's region and those of derp.extra_map_path. */
  derpMap(): DERPMap;
  /** Bound ports of the DERP relay's TLS listener and of the STUN server, undefined when they do not run. */
  derpPort: number | undefined;
  stunPort: number | undefined;
  derp: DerpService;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Replaces the tailnet check of DERP clients, for tests. */
  derpClientVerifier?: ClientVerifier;
}

export async function startCoordinator(config: Config, log: Logger, options: StartOptions = {}): Promise<Coordinator> {
  fs.mkdirSync(config.data_dir, { recursive: true, mode: 0o700 });
  warnIfOpenToOthers(config.data_dir, log);

  const { key: noiseKey, created } = loadOrCreatePrivateKey(config.noise.private_key_path, {
    replacementEffect: 'every client will need to log in again',
  });
  const noisePublicKey = MachinePublic.fromBytes(noiseKey.publicKey);
  log.info({ path: config.noise.private_key_path, publicKey: noisePublicKey.toString(), created }, created ? 'created Noise key' : 'loaded Noise key');

  const store = Store.open(config.database.path);
  const tailnet = Tailnet.load(store, {
    ipv4Prefix: config.tailnet.ipv4_prefix,
    ipv6Prefix: config.tailnet.ipv6_prefix,
    baseDomain: config.tailnet.base_domain,
    nodeKeyExpiryMs: config.tailnet.node_key_expiry,
    log: log.child({ component: 'tailnet' }),
  });
  log.info({ path: config.database.path, users: tailnet.users.size, nodes: tailnet.nodes.size }, 'tailnet loaded');
  const apiKeys = new ApiKeys(store, { log: log.child({ component: 'api-keys' }) });
  const sessions = new Sessions(store, tailnet, { lifetimeMs: config.auth.session_lifetime, log: log.child({ component: 'sessions' }) });
  const joinTokens = new JoinTokens(store, tailnet, { keyLifetimeMs: config.auth.join_key_lifetime, log: log.child({ component: 'join-tokens' }) });

  // The provider is checked before anything listens, so a wrong issuer stops start-up with both issuers named.
  let oidc: AuthContext['oidc'];
  if (config.oidc !== undefined) {
    try {
      const client = await OidcClient.discover(config.oidc, { log: log.child({ component: 'oidc' }) });
      oidc = {
        client,
        policy: {
          allowedDomains: config.oidc.allowed_domains,
          allowedUsers: config.oidc.allowed_users,
          allowedGroups: config.oidc.allowed_groups,
          emailVerifiedRequired: config.oidc.email_verified_required,
        },
      };
    } catch (error) {
      store.close();
      throw error instanceof OidcSetupError ? new ConfigError(error.message) : error;
    }
  }

  // The STUN server is advertised only by the embedded region, so it runs only with the relay.
  let stun: StunServer | undefined;
  if (config.stun.enabled && config.derp.enabled) {
    try {
      stun = await StunServer.start({ ...config.stun.listen, log: log.child({ component: 'stun' }) });
    } catch (error) {
      store.close();
      throw isBindError(error) ? bindError('stun.listen_addr', config.stun.listen, 'UDP', error) : error;
    }
  }
  const verifyDerpClient = options.derpClientVerifier ?? (config.derp.verify_clients ? (key) => tailnet.isNodeKeyAuthorized(key) : admitAllClients);
  let derp: DerpService;
  try {
    derp = await startDerpService({
      settings: config.derp,
      dataDir: config.data_dir,
      verifyClient: verifyDerpClient,
      stunPort: stun?.address.port ?? -1,
      log: log.child({ component: 'derp' }),
    });
  } catch (error) {
    await stun?.close();
    store.close();
    if (error instanceof DerpMapError) throw new ConfigError(error.message);
    if (isBindError(error)) throw bindError('derp.listen_addr', config.derp.listen, 'TCP', error);
    throw error;
  }
  if (!config.derp.verify_clients) log.warn('derp.verify_clients is false: any node key may use the DERP relay');
  if (config.derp.enabled) {
    const relay = {
      hostName: config.derp.host_name,
      ipv4: config.derp.ipv4,
      ipv6: config.derp.ipv6,
      derpListen: derp.address ?? config.derp.listen,
      stunListen: stun?.address,
    };
    warnIfRelayOnLoopback(relay, log);
  }
  tailnet.on('change', (change) => {
    if (change.kind !== 'node-removed' && change.kind !== 'node-changed') return;
    derp.relay?.recheckClients(verifyDerpClient).catch((error: unknown) => log.error({ err: error }, 'rechecking DERP clients failed'));
  });
  const derpMap = derp.derpMap;
  const netmap = new Netmap({ tailnet, derpMap });
  const warmStart = performance.now();
  netmap.warm();
  log.info({ nodes: tailnet.nodes.size, ms: Math.round(performance.now() - warmStart) }, 'netmap caches filled');
  const mapSessions = new MapSessions({
    tailnet,
    netmap,
    log: log.child({ component: 'map' }),
    keepaliveIntervalMs: config.control.map_keepalive_interval,
    ephemeralInactivityTimeoutMs: config.tailnet.ephemeral_inactivity_timeout,
  });
  let serverUrl = config.server_url;
  const pendingLogins = new PendingLogins(() => serverUrl);

  const router = new NoiseRouter();
  registerRegisterRoute(router, { tailnet, pendingLogins });
  registerMapRoute(router, { tailnet, netmap, sessions: mapSessions });
  if (config.control.echo_route) {
    registerEchoRoute(router);
    log.warn('the test echo route is enabled inside the Noise channel');
  }
  const noiseServer = new NoiseServer({
    router,
    log: log.child({ component: 'control' }),
    firstRequestTimeoutMs: config.control.first_request_timeout,
    idleTimeoutMs: config.control.idle_timeout,
  });
  const ts2021 = new Ts2021Endpoint({
    serverKey: noiseKey,
    log: log.child({ component: 'ts2021' }),
    onConnection: (conn, remoteAddress) => noiseServer.serve(conn, remoteAddress),
    maxConnections: config.control.max_connections,
    maxConnectionsPerAddress: config.control.max_connections_per_address,
    connectionCount: () => noiseServer.connectionCount,
    clientAddress: clientAddressResolver(config.trusted_proxies),
  });

  const upgrades = new Map<string, UpgradeHandler>([[UPGRADE_PATH, (request, socket, head) => ts2021.handleUpgrade(request, socket, head)]]);
  const auth: AuthContext = {
    serverUrl: () => serverUrl,
    tailnet,
    pendingLogins,
    sessions,
    joinTokens,
    apiKeys,
    oidc,
    loginFlows: new LoginFlows({ lifetimeMs: 10 * 60_000, maxFlows: 10_000 }),
    // Ten failed joins at once per address, then one more every 30 seconds.
    joinFailures: new FailureLimiter({ burst: 10, refillMs: 30_000, maxAddresses: 100_000 }),
    cookieSecret: crypto.randomBytes(32).toString('base64url'),
    csrfKey: crypto.randomBytes(32),
  };
  const app = buildHttpApp({ log: log.child({ component: 'http' }), noisePublicKey, upgrades, auth, trustedProxies: config.trusted_proxies });
  await app.register(adminApi, { prefix: API_PREFIX, tailnet, apiKeys, pendingLogins, joinTokens, access: 'api-key' });

  // Started before the public port, so a second coordinator on the same data_dir stops here.
  const adminSocketPath = path.join(config.data_dir, 'admin.sock');
  const releaseOnFailure = () => {
    mapSessions.closeAll();
    void derp.close();
    void stun?.close();
    store.close();
  };
  const adminSocket = await startAdminSocket({
    socketPath: adminSocketPath,
    log: log.child({ component: 'admin-socket' }),
    api: { tailnet, apiKeys, pendingLogins, joinTokens },
  }).catch((error: unknown) => {
    releaseOnFailure();
    if (error instanceof AdminSocketError) throw new StartupError(`data_dir ${config.data_dir}: ${error.message}`);
    if (isBindError(error)) throw new StartupError(`data_dir ${config.data_dir}: cannot listen on the admin socket ${adminSocketPath}: ${error.message}`);
    throw error;
  });
  try {
    await app.listen({ host: config.listen.host, port: config.listen.port });
  } catch (error) {
    await adminSocket.close();
    releaseOnFailure();
    throw isBindError(error) ? bindError('listen_addr', config.listen, 'TCP', error) : error;
  }
  const bound = app.server.address() as AddressInfo;
  if (config.listen.port === 0) serverUrl = config.server_url.replace(/:0$/, `:${bound.port}`);
  log.info({ listen: `${bound.address}:${bound.port}`, serverUrl }, 'coordinator listening');

  return {
    serverUrl,
    address: { host: bound.address, port: bound.port },
    noisePublicKey,
    tailnet,
    pendingLogins,
    mapSessions,
    netmap,
    adminSocketPath,
    derpMap,
    derpPort: derp.address?.port,
    stunPort: stun?.address.port,
    derp,
    async close() {
      ts2021.close();
      mapSessions.closeAll();
      noiseServer.closeAll();
      await adminSocket.close();
      await app.close();
      await derp.close();
      await stun?.close();
      store.close();
      log.info('coordinator stopped');
    },
  };
}
