/**
 * The API for signed-in users and workers, under `/api/v1` beside the admin API:
 *
 * - `GET /session`, `DELETE /session`: the caller's session, and signing it out.
 * - `GET|POST /join-tokens`, `DELETE /join-tokens/:token`: a user's join tokens, with the
 *   routes of `join-token-routes.ts`, which the admin socket serves too. A session (the browser
 *   cookie or `Authorization: Bearer wsess-…`) lists and manages its own user's tokens. An API
 *   key (`Bearer wapi-…`) is an administrator and lists and revokes every token.
 * - `POST /join`: trades a join token for a single-use pre-auth key. It needs no other
 *   credential, so failed attempts are rate limited per source address.
 *
 * Errors are `{"error": "<message>", "reason": "<cause>"}`; `reason` lets `wonder join` tell an
 * unknown token from an expired, used-up or revoked one.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { JoinTokenError } from '../auth/join-tokens.js';
import type { Session } from '../auth/sessions.js';
import type { User } from '../tailnet/types.js';
import { type AuthContext, clearSessionCookie, SESSION_COOKIE } from '../http/auth-context.js';
import { LogLimiter } from '../log-limiter.js';
import { sourceAddressKey } from '../source-address.js';
import { ApiError, statusAndMessage } from './errors.js';
import { registerJoinTokenRoutes } from './join-token-routes.js';
import { userJson, userSchema } from './schemas.js';

type Caller = { kind: 'session'; session: Session; user: User } | { kind: 'admin'; apiKeyPrefix: string };

const time = { type: 'string', format: 'date-time' } as const;

/** Log lines per minute about rejected joins; the rest are counted in the next logged line. */
const JOIN_REJECTION_LOGS_PER_MINUTE = 60;
const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, reason: { type: 'string' } },
  required: ['error', 'reason'],
} as const;
const errorResponses = { '4xx': errorSchema, '5xx': errorSchema } as const;

