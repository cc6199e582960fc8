/**
 * Starts the embedded DERP relay from its settings: the relay key, the TLS certificate, the
 * HTTPS listener and the DERP map that includes the bound ports. With the relay switched off,
 * only the DERP map from the extra file is served.
 */
import path from 'node:path';

import type { DERPMap } from '../../protocol/tailcfg/derp-map.js';
import { loadOrCreatePrivateKey } from '../key-file.js';
import type { Logger } from '../log.js';
import { buildDerpMap, readDerpMapFile } from './derp-map.js';
import { type DerpListener, startDerpListener } from './http.js';
import { DerpRelay } from './relay.js';
import { loadOrCreateCertificate, uncoveredNames } from './tls-cert.js';
import type { ClientVerifier } from './verifier.js';

/** The `derp` configuration section after defaults are applied. */
export interface DerpSettings {
  enabled: boolean;
  listen: { host: string; port: number };
  private_key_path: string;
  region_id: number;
  region_code: string;
  region_name: string;
  host_name: string;
  ipv4?: string | undefined;
  ipv6?: string | undefined;
  extra_map_path?: string | undefined;
  keepalive_interval: number;
  handshake_timeout: number;
  write_timeout: number;
  send_queue_packets: number;
  /** Bytes per second each client may send; 0 for no limit. */
  client_rate_limit: number;
  client_rate_burst: number;
  tls: { cert_path?: string | undefined; key_path?: string | undefined };
}

export interface DerpServiceOptions {
  settings: DerpSettings;
  dataDir: string;
  verifyClient: ClientVerifier;
  /** The bound STUN port, or -1 when no STUN server runs. */
  stunPort: number;
  log: Logger;
  /** Interval at which connected clients are verified again; default 60 s. */
  recheckIntervalMs?: number;
}

export interface DerpService {
  /** The relay, or undefined when `derp.enabled` is false. */
  relay: DerpRelay | undefined;
  /** The bound address of the relay's listener. */
  address: { host: string; port: number } | undefined;
  derpMap(): DERPMap;
  close(): Promise<void>;
}

/**
 * @throws {DerpMapError} for an unusable extra map, {@link CertificateError} for an unusable
 * configured certificate, {@link KeyFileError} for a damaged key file.
 */
export async function startDerpService(options: DerpServiceOptions): Promise<DerpService> {
  const { settings, log } = options;
  const extra = settings.extra_map_path === undefined ? undefined : readDerpMapFile(settings.extra_map_path);
  if (!settings.enabled) {
    const map = buildDerpMap(undefined, extra, settings.extra_map_path);
    log.info({ regions: Object.keys(map.Regions) }, 'embedded DERP relay is off; serving the DERP map file only');
    return { relay: undefined, address: undefined, derpMap: () => map, close: async () => {} };
  }

  const { key, created } = loadOrCreatePrivateKey(settings.private_key_path, {
    replacementEffect: 'connected DERP clients will reconnect and learn the new key',
  });
  const relay = new DerpRelay({
    privateKey: key,
    verifyClient: options.verifyClient,
    log,
    keepAliveIntervalMs: settings.keepalive_interval,
    handshakeTimeoutMs: settings.handshake_timeout,
    writeTimeoutMs: settings.write_timeout,
    sendQueueDepth: settings.send_queue_packets,
    ...(options.recheckIntervalMs === undefined ? {} : { recheckIntervalMs: options.recheckIntervalMs }),
    ...(settings.client_rate_limit > 0 ? { clientRateLimit: { bytesPerSecond: settings.client_rate_limit, burstBytes: settings.client_rate_burst } } : {}),
  });
  log.info({ path: settings.private_key_path, publicKey: relay.publicKey.toString(), created }, created ? 'created DERP key' : 'loaded DERP key');

  const ipAddresses = [settings.ipv4, settings.ipv6].filter((address): address is string => address !== undefined && address !== 'none');
  const certificate = await loadOrCreateCertificate({
    dataDir: options.dataDir,
    hostName: settings.host_name,
    ipAddresses,
    certPath: settings.tls.cert_path,
    keyPath: settings.tls.key_path,
  });
  const certLog = { notAfter: certificate.notAfter.toISOString(), certName: certificate.certName };
  if (certificate.origin.kind === 'created') log.info({ ...certLog, reason: certificate.origin.reason, dir: path.resolve(options.dataDir) }, 'created self-signed DERP certificate');
  else log.info({ ...certLog, origin: certificate.origin.kind }, 'loaded DERP certificate');
  if (certificate.origin.kind === 'configured') {
    for (const name of uncoveredNames(certificate.cert, settings.host_name)) {
      log.warn({ hostName: name, certPath: settings.tls.cert_path }, 'the configured DERP certificate does not cover the DERP host name; clients will reject it');
    }
  }

  const bootstrapDns = new Map<string, string[]>(ipAddresses.length > 0 ? [[settings.host_name.toLowerCase(), ipAddresses]] : []);
  let listener: DerpListener;
  try {
    listener = await startDerpListener({
      host: settings.listen.host,
      port: settings.listen.port,
      tls: { cert: certificate.cert, key: certificate.key },
      relay,
      log,
      bootstrapDns,
    });
  } catch (error) {
    relay.close();
    throw error;
  }

  let map: DERPMap;
  try {
    map = buildDerpMap(
      {
        regionId: settings.region_id,
        regionCode: settings.region_code,
        regionName: settings.region_name,
        hostName: settings.host_name,
        ipv4: settings.ipv4,
        ipv6: settings.ipv6,
        derpPort: listener.address.port,
        stunPort: options.stunPort,
        certName: certificate.certName,
      },
      extra,
      settings.extra_map_path,
    );
  } catch (error) {
    await listener.close();
    throw error;
  }

  return { relay, address: listener.address, derpMap: () => map, close: () => listener.close() };
}
