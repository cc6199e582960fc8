/**
 * Start-up checks: warnings for a setup that works but is likely a mistake, and one-line errors
 * for listeners that cannot bind.
 */
import fs from 'node:fs';
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
