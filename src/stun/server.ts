/**
 * The STUN server of the embedded DERP region. It returns the source address and port of each
 * binding request, which is how clients learn their public endpoint and measure latency.
 *
 * Like Tailscale's own STUN server (tailscale.com/net/stunserver v1.92.5), it answers only
 * requests in tailscaled's form (SOFTWARE "tailnode" and a valid FINGERPRINT). Such a request is
 * 40 bytes and the answer at most 44, so the server cannot amplify spoofed traffic. Everything
 * else is dropped silently and counted; a log line per packet is written at debug level only.
 */
import dgram from 'node:dgram';

import { type StunCheck, StunError, buildBindingResponse, parseBindingRequest } from '../../protocol/stun/index.js';
import type { Logger } from '../log.js';

export interface StunServerOptions {
  host: string;
  /** 0 picks a free port; read the result from `address`. */
  port: number;
  log: Logger;
}

export interface StunStats {
  requests: number;
  responses: number;
  /** Packets that were not a binding request in tailscaled's form, by the check they failed. */
  dropped: Record<StunCheck, number>;
  /** Responses the socket failed to send. */
  sendErrors: number;
}

export class StunServer {
  readonly stats: StunStats = {
    requests: 0,
    responses: 0,
    dropped: {
      'not-stun': 0,
      'wrong-message-type': 0,
      'malformed-attributes': 0,
      'wrong-software': 0,
      'no-fingerprint': 0,
      'wrong-fingerprint': 0,
      'no-mapped-address': 0,
    },
    sendErrors: 0,
  };

  private constructor(
    private readonly socket: dgram.Socket,
    readonly address: { host: string; port: number },
    private readonly log: Logger,
  ) {
    socket.on('message', (packet, remote) => this.handle(packet, remote));
    socket.on('error', (error) => log.error({ err: error }, 'STUN socket failed'));
  }

  static async start(options: StunServerOptions): Promise<StunServer> {
    const socket = dgram.createSocket({ type: options.host.includes(':') ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(options.port, options.host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    const bound = socket.address();
    options.log.info({ listen: `${bound.address}:${bound.port}` }, 'STUN server listening');
    return new StunServer(socket, { host: bound.address, port: bound.port }, options.log);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private handle(packet: Buffer, remote: dgram.RemoteInfo): void {
    let transactionId: Uint8Array;
    try {
      transactionId = parseBindingRequest(packet, { requireTailscale: true }).transactionId;
    } catch (error) {
      if (!(error instanceof StunError)) throw error;
      this.stats.dropped[error.check] += 1;
      this.log.debug({ remote: `${remote.address}:${remote.port}`, length: packet.length, reason: error.message }, 'dropped STUN packet');
      return;
    }

    this.stats.requests += 1;
    let response: Buffer;
    try {
      // A link-local IPv6 source carries a zone ("fe80::1%eth0"), which the response has no room for.
      response = buildBindingResponse(transactionId, { ip: remote.address.replace(/%.*$/, ''), port: remote.port });
    } catch (error) {
      this.stats.sendErrors += 1;
      this.log.debug({ remote: `${remote.address}:${remote.port}`, err: (error as Error).message }, 'STUN response not built');
      return;
    }
    this.socket.send(response, remote.port, remote.address, (error) => {
      if (error) {
        this.stats.sendErrors += 1;
        this.log.debug({ remote: `${remote.address}:${remote.port}`, err: error.message }, 'STUN response not sent');
        return;
      }
      this.stats.responses += 1;
    });
  }
}
