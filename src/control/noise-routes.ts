/**
 * Routing of HTTP/2 requests that arrive inside a Noise channel.
 *
 * Tailscale clients put the login URL's path prefix in front of `/machine/register` and
 * `/machine/map` (so `--login-server=http://h/hs` requests `/hs/machine/map`) but not in front
 * of the other `/machine/` calls. The router therefore matches everything from `/machine/` on,
 * whatever comes before it.
 */
import type { ServerStream } from '../../protocol/http2/server-stream.js';
import { StreamBodyError } from '../../protocol/http2/server-stream.js';
import type { MachinePublic } from '../../protocol/key.js';
import type { Logger } from '../log.js';

/** Facts about the client behind the Noise channel, passed to every handler. */
export interface NoiseRequestContext {
  /** The client's machine key, proven by the handshake. */
  machineKey: MachinePublic;
  /** The capability version from the handshake prologue. */
  protocolVersion: number;
  remoteAddress: string;
  /** Time a request's body may take to arrive, counted from when the handler starts reading it. */
  bodyTimeoutMs: number;
  log: Logger;
}

export type NoiseHandler = (stream: ServerStream, context: NoiseRequestContext) => void | Promise<void>;

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

/** The client closed the stream, or its connection, before the request was complete. */
export class RequestAbortedError extends Error {
  constructor() {
    super('the client closed the stream before the request body was complete');
    this.name = 'RequestAbortedError';
  }
}

/**
 * Reads a request body up to `limit` bytes, rejecting with a 408 RequestBodyError when it is
 * not complete within `timeoutMs`, so a stalled request cannot hold its connection open.
 *
 * A larger body rejects with a 413 RequestBodyError but leaves the stream open, so the caller
 * can still send that response; the rest of the body is discarded. A stream that the client
 * aborts rejects with RequestAbortedError.
 */
export async function readBody(stream: ServerStream, limit: number, timeoutMs: number): Promise<Buffer> {
  try {
    return await stream.readBody(limit, timeoutMs);
  } catch (error) {
    if (!(error instanceof StreamBodyError)) throw error;
    switch (error.reason) {
      case 'too-large':
        throw new RequestBodyError(413, error.message);
      case 'timeout':
        throw new RequestBodyError(408, error.message);
      case 'aborted':
        throw new RequestAbortedError();
    }
  }
}

export function respond(stream: ServerStream, status: number, body: string | Buffer, contentType = 'text/plain; charset=utf-8'): void {
  if (stream.closed) return;
  if (!stream.headersSent) stream.respond(status, { 'content-type': contentType });
  stream.end(body);
}

export function respondJson(stream: ServerStream, status: number, value: unknown): void {
  respond(stream, status, JSON.stringify(value), 'application/json');
}
