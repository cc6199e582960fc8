/**
 * HTTP/2 served over controlbase connections: Tailscale clients speak HTTP/2 with prior
 * knowledge inside the Noise channel and multiplex the long-lived map stream, registration and
 * lite map updates over that one connection. A connection is closed once it has had no
 * request in flight for the idle timeout, so an open map stream keeps it however quiet it is.
 */
import http2, { type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';

import type { ControlConn } from '../../protocol/controlbase/conn.js';
import type { Logger } from '../log.js';
import { LogLimiter } from '../log-limiter.js';
import { type NoiseRequestContext, type NoiseRouter, RequestAbortedError, RequestBodyError, normalizePath, respond } from './noise-routes.js';

export interface NoiseServerOptions {
  router: NoiseRouter;
  log: Logger;
  /** Time a client has after the handshake to open its first stream, and to send each request's body. */
  firstRequestTimeoutMs: number;
  /** Time after which a connection with no request in flight is closed. */
  idleTimeoutMs: number;
  /** Concurrent streams per connection; a client needs a handful (map, register, lite updates). */
  maxConcurrentStreams?: number;
}

/** Log lines per minute about requests rejected for their body; the rest are counted. */
const REJECTED_REQUEST_LOGS_PER_MINUTE = 20;

export class NoiseServer {
  private readonly connections = new Map<ServerHttp2Session, ControlConn>();
  private readonly rejectedRequestLogs = new LogLimiter(REJECTED_REQUEST_LOGS_PER_MINUTE, 60_000);

  constructor(private readonly options: NoiseServerOptions) {}

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Takes over a freshly handshaken connection and serves HTTP/2 on it until either side closes. */
  serve(conn: ControlConn, remoteAddress: string): void {
    const log = this.options.log.child({ remote: remoteAddress, machine: conn.peer.short() });
    const context: NoiseRequestContext = {
      machineKey: conn.peer,
      protocolVersion: conn.protocolVersion,
      remoteAddress,
      bodyTimeoutMs: this.options.firstRequestTimeoutMs,
      log,
    };

    conn.on('error', (error) => {
      if (isConnectionReset(error)) log.debug({ err: error.message }, 'control connection reset by the client');
      else log.warn({ err: error.message }, 'control connection failed');
    });

    // TODO: serve HTTP/2 with a framer of our own instead of node:http2, whose nghttp2 state alone
    // takes about 22 KiB per session. An idle node costs about 68 KiB of RSS at 10,000 nodes
    // against a 40 KiB target; docs/benchmarks.md has the breakdown and what the framer needs.
    const session = http2.performServerHandshake(conn, {
      settings: { maxConcurrentStreams: this.options.maxConcurrentStreams ?? 100 },
    });
    this.connections.set(session, conn);

    // The timer runs whenever no request is in flight: first until the first request, then for
    // the idle timeout. A request is in flight until its response is complete or its stream
    // closes, so an open map stream or a waiting login keeps the connection.
    let idleTimer = setTimeout(() => {
      log.info({ timeoutMs: this.options.firstRequestTimeoutMs }, 'closing control connection: no HTTP/2 request after the handshake');
      conn.destroy();
    }, this.options.firstRequestTimeoutMs);
    let requestsInFlight = 0;

    session.on('stream', (stream, headers) => {
      clearTimeout(idleTimer);
      requestsInFlight += 1;
      let done = false;
      const onDone = () => {
        if (done) return;
        done = true;
        requestsInFlight -= 1;
        if (requestsInFlight > 0 || conn.destroyed) return;
        idleTimer = setTimeout(() => {
          log.debug({ timeoutMs: this.options.idleTimeoutMs }, 'closing idle control connection');
          conn.destroy();
        }, this.options.idleTimeoutMs);
      };
      // Node 20 keeps a stream whose body was read open until the client ends it, even after the
      // response, so a client that stalls after a 408 would otherwise keep the connection.
      stream.once('finish', onDone);
      stream.once('close', onDone);
      this.dispatch(stream, headers, context);
    });
    session.on('error', (error) => {
      if (isConnectionReset(error)) log.debug({ err: error.message }, 'HTTP/2 session reset by the client');
      else log.warn({ err: error.message }, 'HTTP/2 session failed');
    });
    session.on('close', () => {
      clearTimeout(idleTimer);
      this.connections.delete(session);
      if (!conn.destroyed) conn.destroy();
      log.debug('control connection closed');
    });
  }

  private dispatch(stream: ServerHttp2Stream, headers: http2.IncomingHttpHeaders, context: NoiseRequestContext): void {
    const method = headers[':method'] ?? 'GET';
    const rawPath = headers[':path'] ?? '/';
    stream.on('error', (error) => context.log.debug({ err: error.message, path: rawPath }, 'HTTP/2 stream failed'));

    const handler = this.options.router.match(method, rawPath);
    if (handler === undefined) {
      context.log.debug({ method, path: normalizePath(rawPath) }, 'no route inside the Noise channel');
      respond(stream, 404, 'not found\n');
      return;
    }

    Promise.resolve()
      .then(() => handler(stream, headers, context))
      .catch((error: unknown) => {
        if (error instanceof RequestBodyError) {
          const suppressed = this.rejectedRequestLogs.take();
          if (suppressed !== undefined) {
            context.log.info({ status: error.status, reason: error.message, method, path: rawPath, suppressedSinceLastLog: suppressed }, 'rejected control request');
          }
          respond(stream, error.status, `${error.message}\n`);
          return;
        }
        if (isClientDisconnect(error, stream)) {
          context.log.debug({ reason: (error as Error).message, code: (error as { code?: unknown }).code, method, path: rawPath }, 'control request ended by the client');
          return;
        }
        context.log.error({ err: error, method, path: rawPath }, 'control request handler failed');
        respond(stream, 500, 'internal server error\n');
      });
  }

  /**
   * Ends every control connection, for shutdown.
   *
   * NOTE: connections are ended by destroying the controlbase stream, never the HTTP/2 session.
   * Node 20's `session.destroy()` writes a GOAWAY through its internal JSStreamSocket even while
   * an earlier write is still in flight, which fails an internal assertion and kills the process.
   * Closing the stream underneath lets the session cancel its pending writes first.
   */
  closeAll(): void {
    for (const conn of this.connections.values()) conn.destroy();
    this.connections.clear();
  }
}

/**
 * Reports whether a handler failed because the client went away: its body was cut short, or
 * the stream was already closed when the handler wrote to it. Clients do that routinely, for
 * example when they cancel a map poll, so it is no server error.
 */
function isClientDisconnect(error: unknown, stream: ServerHttp2Stream): boolean {
  if (error instanceof RequestAbortedError) return true;
  if (!(stream.aborted || stream.destroyed || stream.closed)) return false;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(ERR_STREAM_|ERR_HTTP2_|ECONNRESET$|EPIPE$)/.test(code);
}

/** Reports whether a socket error means only that the client dropped its TCP connection. */
function isConnectionReset(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}
