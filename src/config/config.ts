/**
 * Coordinator configuration: defaults, then a YAML file, then environment variables, then
 * command-line overrides, each stronger than the one before. With no file at all the
 * coordinator runs on loopback with its state under `./data`.
 *
 * Every setting has an environment variable named after its path: `log.level` is
 * `WONDER_LOG_LEVEL`, `server_url` is `WONDER_SERVER_URL`.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import proxyAddr from '@fastify/proxy-addr';
import YAML from 'yaml';
import { z } from 'zod';

import { parseDuration } from './duration.js';

const OIDC_DISCOVERY_SUFFIX = '/.well-known/openid-configuration';

const duration = (name: string) =>
  z.union([z.string(), z.number()]).transform((value, context) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      context.addIssue({ code: 'custom', message: `${JSON.stringify(value)} is not a duration such as "30s", "5m" or "1h" (${name})` });
      return z.NEVER;
    }
    return ms;
  });

const hostPort = z.string().refine((value) => parseHostPort(value) !== undefined, {
  message: 'expected HOST:PORT, for example 127.0.0.1:8080 or [::1]:8080',
});

const ConfigSchema = z
  .object({
    /** The URL clients use as `--login-server`; it must reach `listen_addr`. Defaults to http://<listen_addr>. */
    server_url: z
      .url({ protocol: /^https?$/ })
      .refine((value) => /^[^:]+:\/\/[^/?#]+\/?$/.test(value), {
        message: 'must be a scheme, host and port without a path, query or fragment, because clients open /ts2021 at the host root whatever the path',
      })
      .optional(),
    listen_addr: hostPort.default('127.0.0.1:8080'),
    /**
     * Addresses or CIDR ranges of reverse proxies in front of the coordinator. A request from one
     * of them counts under the client address in its X-Forwarded-For header, for the per-address
     * limits and the logs. Empty: every request counts under its TCP peer.
     */
    trusted_proxies: z
      .array(z.string().min(1))
      .default([])
      .superRefine((entries, context) => {
        for (const entry of entries) {
          try {
            proxyAddr.compile(entry);
          } catch {
            context.addIssue({ code: 'custom', message: `${JSON.stringify(entry)} is not an IP address or CIDR range, such as 10.0.0.5 or 172.16.0.0/12` });
          }
        }
      }),
    /** Folder for the database, keys and certificates; created with owner-only permissions. */
    data_dir: z.string().min(1).default('./data'),
    noise: z
      .object({
        /** The control server's Noise private key; created on first start. Defaults to <data_dir>/noise.key. */
        private_key_path: z.string().min(1).optional(),
      })
      .strict()
      .default({}),
    control: z
      .object({
        /** Time a client has after the handshake to open its first HTTP/2 stream, and to send the whole body of each request. */
        first_request_timeout: duration('control.first_request_timeout').default(30_000),
        /** Serves POST /wonder/echo inside the Noise channel, for interop tests only. */
        echo_route: z.boolean().default(false),
        /** Base interval between map stream keepalives; up to 9 s of jitter is added. Clients give up after 120 s. */
        map_keepalive_interval: duration('control.map_keepalive_interval').default(50_000),
        /** Time after which a connection with no request in flight (an open map stream counts as one) is closed. */
        idle_timeout: duration('control.idle_timeout')
          .refine((ms) => ms > 0, { message: 'must be longer than 0 (control.idle_timeout)' })
          .default(120_000),
        /** Control connections served at once; further upgrades get HTTP 503. */
        max_connections: z.coerce.number().int().min(1).default(20_000),
        /**
         * Control connections at once from one IPv4 address or IPv6 /64, so that one host cannot
         * take every connection. Machines behind one NAT share an address, hence the large default.
         */
        max_connections_per_address: z.coerce.number().int().min(1).default(1_000),
      })
      .strict()
      .default({
        first_request_timeout: 30_000,
        echo_route: false,
        map_keepalive_interval: 50_000,
        idle_timeout: 120_000,
        max_connections: 20_000,
        max_connections_per_address: 1_000,
      }),
    database: z
      .object({
        /** SQLite file; defaults to <data_dir>/wonder.sqlite. */
        path: z.string().min(1).optional(),
      })
      .strict()
      .default({}),
    tailnet: z
      .object({
        ipv4_prefix: z.string().default('100.64.0.0/10'),
        ipv6_prefix: z.string().default('fd7a:115c:a1e0::/48'),
        /** MagicDNS names are <node>.<base_domain>. */
        base_domain: z
          .string()
          .regex(/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'expected a lower-case DNS domain such as wonder.internal')
          .default('wonder.internal'),
        /** Node key lifetime; 0 turns key expiry off. */
        node_key_expiry: duration('tailnet.node_key_expiry').default(0),
        /** Ephemeral nodes are deleted after this long offline. */
        ephemeral_inactivity_timeout: duration('tailnet.ephemeral_inactivity_timeout').default(300_000),
      })
      .strict()
      .default({
        ipv4_prefix: '100.64.0.0/10',
        ipv6_prefix: 'fd7a:115c:a1e0::/48',
        base_domain: 'wonder.internal',
        node_key_expiry: 0,
        ephemeral_inactivity_timeout: 300_000,
      }),
    derp: z
      .object({
        /** Runs the embedded DERP relay. When false, derp.extra_map_path must supply at least one region. */
        enabled: z.boolean().default(true),
        /** Address of the relay's TLS listener; port 0 picks a free one, which the DERP map then carries. */
        listen_addr: hostPort.default('127.0.0.1:8443'),
        /** The relay's own X25519 key, separate from the Noise key; created on first start. Defaults to <data_dir>/derp.key. */
        private_key_path: z.string().min(1).optional(),
        /** Admits only the node keys of registered, unexpired nodes. */
        verify_clients: z.boolean().default(true),
        /** Region IDs 900 to 999 are reserved for self-hosted relays. */
        region_id: z.coerce.number().int().min(1).max(2 ** 31 - 1).default(900),
        region_code: z.string().min(1).default('wonder'),
        region_name: z.string().min(1).default('Wonder embedded relay'),
        /** Name clients dial and check the certificate against. Defaults to the host of server_url. */
        host_name: z
          .string()
          .refine((value) => net.isIP(value) !== 0 || /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(value), {
            message: 'expected a DNS name or an IP address',
          })
          .optional(),
        /** IPv4 address clients dial instead of resolving host_name; "none" turns IPv4 off. */
        ipv4: z.string().refine((value) => value === 'none' || net.isIPv4(value), { message: 'expected an IPv4 address or "none"' }).optional(),
        /** IPv6 address clients dial instead of resolving host_name; "none" turns IPv6 off. */
        ipv6: z.string().refine((value) => value === 'none' || net.isIPv6(value), { message: 'expected an IPv6 address or "none"' }).optional(),
        /** A JSON file in Tailscale's DERPMap format whose regions are added to the map. */
        extra_map_path: z.string().min(1).optional(),
        /** Interval between KeepAlive frames to each client, plus up to 5 s of jitter. */
        keepalive_interval: duration('derp.keepalive_interval').default(60_000),
        /** Time a client has after the upgrade to send a ClientInfo that passes verification. */
        handshake_timeout: duration('derp.handshake_timeout').default(10_000),
        /** Time a client may leave relayed data unread before it is disconnected. */
        write_timeout: duration('derp.write_timeout').default(2_000),
        /** Packets queued per client (twice: disco and other) before the oldest is dropped. */
        send_queue_packets: z.coerce.number().int().min(1).max(4096).default(32),
        /** Bytes per second each client may send, 0 for no limit. Tailscale clients learn it and limit themselves. */
        client_rate_limit: z.coerce.number().int().min(0).default(0),
        /** Bytes a client may send at once above client_rate_limit; 0 picks the larger of the rate and 65,573. */
        client_rate_burst: z.coerce.number().int().min(0).default(0),
        tls: z
          .object({
            /** PEM certificate (leaf first) for the relay; without it a self-signed certificate is made and pinned. */
            cert_path: z.string().min(1).optional(),
            key_path: z.string().min(1).optional(),
          })
          .strict()
          .default({}),
      })
      .strict()
      .prefault({}),
    stun: z
      .object({
        /** Runs the STUN server that the embedded DERP region advertises. */
        enabled: z.boolean().default(true),
        /** UDP address of the STUN server; port 0 picks a free one, which the DERP map then carries. */
        listen_addr: hostPort.default('127.0.0.1:3478'),
      })
      .strict()
      .prefault({}),
    oidc: z
      .object({
        /** The provider's issuer identifier, exactly as its discovery document and ID tokens state it. */
        issuer: z.url({ protocol: /^https?$/ }),
        /**
         * The discovery document as the coordinator reaches it, when that address differs from the
         * issuer that browsers use. Every back-channel request to the issuer's address goes here instead.
         */
        discovery_url: z
          .url({ protocol: /^https?$/ })
          .refine((value) => new URL(value).pathname.endsWith(OIDC_DISCOVERY_SUFFIX), {
            message: `must end with ${OIDC_DISCOVERY_SUFFIX}`,
          })
          .optional(),
        client_id: z.string().min(1),
        client_secret: z.string().min(1).optional(),
        /** A file holding the client secret; trailing white space is ignored. */
        client_secret_path: z.string().min(1).optional(),
        /** Client authentication method at the provider's token endpoint. */
        client_auth_method: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
        scopes: z
          .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'expected a scope token without spaces or quotes'))
          .refine((scopes) => scopes.includes('openid'), { message: 'must include openid' })
          .default(['openid', 'profile', 'email']),
        /** Email domains allowed to sign in; empty allows every domain. */
        allowed_domains: z.array(z.string().min(1)).default([]),
        /** Email addresses allowed to sign in; empty allows every address. */
        allowed_users: z.array(z.string().min(1)).default([]),
        /** Groups (from the groups claim) allowed to sign in; empty allows every group. */
        allowed_groups: z.array(z.string().min(1)).default([]),
        /** When allowed_domains or allowed_users is set, also require email_verified to be true. */
        email_verified_required: z.boolean().default(true),
      })
      .strict()
      .refine((oidc) => (oidc.client_secret === undefined) !== (oidc.client_secret_path === undefined), {
        message: 'set exactly one of client_secret and client_secret_path',
      })
      .optional(),
    auth: z
      .object({
        /** How long a browser or bearer session lasts after sign-in. */
        session_lifetime: duration('auth.session_lifetime').default(12 * 3_600_000),
        /** Lifetime of the single-use pre-auth key that POST /api/v1/join hands out for a join token. */
        join_key_lifetime: duration('auth.join_key_lifetime').default(5 * 60_000),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        /** "json" for machines, "pretty" is not offered: pipe JSON through pino-pretty instead. */
        format: z.enum(['json']).default('json'),
      })
      .strict()
      .default({ level: 'info', format: 'json' }),
  })
  .strict();

