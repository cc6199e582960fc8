/**
 * The public HTTP listener: `GET /key` (also under any path prefix), the `/ts2021` control
 * upgrade, health checks, the sign-in and login pages and the user API. They share one port and
 * the root path, because clients open `/ts2021` at the host root whatever path the login URL has.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import fastifyCookie from '@fastify/cookie';
import fastifyFormBody from '@fastify/formbody';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';

import type { MachinePublic } from '../../protocol/key.js';
import { UPGRADE_PATH } from '../../protocol/ts2021/upgrade.js';
import { API_PREFIX } from '../api/plugin.js';
import { userApi } from '../api/join-tokens.js';
import { strictValidation } from '../api/validation.js';
import { rejectUpgrade } from '../control/ts2021.js';
import type { Logger } from '../log.js';
import { LogLimiter } from '../log-limiter.js';
import type { AuthContext } from './auth-context.js';
import { parseRequestTarget } from './request-target.js';
import { registerLoginPage } from './register-page.js';
import { registerSignInPages } from './sign-in-pages.js';

/** Handles an HTTP upgrade for one path, such as `/ts2021` or `/derp`. */
export type UpgradeHandler = (request: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface HttpAppOptions {
  log: Logger;
  noisePublicKey: MachinePublic;
  upgrades: Map<string, UpgradeHandler>;
  /** Sign-in, sessions and join tokens: the browser pages and the user API under /api/v1. */
  auth: AuthContext;
  /** Reverse proxies whose X-Forwarded-For gives `request.ip`; see the `trusted_proxies` setting. */
  trustedProxies?: readonly string[];
}

/** `legacyPublicKey` is for pre-Noise clients; 1.92 ignores it, so the all-zero key is sent. */
const ZERO_MACHINE_KEY = `mkey:${'0'.repeat(64)}`;

const KEY_QUERY_SCHEMA = {
  type: 'object',
  properties: { v: { type: 'integer', minimum: 0, description: 'the client capability version' } },
} as const;

/** Maximum number of requests without a route that are logged per minute. The rest are counted in the next logged line. */
const NOT_FOUND_LOGS_PER_MINUTE = 20;

function keyResponse(noisePublicKey: MachinePublic) {
  return { legacyPublicKey: ZERO_MACHINE_KEY, publicKey: noisePublicKey.toString() };
}

/**
 * Serves `GET <prefix>/key` like `GET /key`, and logs other requests without a route.
 *
 * A login URL with a path, such as `http://host:8080/hs`, makes tailscaled fetch `/hs/key`. It
 * still opens `/ts2021` at the host root and sends its register and map requests inside the
 * Noise channel, so serving the key under any prefix is all such a URL needs.
 */
function registerNotFoundHandler(app: FastifyInstance, options: HttpAppOptions): void {
  const limiter = new LogLimiter(NOT_FOUND_LOGS_PER_MINUTE, 60_000);
  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split('?', 1)[0]!;
    if (request.method === 'GET' && path.endsWith('/key')) {
      const validate = request.compileValidationSchema(KEY_QUERY_SCHEMA, 'querystring');
      if (!validate(request.query)) throw validationError(validate.errors ?? []);
      request.log.debug({ path: path.slice(0, 200) }, 'served the Noise key under a path prefix');
      return keyResponse(options.noisePublicKey);
    }

    const suppressed = limiter.take();
    if (suppressed !== undefined) {
      request.log.info({ method: request.method, path: path.slice(0, 200), remote: request.ip, suppressedSinceLastLog: suppressed }, 'no route for request');
    }
    return reply.code(404).send({ message: `Route ${request.method}:${request.url} not found`, error: 'Not Found', statusCode: 404 });
  });
}

/** Builds the error that fastify's own query validation raises, so `<prefix>/key` fails exactly like `/key`. */
function validationError(errors: ReadonlyArray<{ instancePath: string; message?: string | undefined }>): Error {
  const message = errors.map((error) => `querystring${error.instancePath} ${error.message ?? 'is invalid'}`).join(', ');
  return Object.assign(new Error(message), { statusCode: 400, code: 'FST_ERR_VALIDATION', validation: errors, validationContext: 'querystring' });
}

export function buildHttpApp(options: HttpAppOptions): FastifyInstance {
  const app = Fastify({
    ...strictValidation,
    ...(options.trustedProxies !== undefined && options.trustedProxies.length > 0 ? { trustProxy: [...options.trustedProxies] } : {}),
    loggerInstance: options.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    // A client that has not sent its whole request head 10 s after it connected is dropped
    // within the next second: Node checks these timeouts every connectionsCheckingInterval.
    http: { headersTimeout: 10_000, requestTimeout: 60_000, connectionsCheckingInterval: 1_000 },
  });

  app.get(
    '/key',
    {
      schema: {
        querystring: KEY_QUERY_SCHEMA,
        response: {
          200: {
            type: 'object',
            properties: { legacyPublicKey: { type: 'string' }, publicKey: { type: 'string' } },
            required: ['legacyPublicKey', 'publicKey'],
          },
        },
      },
    },
    async () => keyResponse(options.noisePublicKey),
  );
  registerNotFoundHandler(app, options);

  // Reached only by requests to /ts2021 without the upgrade headers.
  app.route({
    method: ['GET', 'POST'],
    url: UPGRADE_PATH,
    schema: { querystring: { type: 'object', additionalProperties: true } },
    handler: async (_request, reply) =>
      reply.code(400).type('text/plain; charset=utf-8').send('ts2021 requires Upgrade: tailscale-control-protocol or a WebSocket\n'),
  });

  app.get('/health', { schema: { response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } } }, async () => ({
    status: 'ok',
  }));

  void app.register(fastifyCookie, { secret: options.auth.cookieSecret });
  void app.register(fastifyFormBody, { bodyLimit: 16 * 1024 });
  void app.register(async (pages) => {
    registerSignInPages(pages, options.auth);
    registerLoginPage(pages, options.auth);
  });
  void app.register(userApi, { prefix: API_PREFIX, ...options.auth });

  app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const target = parseRequestTarget(request.url);
    if (target === undefined) {
      options.log.info({ remote: request.socket.remoteAddress, target: String(request.url).slice(0, 100) }, 'rejected upgrade with an invalid request target');
      rejectUpgrade(socket, 400, 'invalid request target');
      return;
    }
    const path = target.pathname;
    const handler = options.upgrades.get(path);
    if (handler === undefined) {
      rejectUpgrade(socket, 404, `no upgrade endpoint at ${path}`);
      return;
    }
    handler(request, socket, head);
  });

  return app;
}
