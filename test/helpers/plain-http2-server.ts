/**
 * Our HTTP/2 server connection on a plain loopback TCP port, without Noise, so that HTTP/2
 * test tools that speak only TCP (h2spec, nghttp2's client) can exercise the framing. Every
 * request gets its body read and a short 200 response.
 */
import net from 'node:net';

import { type Http2ProtocolError, ServerConnection } from '../../protocol/http2/server-connection.js';
import type { ServerStream } from '../../protocol/http2/server-stream.js';

export interface PlainHttp2Server {
  port: number;
  /** Protocol errors the server closed connections for, newest last. */
  protocolErrors: Http2ProtocolError[];
  close(): Promise<void>;
}

/** The response body of every request. */
export const PLAIN_RESPONSE = 'hello from the wonder HTTP/2 framer\n';

export async function startPlainHttp2Server(onStream?: (stream: ServerStream) => void): Promise<PlainHttp2Server> {
  const protocolErrors: Http2ProtocolError[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const connection = new ServerConnection(socket, {
      onProtocolError: (error) => protocolErrors.push(error),
      onStream: onStream ?? answer,
    });
    socket.on('data', (chunk: Buffer) => connection.receive(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      connection.transportClosed();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    protocolErrors,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function answer(stream: ServerStream): void {
  stream.readBody(1024 * 1024, 5_000).then(
    () => {
      stream.respond(200, { 'content-type': 'text/plain' });
      stream.end(PLAIN_RESPONSE);
    },
    () => stream.close(),
  );
}
