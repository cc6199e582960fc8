/**
 * Coordinator configuration: defaults, then a YAML file, then environment variables, then
 * command-line overrides, each stronger than the one before. With no file at all the
 * coordinator runs on loopback with its state under `./data`.
 *
 * Every setting has an environment variable named after its path: `log.level` is
 * `WONDER_LOG_LEVEL`, `server_url` is `WONDER_SERVER_URL`.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';

import { parseDuration } from './duration.js';

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
    server_url: z.url({ protocol: /^https?$/ }).optional(),
    listen_addr: hostPort.default('127.0.0.1:8080'),
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
        /** Time a client has after the handshake to open its first HTTP/2 stream. */
        first_request_timeout: duration('control.first_request_timeout').default(30_000),
        /** Serves POST /wonder/echo inside the Noise channel, for interop tests only. */
        echo_route: z.boolean().default(false),
        /** Base interval between map stream keepalives; up to 9 s of jitter is added. Clients give up after 120 s. */
        map_keepalive_interval: duration('control.map_keepalive_interval').default(50_000),
      })
      .strict()
      .default({ first_request_timeout: 30_000, echo_route: false, map_keepalive_interval: 50_000 }),
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

export interface Config extends Omit<z.output<typeof ConfigSchema>, 'server_url' | 'noise' | 'database'> {
  server_url: string;
  noise: { private_key_path: string };
  database: { path: string };
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
  const connectHost = listen.host === '0.0.0.0' ? '127.0.0.1' : listen.host === '::' ? '[::1]' : urlHost;
  const serverUrl = (parsed.server_url ?? `http://${connectHost}:${listen.port}`).replace(/\/+$/, '');
  return {
    ...parsed,
    server_url: serverUrl,
    listen,
    noise: { private_key_path: parsed.noise.private_key_path ?? path.join(parsed.data_dir, 'noise.key') },
    database: { path: parsed.database.path ?? path.join(parsed.data_dir, 'wonder.sqlite') },
  };
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
  'data_dir',
  'noise.private_key_path',
  'control.first_request_timeout',
  'control.echo_route',
  'control.map_keepalive_interval',
  'database.path',
  'tailnet.ipv4_prefix',
  'tailnet.ipv6_prefix',
  'tailnet.base_domain',
  'tailnet.node_key_expiry',
  'tailnet.ephemeral_inactivity_timeout',
  'log.level',
  'log.format',
];
const BOOLEAN_PATHS = new Set(['control.echo_route']);
const ENV_TO_PATH = new Map(LEAF_PATHS.map((p) => [ENV_PREFIX + p.replace(/\./g, '_').toUpperCase(), p]));

function coerce(settingPath: string, value: string): unknown {
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
