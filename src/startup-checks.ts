/**
 * Start-up checks: warnings for a setup that works but is likely a mistake, and one-line errors
 * for listeners that cannot bind.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import type { Logger } from './log.js';

/**
 * A coordinator that cannot start although its configuration is valid, such as a port in use.
 * The message is one line that names the setting and what to do, so `wonder serve` prints it
 * without a stack trace.
 */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

/** Returns true for the error of a `listen()` or `bind()` call that failed, such as EADDRINUSE. */
export function isBindError(error: unknown): error is NodeJS.ErrnoException {
  const { code, syscall } = error as Partial<NodeJS.ErrnoException>;
  return error instanceof Error && typeof code === 'string' && (syscall === 'listen' || syscall === 'bind');
}

/** Turns a failed bind of the listener that `setting` configures into a one-line {@link StartupError}. */
export function bindError(setting: string, address: { host: string; port: number }, transport: 'TCP' | 'UDP', error: NodeJS.ErrnoException): StartupError {
  const where = `${setting} ${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
  switch (error.code) {
    case 'EADDRINUSE':
      return new StartupError(
        `${where}: the ${transport} port is already in use, perhaps by another coordinator; stop that process or set ${setting} to another address`,
      );
    case 'EADDRNOTAVAIL':
      return new StartupError(`${where}: no network interface of this machine has that address; set ${setting} to one of its addresses, or 0.0.0.0 for all of them`);
    case 'EACCES':
      return new StartupError(
        `${where}: permission denied; ports below 1024 need root or the CAP_NET_BIND_SERVICE capability, so use a port of 1024 or above or grant the capability`,
      );
    default:
      return new StartupError(`${where}: cannot listen: ${error.message}`);
  }
}

/**
 * Warns when group or others have any access to `dataDir`, because `mkdir` with mode 0700 keeps
 * the mode of an existing folder. Other users who can write the folder can replace the database,
 * the keys or the admin socket. The admin socket needs no key, and at each start it is open to
 * anyone who can enter the folder for a moment, until its chmod to 0600.
 */
export function warnIfOpenToOthers(dataDir: string, log: Logger): void {
  const mode = fs.statSync(dataDir).mode & 0o777;
  if ((mode & 0o077) === 0) return;
  const resolved = path.resolve(dataDir);
  const octal = mode.toString(8).padStart(4, '0');
  log.warn({ dataDir: resolved, mode: octal }, `data_dir ${resolved} has mode ${octal}, so other users can reach its files; run chmod 700 ${resolved}`);
}

/** The embedded DERP region as the DERP map advertises it, and the addresses its listeners bind. */
export interface RelayReachability {
  /** `derp.host_name`, which clients resolve for each address family that `ipv4` or `ipv6` does not name. */
  hostName: string;
  /** `derp.ipv4` and `derp.ipv6`: an address clients dial instead of resolving the host name, or `none` to turn the family off. */
  ipv4?: string | undefined;
  ipv6?: string | undefined;
  derpListen: { host: string; port: number };
  /** Undefined when the STUN server does not run. */
  stunListen: { host: string; port: number } | undefined;
}

/**
 * Warns when the DERP map sends clients to a host that is not loopback while the relay or the
 * STUN server listens only on loopback. Clients on other machines then have no relay, which
 * `tailscale netcheck` shows only as a missing region.
 */
export function warnIfRelayOnLoopback(relay: RelayReachability, log: Logger): void {
  const dialed = [relay.ipv4 ?? relay.hostName, relay.ipv6 ?? relay.hostName].filter((host) => host !== 'none');
  const remoteHosts = [...new Set(dialed)].filter((host) => !isLoopbackHost(host));
  if (remoteHosts.length === 0) return;

  const listeners: Array<[string, { host: string; port: number } | undefined, string, number]> = [
    ['derp.listen_addr', relay.derpListen, 'the DERP relay', 8443],
    ['stun.listen_addr', relay.stunListen, 'STUN', 3478],
  ];
  for (const [setting, listen, what, defaultPort] of listeners) {
    if (listen === undefined || !isLoopbackHost(listen.host)) continue;
    const address = `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}`;
    log.warn(
      { setting, listen: address, advertisedHosts: remoteHosts },
      `the DERP map tells clients to dial ${remoteHosts.join(' and ')}, but ${setting} ${address} is a loopback address, so clients on other machines cannot use ${what}; ` +
        `set ${setting} to an address they reach, such as 0.0.0.0:${defaultPort}`,
    );
  }
}

/** Returns true for `localhost`, names under `.localhost`, 127.0.0.0/8, `::1` and IPv4-mapped 127.0.0.0/8. */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (net.isIPv4(name)) return name.startsWith('127.');
  if (net.isIPv6(name)) return name === '::1' || /^::ffff:127\./.test(name) || name === '0:0:0:0:0:0:0:1';
  return false;
}
