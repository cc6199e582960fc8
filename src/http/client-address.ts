/**
 * The address a request counts under: its TCP peer, or, behind a trusted reverse proxy, the
 * client address that the proxy put in X-Forwarded-For.
 */
import type { IncomingMessage } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';

import { formatIPAddress } from '../../protocol/ip-address.js';
import { parseClientAddress } from '../source-address.js';

export type ClientAddressOf = (request: IncomingMessage) => string;

/**
 * Returns a function that gives a request's client IP address. X-Forwarded-For is read only
 * from the hops in `trustedProxies`, from the nearest one outwards, so a client cannot choose
 * the address it is counted under by sending the header itself.
 */
export function clientAddressResolver(trustedProxies: readonly string[]): ClientAddressOf {
  const trust = proxyAddr.compile([...trustedProxies]);
  return (request) => {
    const peer = request.socket.remoteAddress ?? 'unknown';
    const found = proxyAddr(request, trust);
    if (found === peer) return peer;
    // A value the proxy wrote that is no address counts under the proxy itself.
    return canonicalAddress(found) ?? peer;
  };
}

/**
 * Returns an address from X-Forwarded-For in one spelling, without a port or zone. So
 * "10.0.0.1:5000", "::ffff:10.0.0.1" and "10.0.0.1" count as one client. Text that is no
 * address gives undefined.
 */
function canonicalAddress(text: string): string | undefined {
  const bytes = parseClientAddress(text.trim());
  return bytes === undefined ? undefined : formatIPAddress(bytes);
}
