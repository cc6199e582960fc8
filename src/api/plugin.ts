/**
 * The admin REST API as a fastify plugin, mounted under `/api/v1` on two servers: the public
 * HTTP port, where every route requires `Authorization: Bearer <API key>`, and the admin Unix
 * socket, where the file permissions are the authentication.
 *
 * The API only translates HTTP into calls on the tailnet, the API keys, the join tokens and the
 * pending logins. Those enforce every rule, and their errors become `{"error": "<message>"}`
 * responses.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import type { ApiKeys } from '../auth/api-keys.js';
import type { JoinTokens } from '../auth/join-tokens.js';
import { LogLimiter } from '../log-limiter.js';
import type { Tailnet } from '../tailnet/tailnet.js';
import { registerApiKeyRoutes } from './api-keys.js';
import { handleApiError } from './errors.js';
import { registerJoinTokenRoutes } from './join-token-routes.js';
import { registerNodeRoutes } from './nodes.js';
import type { PendingLogins } from './pending-logins.js';
import { registerPreAuthKeyRoutes } from './preauth-keys.js';
import { errorResponses } from './schemas.js';
import { registerUserRoutes } from './users.js';

export const API_PREFIX = '/api/v1';

export interface AdminApiOptions {
  tailnet: Tailnet;
  apiKeys: ApiKeys;
  pendingLogins: PendingLogins;
  /**
   * Served under `/join-tokens` on the admin socket only. On the public port the user API serves
   * those routes, because it also accepts sign-in sessions there.
   */
  joinTokens: JoinTokens;
  /**
   * `api-key` requires a valid API key on every request. `admin-socket` accepts every request,
   * so mount it only where the transport already limits who can connect.
   */
  access: 'api-key' | 'admin-socket';
}

/** Maximum number of failed authentications logged per minute. The rest are counted in the next logged line. */
const AUTH_FAILURE_LOGS_PER_MINUTE = 20;

/** Registers the API routes. Register it with `{ prefix: API_PREFIX }` and without fastify-plugin, so its hooks stay inside. */
export async function adminApi(app: FastifyInstance, options: AdminApiOptions): Promise<void> {
  const callers = new WeakMap<FastifyRequest, string>();

  app.setErrorHandler(handleApiError);
  app.setNotFoundHandler(async (request, reply) => {
    await reply.code(404).send({ error: `no API route ${request.method} ${request.url}` });
  });

  if (options.access === 'api-key') {
    const limiter = new LogLimiter(AUTH_FAILURE_LOGS_PER_MINUTE, 60_000);
    app.addHook('onRequest', async (request, reply) => {
      const header = request.headers.authorization;
      const match = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
      const result = match === null ? { ok: false as const, reason: 'missing Authorization: Bearer header' } : options.apiKeys.check(match[1]!);
      if (result.ok) {
        callers.set(request, `api key ${result.key.prefix}`);
        return;
      }
      const suppressed = limiter.take();
      if (suppressed !== undefined) {
        const prefix = 'prefix' in result ? result.prefix : undefined;
        request.log.warn(
          { reason: result.reason, prefix, remoteAddress: request.ip, method: request.method, url: request.url, suppressedSinceLastLog: suppressed },
          'API authentication failed',
        );
      }
      await rejectUnauthenticated(reply, result.reason);
    });
  } else {
    app.addHook('onRequest', async (request) => {
      callers.set(request, 'admin socket');
    });
  }

  // An audit line for every request that may change something, successful or not.
  app.addHook('onResponse', async (request, reply) => {
    if (request.method === 'GET' || request.method === 'HEAD' || reply.statusCode === 401) return;
    request.log.info({ method: request.method, url: request.url, statusCode: reply.statusCode, caller: callers.get(request) }, 'API request');
  });

  registerUserRoutes(app, options.tailnet);
  registerPreAuthKeyRoutes(app, options.tailnet);
  registerNodeRoutes(app, options.tailnet, options.pendingLogins);
  registerApiKeyRoutes(app, options.apiKeys);
  if (options.access === 'admin-socket') {
    registerJoinTokenRoutes(app, {
      tailnet: options.tailnet,
      joinTokens: options.joinTokens,
      authenticate: () => ({ kind: 'admin', label: 'a request on the admin socket' }),
      errorResponses,
    });
  }
}

async function rejectUnauthenticated(reply: FastifyReply, reason: string): Promise<void> {
  await reply
    .code(401)
    .header('www-authenticate', 'Bearer realm="wonder"')
    .send({ error: `${reason}; create an API key with \`wonder apikeys create\` and send it as Authorization: Bearer <key>` });
}
