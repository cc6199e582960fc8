/**
 * HTTP/2 served over controlbase connections: Tailscale clients speak HTTP/2 with prior
 * knowledge inside the Noise channel and multiplex the long-lived map stream, registration and
 * lite map updates over that one connection. A connection is closed once it has had no
 * request in flight for the idle timeout, so an open map stream keeps it however quiet it is.
 */
import { Http2ProtocolError, ServerConnection } from '../../protocol/http2/server-connection.js';
import { StreamClosedError, type ServerStream } from '../../protocol/http2/server-stream.js';
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

/** Log lines per minute about connections closed for HTTP/2 errors and stalled streams; the rest are counted. */
const HTTP2_PROBLEM_LOGS_PER_MINUTE = 20;

export class NoiseServer {
  private readonly connections = new Set<ControlConn>();
  private readonly rejectedRequestLogs = new LogLimiter(REJECTED_REQUEST_LOGS_PER_MINUTE, 60_000);
  private readonly http2ProblemLogs = new LogLimiter(HTTP2_PROBLEM_LOGS_PER_MINUTE, 60_000);

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

    // The timer runs whenever no request is in flight: first until the first request, then for
    // the idle timeout. A request is in flight until its stream closes, so an open map stream or
    // a waiting login keeps the connection.
    let idleTimer = setTimeout(() => {
      log.info({ timeoutMs: this.options.firstRequestTimeoutMs }, 'closing control connection: no HTTP/2 request after the handshake');
      conn.destroy();
    }, this.options.firstRequestTimeoutMs);
    let requestsInFlight = 0;

    const http2 = new ServerConnection(conn, {
      maxConcurrentStreams: this.options.maxConcurrentStreams,
      onProtocolError: (error: Http2ProtocolError) => {
        const suppressed = this.http2ProblemLogs.take();
        if (suppressed !== undefined) log.info({ err: error.message, suppressedSinceLastLog: suppressed }, 'closing control connection: HTTP/2 protocol error');
      },
      onStalledStream: (stream) => {
        const suppressed = this.http2ProblemLogs.take();
        if (suppressed !== undefined) {
          log.info({ path: normalizePath(stream.path), unsentBytes: stream.bufferedBytes, suppressedSinceLastLog: suppressed }, 'resetting a stream whose client stopped reading its response');
        }
      },
      onStream: (stream) => {
        clearTimeout(idleTimer);
        requestsInFlight += 1;
        stream.once('close', () => {
          requestsInFlight -= 1;
          if (requestsInFlight > 0 || conn.destroyed) return;
          idleTimer = setTimeout(() => {
            log.debug({ timeoutMs: this.options.idleTimeoutMs }, 'closing idle control connection');
            conn.destroy();
          }, this.options.idleTimeoutMs);
        });
        this.dispatch(stream, context);
      },
    });
    this.connections.add(conn);

    conn.on('data', (chunk: Buffer) => http2.receive(chunk));
    conn.on('close', () => {
      clearTimeout(idleTimer);
      this.connections.delete(conn);
      http2.transportClosed();
      log.debug('control connection closed');
    });
  }

  private dispatch(stream: ServerStream, context: NoiseRequestContext): void {
    const { method, path: rawPath } = stream;

    const handler = this.options.router.match(method, rawPath);
    if (handler === undefined) {
      context.log.debug({ method, path: normalizePath(rawPath) }, 'no route inside the Noise channel');
      respond(stream, 404, 'not found\n');
      return;
    }

    Promise.resolve()
      .then(() => handler(stream, context))
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

  /** Ends every control connection, for shutdown. */
  closeAll(): void {
    for (const conn of this.connections) conn.destroy();
    this.connections.clear();
  }
}

/**
 * Reports whether a handler failed because the client went away: its body was cut short, or
 * the stream was already closed when the handler wrote to it. Clients do that routinely, for
 * example when they cancel a map poll, so it is no server error.
 */
function isClientDisconnect(error: unknown, stream: ServerStream): boolean {
  if (error instanceof RequestAbortedError) return true;
  return stream.closed && error instanceof StreamClosedError;
}

/** Reports whether a socket error means only that the client dropped its TCP connection. */
function isConnectionReset(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}
