/**
 * The admin socket: the API on a Unix domain socket with mode 0600, for the `wonder` CLI on the
 * coordinator's own machine. Only the owner of the socket file (and root) can connect, so
 * requests on it need no API key.
 */
import fs from 'node:fs';
import net from 'node:net';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';

import type { Logger } from '../log.js';
import { adminApi, type AdminApiOptions, API_PREFIX } from './plugin.js';
import { strictValidation } from './validation.js';

/** `sun_path` has room for 108 bytes on Linux and 104 on macOS, including the terminating zero. */
const MAX_SOCKET_PATH_BYTES = 103;

export class AdminSocketError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdminSocketError';
  }
}

/**
 * Serves the API on `socketPath`, replacing a stale socket file that no process listens on.
 * @throws {AdminSocketError} when the path is too long, is not a socket, or another process serves it.
 */
export async function startAdminSocket(options: {
  socketPath: string;
  log: Logger;
  api: Omit<AdminApiOptions, 'access'>;
}): Promise<FastifyInstance> {
  const { socketPath, log } = options;
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw new AdminSocketError(`admin socket path ${socketPath} is longer than ${MAX_SOCKET_PATH_BYTES} bytes; use a shorter data_dir`);
  }
  await removeStaleSocket(socketPath, log);

  const app = Fastify({
    ...strictValidation,
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
  });
  await app.register(adminApi, { prefix: API_PREFIX, ...options.api, access: 'admin-socket' });
  await app.listen({ path: socketPath });
  // NOTE: the socket exists with the umask's mode until this chmod. data_dir is created with
  // mode 0700, which keeps other users out in that moment; a data_dir with looser
  // permissions does not.
  fs.chmodSync(socketPath, 0o600);
  log.info({ path: socketPath }, 'admin socket listening');
  return app;
}

async function removeStaleSocket(socketPath: string, log: Logger): Promise<void> {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(socketPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (!stat.isSocket()) throw new AdminSocketError(`${socketPath} exists and is not a socket; move it away so the admin socket can be created`);
  if (await socketAcceptsConnections(socketPath)) {
    throw new AdminSocketError(
      `another process is serving the admin socket ${socketPath}, probably a coordinator with the same data_dir; stop it, or give this coordinator another data_dir`,
    );
  }
  fs.unlinkSync(socketPath);
  log.info({ path: socketPath }, 'removed a stale admin socket');
}

function socketAcceptsConnections(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