export type ConfigInput = z.input<typeof ConfigSchema>;

type DerpOutput = z.output<typeof ConfigSchema>['derp'];

export interface Config extends Omit<z.output<typeof ConfigSchema>, 'server_url' | 'noise' | 'database' | 'derp' | 'stun'> {
  server_url: string;
  noise: { private_key_path: string };
  database: { path: string };
  derp: Omit<DerpOutput, 'private_key_path' | 'host_name'> & { private_key_path: string; host_name: string; listen: { host: string; port: number } };
  stun: z.output<typeof ConfigSchema>['stun'] & { listen: { host: string; port: number } };
  /** The listen address split into parts. */
  listen: { host: string; port: number };
}

/** Invalid configuration; the message names the setting and where its value came from. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface LoadOptions {
  /** A YAML file; a missing file is an error when named explicitly. */
  file?: string;
  /** Environment to read `WONDER_*` variables from. */
  env?: NodeJS.ProcessEnv;
  /** Settings from the command line, as dotted paths: `{"log.level": "debug"}`. */
  overrides?: Record<string, string>;
}

export function loadConfig(options: LoadOptions = {}): Config {
  const layers: Array<{ source: string; values: Record<string, unknown> }> = [];

  if (options.file !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(options.file, 'utf8');
    } catch (error) {
      throw new ConfigError(`cannot read config file ${options.file}: ${(error as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = YAML.parse(text) ?? {};
    } catch (error) {
      throw new ConfigError(`config file ${options.file} is not valid YAML: ${(error as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new ConfigError(`config file ${options.file} must hold a mapping of settings at the top level`);
    }
    layers.push({ source: `config file ${options.file}`, values: parsed as Record<string, unknown> });
  }

  const fromEnv: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined || NON_SETTING_ENV.has(name)) continue;
    const settingPath = ENV_TO_PATH.get(name);
    if (settingPath === undefined) throw new ConfigError(`unknown environment variable ${name}; known ones: ${[...ENV_TO_PATH.keys()].join(', ')}`);
    setPath(fromEnv, settingPath, coerce(settingPath, value));
  }
  layers.push({ source: 'environment', values: fromEnv });

  const fromFlags: Record<string, unknown> = {};
  for (const [settingPath, value] of Object.entries(options.overrides ?? {})) {
    if (!LEAF_PATHS.includes(settingPath)) throw new ConfigError(`unknown setting ${settingPath}; known ones: ${LEAF_PATHS.join(', ')}`);
    setPath(fromFlags, settingPath, coerce(settingPath, value));
  }
  layers.push({ source: 'command line', values: fromFlags });

  const merged = layers.reduce<Record<string, unknown>>((into, layer) => deepMerge(into, layer.values), {});
  const result = ConfigSchema.safeParse(merged);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const setting = issue.path.join('.') || '(top level)';
      const source = layers.findLast((layer) => getPath(layer.values, issue.path.map(String)) !== undefined)?.source ?? 'defaults';
      const shown = issue.code === 'unrecognized_keys' ? `unknown setting ${issue.keys.map((k) => [setting, k].filter((p) => p !== '(top level)').join('.')).join(', ')}` : `${setting}: ${issue.message}`;
      return `${shown} (from ${source})`;
    });
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  return finish(result.data);
}

