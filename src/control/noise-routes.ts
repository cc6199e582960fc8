/**
 * Routing of HTTP/2 requests that arrive inside a Noise channel.
 *
 * Tailscale clients put the login URL's path prefix in front of `/machine/register` and
 * `/machine/map` (so `--login-server=http://h/hs` requests `/hs/machine/map`) but not in front
 * of the other `/machine/` calls. The router therefore matches everything from `/machine/` on,
 * whatever comes before it.
 */
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';

import type { MachinePublic } from '../../protocol/key.js';
import type { Logger } from '../log.js';

/** What a handler knows about the client behind the Noise channel. */
export interface NoiseRequestContext {
  /** The client's machine key, proven by the handshake. */
  machineKey: MachinePublic;
  /** The capability version from the handshake prologue. */
  protocolVersion: number;
  remoteAddress: string;
  log: Logger;
}

export type NoiseHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, context: NoiseRequestContext) => void | Promise<void>;

export class NoiseRouter {
  private readonly routes = new Map<string, NoiseHandler>();

  /** Registers a handler for `method` and `path` (`/machine/...` paths also match behind a prefix). */
  add(method: string, path: string, handler: NoiseHandler): this {
    this.routes.set(`${method} ${path}`, handler);
    return this;
  }

  /** Finds the handler for a request, or undefined for a 404. */
  match(method: string, rawPath: string): NoiseHandler | undefined {
    const path = normalizePath(rawPath);
    return this.routes.get(`${method} ${path}`);
  }
}

export function normalizePath(rawPath: string): string {
  const withoutQuery = rawPath.split('?', 1)[0]!;
  const machineIndex = withoutQuery.indexOf('/machine/');
  return machineIndex > 0 ? withoutQuery.slice(machineIndex) : withoutQuery;
}

export class RequestBodyError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'RequestBodyError';
  }
}

/** Reads a request body up to `limit` bytes. */
export async function readBody(stream: ServerHttp2Stream, limit: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += (chunk as Buffer).length;
    if (total > limit) throw new RequestBodyError(413, `request body exceeds ${limit} bytes`);
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}

export function respond(stream: ServerHttp2Stream, status: number, body: string | Buffer, contentType = 'text/plain; charset=utf-8'): void {
  if (stream.destroyed || stream.closed) return;
  if (!stream.headersSent) stream.respond({ ':status': status, 'content-type': contentType });
  stream.end(body);
}

export function respondJson(stream: ServerHttp2Stream, status: number, value: unknown): void {
  respond(stream, status, JSON.stringify(value), 'application/json');
}
