/**
 * A test route inside the Noise channel: `POST /wonder/echo` returns the request body. Interop
 * tests use it to prove that a real Tailscale client's HTTP/2 requests cross our channel
 * intact. It is off unless `control.echo_route` is set.
 */
import { type NoiseRouter, readBody, respond } from './noise-routes.js';

export const ECHO_PATH = '/wonder/echo';
const MAX_ECHO_BYTES = 16 * 1024 * 1024;

export function registerEchoRoute(router: NoiseRouter): void {
  router.add('POST', ECHO_PATH, async (stream, context) => {
    const body = await readBody(stream, MAX_ECHO_BYTES, context.bodyTimeoutMs);
    context.log.debug({ bytes: body.length }, 'echo request');
    respond(stream, 200, body, 'application/octet-stream');
  });
}