function finish(parsed: z.output<typeof ConfigSchema>): Config {
  const listen = parseHostPort(parsed.listen_addr)!;
  const urlHost = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  // A wildcard listener is reached through loopback by default.
  let connectHost = urlHost;
  if (listen.host === '0.0.0.0') connectHost = '127.0.0.1';
  if (listen.host === '::') connectHost = '[::1]';
  const serverUrl = (parsed.server_url ?? `http://${connectHost}:${listen.port}`).replace(/\/+$/, '');
  const noiseKeyPath = parsed.noise.private_key_path ?? path.join(parsed.data_dir, 'noise.key');
  const derp = finishDerp(parsed.derp, serverUrl, parsed.data_dir, noiseKeyPath);
  return {
    ...parsed,
    server_url: serverUrl,
    listen,
    noise: { private_key_path: noiseKeyPath },
    derp,
    stun: { ...parsed.stun, listen: parseHostPort(parsed.stun.listen_addr)! },
    database: { path: parsed.database.path ?? path.join(parsed.data_dir, 'wonder.sqlite') },
  };
}

/** Largest DERP frame a Go client sends: header, destination key and a 64 KiB packet. Its rate limiter needs a burst at least this big. */
const MIN_RATE_BURST = 5 + 32 + 65_536;

function finishDerp(derp: DerpOutput, serverUrl: string, dataDir: string, noiseKeyPath: string): Config['derp'] {
  const privateKeyPath = derp.private_key_path ?? path.join(dataDir, 'derp.key');
  if (path.resolve(privateKeyPath) === path.resolve(noiseKeyPath)) {
    throw new ConfigError(`invalid configuration: derp.private_key_path and noise.private_key_path both name ${privateKeyPath}; the relay needs its own key`);
  }
  if ((derp.tls.cert_path === undefined) !== (derp.tls.key_path === undefined)) {
    throw new ConfigError('invalid configuration: set derp.tls.cert_path and derp.tls.key_path together, or neither for a self-signed certificate');
  }
  if (!derp.enabled && derp.extra_map_path === undefined) {
    throw new ConfigError('invalid configuration: derp.enabled is false, so derp.extra_map_path must name a DERP map file with at least one region');
  }
  let burst = derp.client_rate_burst;
  if (derp.client_rate_limit > 0) {
    if (burst === 0) burst = Math.max(derp.client_rate_limit, MIN_RATE_BURST);
    if (burst < MIN_RATE_BURST) {
      throw new ConfigError(`invalid configuration: derp.client_rate_burst ${burst} is below ${MIN_RATE_BURST}, the largest frame a client sends; Tailscale clients would drop such packets`);
    }
  }
  // The URL parser keeps the brackets of an IPv6 literal.
  const hostName = derp.host_name ?? new URL(serverUrl).hostname.replace(/^\[(.*)\]$/, '$1');
  return { ...derp, private_key_path: privateKeyPath, host_name: hostName, client_rate_burst: burst, listen: parseHostPort(derp.listen_addr)! };
}

