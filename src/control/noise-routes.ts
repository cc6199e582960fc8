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
 * can still send that response. The rest of the body is discarded. A `for await` loop would
 * destroy the stream as it stops early, and the client would then get only RST_STREAM. A
 * stream that the client aborts rejects with RequestAbortedError.
 */
export function readBody(stream: ServerHttp2Stream, limit: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let total = 0;
    const timer = setTimeout(() => {
      finish();
      reject(new RequestBodyError(408, `request body not complete within ${timeoutMs} ms`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) {
        finish();
        reject(new RequestBodyError(413, `request body exceeds ${limit} bytes`));
        return;
      }
      parts.push(chunk);
    };
    const onEnd = () => {
      finish();
      // Node 20 ends the readable side of an aborted stream too, so an end is no proof of END_STREAM.
      if (stream.aborted || stream.destroyed) reject(new RequestAbortedError());
      else resolve(Buffer.concat(parts));
    };
    const onClose = () => {
      finish();
      reject(new RequestAbortedError());
    };
    const finish = () => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onClose);
      // Discards the rest of an oversized body instead of leaving it in flow control.
      stream.resume();
    };
    if (stream.destroyed || stream.closed) {
      onClose();
      return;
    }
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('close', onClose);
  });
}

export function respond(stream: ServerHttp2Stream, status: number, body: string | Buffer, contentType = 'text/plain; charset=utf-8'): void {
  if (stream.destroyed || stream.closed) return;
  if (!stream.headersSent) stream.respond({ ':status': status, 'content-type': contentType });
  stream.end(body);
}

export function respondJson(stream: ServerHttp2Stream, status: number, value: unknown): void {
  respond(stream, status, JSON.stringify(value), 'application/json');
}