/** Registers the routes. Register it with `{ prefix: API_PREFIX }` and without fastify-plugin, so its error handler stays inside. */
export async function userApi(app: FastifyInstance, context: AuthContext): Promise<void> {
  const joinRejectionLogs = new LogLimiter(JOIN_REJECTION_LOGS_PER_MINUTE, 60_000);
  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    const { status, message, reason } = describeError(error);
    if (status >= 500) request.log.error({ err: error, method: request.method, url: request.url }, 'API request failed');
    await reply.code(status).send({ error: message, reason });
  });

  const callers = new WeakMap<FastifyRequest, Caller>();
  const requireCaller = async (request: FastifyRequest) => {
    callers.set(request, authenticate(request, context));
  };
  const callerOf = (request: FastifyRequest): Caller => callers.get(request)!;

  app.get(
    '/session',
    {
      preHandler: requireCaller,
      schema: {
        response: {
          200: { type: 'object', properties: { user: userSchema, kind: { type: 'string' }, expiresAt: time }, required: ['user', 'kind', 'expiresAt'] },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const caller = requireSession(callerOf(request));
      return { user: userJson(caller.user), kind: caller.session.kind, expiresAt: caller.session.expiresAt.toISOString() };
    },
  );

  app.delete(
    '/session',
    { preHandler: requireCaller, schema: { response: { 200: { type: 'object', properties: { ended: { type: 'boolean' } }, required: ['ended'] }, ...errorResponses } } },
    async (request, reply) => {
      const caller = requireSession(callerOf(request));
      context.sessions.end(caller.session);
      if (caller.session.kind === 'browser') clearSessionCookie(reply, context);
      return { ended: true };
    },
  );

  registerJoinTokenRoutes(app, {
    tailnet: context.tailnet,
    joinTokens: context.joinTokens,
    authenticate: (request) => {
      const caller = authenticate(request, context);
      return caller.kind === 'session' ? { kind: 'user', userId: caller.user.id } : { kind: 'admin', label: 'an API key' };
    },
    errorResponses,
  });

  app.post<{ Body: { token: string; hostname?: string } }>(
    '/join',
    {
      schema: {
        body: {
          type: 'object',
          properties: {
            token: { type: 'string', minLength: 1, maxLength: 200 },
            hostname: { type: 'string', minLength: 1, maxLength: 253, description: 'the host name the machine will use; only logged' },
          },
          required: ['token'],
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              authKey: { type: 'string', description: 'a single-use pre-auth key for tailscale up --auth-key' },
              loginServer: { type: 'string', description: 'the URL for tailscale up --login-server' },
              expiresAt: time,
              user: { type: 'string' },
              ephemeral: { type: 'boolean' },
              tags: { type: 'array', items: { type: 'string' } },
            },
            required: ['authKey', 'loginServer', 'expiresAt', 'user', 'ephemeral', 'tags'],
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => handleJoin(request, reply, context, joinRejectionLogs),
  );
}

async function handleJoin(
  request: FastifyRequest<{ Body: { token: string; hostname?: string } }>,
  reply: FastifyReply,
  context: AuthContext,
  rejectionLogs: LogLimiter,
) {
  const address = request.ip;
  // One IPv4 address or IPv6 /64, so a host cannot dodge the limit by changing addresses.
  const sourceKey = sourceAddressKey(address);
  const waitMs = context.joinFailures.retryAfterMs(sourceKey);
  if (waitMs > 0) {
    void reply.header('retry-after', String(Math.ceil(waitMs / 1000)));
    throw new ApiError(429, `too many failed join attempts from ${address}; try again in ${Math.ceil(waitMs / 1000)} s`, 'rate-limited');
  }
  try {
    const result = context.joinTokens.redeem(request.body.token);
    request.log.info({ joinTokenPrefix: result.token.prefix, preAuthKeyPrefix: result.preAuthKey.prefix, userId: result.user.id, hostname: request.body.hostname, remoteAddress: address }, 'join token exchanged for a pre-auth key');
    return {
      authKey: result.authKey,
      loginServer: context.serverUrl(),
      expiresAt: result.preAuthKey.expiresAt!.toISOString(),
      user: result.user.name,
      ephemeral: result.preAuthKey.ephemeral,
      tags: result.preAuthKey.tags,
    };
  } catch (error) {
    if (error instanceof JoinTokenError) {
      context.joinFailures.recordFailure(sourceKey);
      const suppressed = rejectionLogs.take();
      if (suppressed !== undefined) request.log.warn({ reason: error.reason, remoteAddress: address, hostname: request.body.hostname, suppressedSinceLastLog: suppressed }, 'join rejected');
    }
    throw error;
  }
}

/**
 * Finds the caller: a bearer session token, a bearer API key (an administrator) or the session cookie.
 * @throws {ApiError} 401 with the reason the credential failed.
 */
function authenticate(request: FastifyRequest, context: AuthContext): Caller {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer +(\S+) *$/i.exec(header);
    if (match === null) throw new ApiError(401, 'the Authorization header must be "Bearer <token>"', 'unauthenticated');
    const presented = match[1]!;
    if (presented.startsWith('wapi-')) {
      const result = context.apiKeys.check(presented);
      if (!result.ok) throw new ApiError(401, result.reason, 'unauthenticated');
      return { kind: 'admin', apiKeyPrefix: result.key.prefix };
    }
    return sessionCaller(context.sessions.check(presented));
  }
  // The cookie needs no CSRF token here: it is SameSite=Lax, so browsers send it cross-site only on
  // top-level GET navigations, and every route that changes something is a POST or DELETE.
  const cookie = request.cookies[SESSION_COOKIE];
  if (cookie !== undefined && cookie !== '') return sessionCaller(context.sessions.check(cookie));
  throw new ApiError(401, `not signed in: sign in at ${context.serverUrl()}/login, or send Authorization: Bearer <token>`, 'unauthenticated');
}

function sessionCaller(check: ReturnType<AuthContext['sessions']['check']>): Caller {
  if (check.ok) return { kind: 'session', session: check.session, user: check.user };
  const reason = check.reason === 'expired' ? 'session-expired' : 'unauthenticated';
  throw new ApiError(401, `${check.message}; sign in again`, reason);
}

function requireSession(caller: Caller): Extract<Caller, { kind: 'session' }> {
  if (caller.kind !== 'session') throw new ApiError(400, 'this route describes a sign-in session; an API key has none', 'invalid');
  return caller;
}

function describeError(error: unknown): { status: number; message: string; reason: string } {
  const { status, message } = statusAndMessage(error);
  if (error instanceof JoinTokenError) return { status, message, reason: error.reason };
  if (error instanceof ApiError && error.reason !== undefined) return { status, message, reason: error.reason };
  let reason = 'internal';
  if (status === 404) reason = 'not-found';
  else if (status === 409) reason = 'conflict';
  else if (status < 500) reason = 'invalid';
  return { status, message, reason };
}
