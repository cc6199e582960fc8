/**
 * The address a request counts under: its TCP peer, or, behind a trusted reverse proxy, the
 * client address that the proxy put in X-Forwarded-For.
 */
import type { IncomingMessage } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';

export type ClientAddressOf = (request: IncomingMessage) => string;

/**
 * Returns a function that gives a request's client IP address. X-Forwarded-For is read only
 * from the hops in `trustedProxies`, from the nearest one outwards, so a client cannot choose
 * the address it is counted under by sending the header itself.
 */
export function clientAddressResolver(trustedProxies: readonly string[]): ClientAddressOf {
  const trust = proxyAddr.compile([...trustedProxies]);
  return (request) => proxyAddr(request, trust);
}