export function parseHostPort(value: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value);
  if (match === null) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  return { host: match[1] ?? match[2]!, port };
}

const ENV_PREFIX = 'WONDER_';
/** Variables with the prefix that are read elsewhere, not settings. */
const NON_SETTING_ENV = new Set(['WONDER_CONFIG', 'WONDER_ADMIN_SOCKET', 'WONDER_API_KEY']);

/** Every leaf setting path; config.test.ts checks that each one is accepted by the schema. */
export const LEAF_PATHS = [
  'server_url',
  'listen_addr',
  'trusted_proxies',
  'data_dir',
  'noise.private_key_path',
  'control.first_request_timeout',
  'control.echo_route',
  'control.map_keepalive_interval',
  'control.idle_timeout',
  'control.max_connections',
  'control.max_connections_per_address',
  'database.path',
  'tailnet.ipv4_prefix',
  'tailnet.ipv6_prefix',
  'tailnet.base_domain',
  'tailnet.node_key_expiry',
  'tailnet.ephemeral_inactivity_timeout',
  'derp.enabled',
  'derp.listen_addr',
  'derp.private_key_path',
  'derp.verify_clients',
  'derp.region_id',
  'derp.region_code',
  'derp.region_name',
  'derp.host_name',
  'derp.ipv4',
  'derp.ipv6',
  'derp.extra_map_path',
  'derp.keepalive_interval',
  'derp.handshake_timeout',
  'derp.write_timeout',
  'derp.send_queue_packets',
  'derp.client_rate_limit',
  'derp.client_rate_burst',
  'derp.tls.cert_path',
  'derp.tls.key_path',
  'stun.enabled',
  'stun.listen_addr',
  'oidc.issuer',
  'oidc.discovery_url',
  'oidc.client_id',
  'oidc.client_secret',
  'oidc.client_secret_path',
  'oidc.client_auth_method',
  'oidc.scopes',
  'oidc.allowed_domains',
  'oidc.allowed_users',
  'oidc.allowed_groups',
  'oidc.email_verified_required',
  'auth.session_lifetime',
  'auth.join_key_lifetime',
  'log.level',
  'log.format',
];
const BOOLEAN_PATHS = new Set(['control.echo_route', 'derp.enabled', 'derp.verify_clients', 'stun.enabled', 'oidc.email_verified_required']);
/** Settings that take a list: in the environment and on the command line, separated by commas or spaces. */
const LIST_PATHS = new Set(['trusted_proxies', 'oidc.scopes', 'oidc.allowed_domains', 'oidc.allowed_users', 'oidc.allowed_groups']);
const ENV_TO_PATH = new Map(LEAF_PATHS.map((p) => [ENV_PREFIX + p.replace(/\./g, '_').toUpperCase(), p]));

function coerce(settingPath: string, value: string): unknown {
  if (LIST_PATHS.has(settingPath)) return value.split(/[\s,]+/).filter((item) => item !== '');
  if (!BOOLEAN_PATHS.has(settingPath)) return value;
  if (/^(true|1|yes|on)$/i.test(value)) return true;
  if (/^(false|0|no|off)$/i.test(value)) return false;
  throw new ConfigError(`${settingPath}: ${JSON.stringify(value)} is not a boolean (use true or false)`);
}

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    node[part] ??= {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1)!] = value;
}

function getPath(source: Record<string, unknown>, parts: string[]): unknown {
  let node: unknown = source;
  for (const part of parts) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function deepMerge(into: Record<string, unknown>, from: Record<string, unknown>): Record<string, unknown> {
  const out = { ...into };
  for (const [key, value] of Object.entries(from)) {
    const existing = out[key];
    const bothObjects = [existing, value].every((v) => typeof v === 'object' && v !== null && !Array.isArray(v));
    out[key] = bothObjects ? deepMerge(existing as Record<string, unknown>, value as Record<string, unknown>) : value;
  }
  return out;
}
