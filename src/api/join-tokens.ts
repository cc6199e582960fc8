/**
 * The API for signed-in users and workers, under `/api/v1` beside the admin API:
 *
 * - `GET /session`, `DELETE /session`: the caller's session, and signing it out.
 * - `GET|POST /join-tokens`, `DELETE /join-tokens/:token`: a user's join tokens. A session
 *   (the browser cookie or `Authorization: Bearer wsess-…`) lists and manages its own user's
 *   tokens. An API key (`Bearer wapi-…`) is an administrator and lists and revokes every token.
 * - `POST /join`: trades a join token for a single-use pre-auth key. It needs no other
 *   credential, so failed attempts are rate limited per source address.
 *
 * Errors are `{"error": "<message>", "reason": "<cause>"}`; `reason` lets `wonder join` tell an
 * unknown token from an expired, used-up or revoked one.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { JoinTokenError, type JoinToken, MAX_JOIN_TOKEN_USES } from '../auth/join-tokens.js';
import type { Session } from '../auth/sessions.js';
import type { User } from '../tailnet/types.js';
import { type AuthContext, clearSessionCookie, SESSION_COOKIE } from '../http/auth-context.js';
import { statusAndMessage } from './errors.js';
import { parseExpiration } from './expiration.js';
import { userJson, userSchema } from './schemas.js';

export const DEFAULT_JOIN_TOKEN_EXPIRATION = '24h';

type Caller = { kind: 'session'; session: Session; user: User } | { kind: 'admin'; apiKeyPrefix: string };

/** An API request rejected with a status and a machine-readable reason. */
class UserApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly reason: string,
  ) {
    super(message);
    this.name = 'UserApiError';
  }
}

const time = { type: 'string', format: 'date-time' } as const;
const optionalTime = { type: ['string', 'null'], format: 'date-time' } as const;
const errorSchema = {
  type: 'object',
  properties: { error: { type: 'string' }, reason: { type: 'string' } },
  required: ['error', 'reason'],
} as const;
const errorResponses = { '4xx': errorSchema, '5xx': errorSchema } as const;

const joinTokenSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    prefix: { type: 'string' },
    userId: { type: 'integer' },
    user: { type: 'string' },
    uses: { type: 'integer', description: 'joins the token allows in total' },
    useCount: { type: 'integer' },
    ephemeral: { type: 'boolean' },
    tags: { type: 'array', items: { type: 'string' } },
    createdAt: time,
    expiresAt: time,
    lastUsedAt: optionalTime,
    revokedAt: optionalTime,
    state: { type: 'string', enum: ['active', 'expired', 'used-up', 'revoked'] },
  },
  required: ['id', 'prefix', 'userId', 'user', 'uses', 'useCount', 'ephemeral', 'tags', 'createdAt', 'expiresAt', 'lastUsedAt', 'revokedAt', 'state'],
  additionalProperties: false,
} as const;

const STATUS_BY_JOIN_REASON: Record<JoinTokenError['reason'], number> = {
  unknown: 401,
  expired: 410,
  'used-up': 410,
  revoked: 410,
  'not-found': 404,
  invalid: 400,
};

interface CreateBody {
  expiration?: string;
  uses?: number;
  ephemeral?: boolean;
  tags?: string[];
  user?: string;
}

/** Registers the routes. Register it with `{ prefix: API_PREFIX }` and without fastify-plugin, so its error handler stays inside. */
export async function userApi(app: FastifyInstance, context: AuthContext): Promise<void> {
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

  app.get<{ Querystring: { user?: string } }>(
    '/join-tokens',
    {
      preHandler: requireCaller,
      schema: {
        querystring: {
          type: 'object',
          properties: { user: { type: 'string', minLength: 1, maxLength: 200, description: 'user ID or name; API keys only' } },
          additionalProperties: false,
        },
        response: {
          200: { type: 'object', properties: { joinTokens: { type: 'array', items: joinTokenSchema } }, required: ['joinTokens'] },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      let userId: number | undefined;
      if (caller.kind === 'session') {
        if (request.query.user !== undefined && context.tailnet.resolveUser(request.query.user).id !== caller.user.id) {
          throw new UserApiError(403, "a session lists only its own user's join tokens", 'forbidden');
        }
        userId = caller.user.id;
      } else if (request.query.user !== undefined) {
        userId = context.tailnet.resolveUser(request.query.user).id;
      }
      return { joinTokens: context.joinTokens.list(userId).map((token) => joinTokenJson(context, token)) };
    },
  );

  app.post<{ Body: CreateBody | undefined }>(
    '/join-tokens',
    {
      preHandler: requireCaller,
      schema: {
        body: {
          type: 'object',
          properties: {
            expiration: {
              type: 'string',
              maxLength: 100,
              description: `a duration such as "1h" or an RFC 3339 time; default ${DEFAULT_JOIN_TOKEN_EXPIRATION}`,
            },
            uses: { type: 'integer', minimum: 1, maximum: MAX_JOIN_TOKEN_USES, default: 1, description: 'how many machines may join with the token' },
            ephemeral: { type: 'boolean', default: false, description: 'machines that join are deleted after they go offline' },
            tags: { type: 'array', items: { type: 'string', maxLength: 200 }, maxItems: 100, default: [] },
            user: { type: 'string', minLength: 1, maxLength: 200, description: 'user ID or name that joining machines belong to; API keys only' },
          },
          additionalProperties: false,
        },
        response: {
          201: {
            type: 'object',
            properties: { joinToken: joinTokenSchema, token: { type: 'string', description: 'the full token text, returned only here' } },
            required: ['joinToken', 'token'],
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const body = request.body ?? {};
      let userId: number;
      if (caller.kind === 'session') {
        if (body.user !== undefined && context.tailnet.resolveUser(body.user).id !== caller.user.id) {
          throw new UserApiError(403, 'a session creates join tokens only for its own user', 'forbidden');
        }
        userId = caller.user.id;
      } else {
        if (body.user === undefined) throw new UserApiError(400, 'an API key must name the user the token is for in "user"', 'invalid');
        userId = context.tailnet.resolveUser(body.user).id;
      }
      const { token, text } = context.joinTokens.create({
        userId,
        expiresAt: parseExpiration(body.expiration ?? DEFAULT_JOIN_TOKEN_EXPIRATION, new Date()),
        uses: body.uses ?? 1,
        ephemeral: body.ephemeral ?? false,
        tags: body.tags ?? [],
      });
      return reply.code(201).send({ joinToken: joinTokenJson(context, token), token: text });
    },
  );

  app.delete<{ Params: { token: string } }>(
    '/join-tokens/:token',
    {
      preHandler: requireCaller,
      schema: {
        params: {
          type: 'object',
          properties: { token: { type: 'string', minLength: 1, maxLength: 200, description: 'join token ID or prefix' } },
          required: ['token'],
        },
        response: { 200: { type: 'object', properties: { joinToken: joinTokenSchema }, required: ['joinToken'] }, ...errorResponses },
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const token = context.joinTokens.find(request.params.token);
      // Another user's token is reported as missing, so IDs and prefixes reveal nothing.
      if (caller.kind === 'session' && token.userId !== caller.user.id) {
        throw new JoinTokenError(`join token ${JSON.stringify(request.params.token)} not found`, 'not-found');
      }
      return { joinToken: joinTokenJson(context, context.joinTokens.revoke(token)) };
    },
  );

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
    async (request, reply) => handleJoin(request, reply, context),
  );
}

async function handleJoin(request: FastifyRequest<{ Body: { token: string; hostname?: string } }>, reply: FastifyReply, context: AuthContext) {
  const address = request.ip;
  const waitMs = context.joinFailures.retryAfterMs(address);
  if (waitMs > 0) {
    void reply.header('retry-after', String(Math.ceil(waitMs / 1000)));
    throw new UserApiError(429, `too many failed join attempts from ${address}; try again in ${Math.ceil(waitMs / 1000)} s`, 'rate-limited');
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
      context.joinFailures.recordFailure(address);
      request.log.warn({ reason: error.reason, remoteAddress: address, hostname: request.body.hostname }, 'join rejected');
    }
    throw error;
  }
}

/**
 * Finds the caller: a bearer session token, a bearer API key (an administrator) or the session cookie.
 * @throws {UserApiError} 401 with the reason the credential failed.
 */
function authenticate(request: FastifyRequest, context: AuthContext): Caller {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer +(\S+) *$/i.exec(header);
    if (match === null) throw new UserApiError(401, 'the Authorization header must be "Bearer <token>"', 'unauthenticated');
    const presented = match[1]!;
    if (presented.startsWith('wapi-')) {
      const result = context.apiKeys.check(presented);
      if (!result.ok) throw new UserApiError(401, result.reason, 'unauthenticated');
      return { kind: 'admin', apiKeyPrefix: result.key.prefix };
    }
    return sessionCaller(context.sessions.check(presented));
  }
  // The cookie needs no CSRF token here: it is SameSite=Lax, so browsers send it cross-site only on
  // top-level GET navigations, and every route that changes something is a POST or DELETE.
  const cookie = request.cookies[SESSION_COOKIE];
  if (cookie !== undefined && cookie !== '') return sessionCaller(context.sessions.check(cookie));
  throw new UserApiError(401, `not signed in: sign in at ${context.serverUrl()}/login, or send Authorization: Bearer <token>`, 'unauthenticated');
}

function sessionCaller(check: ReturnType<AuthContext['sessions']['check']>): Caller {
  if (check.ok) return { kind: 'session', session: check.session, user: check.user };
  const reason = check.reason === 'expired' ? 'session-expired' : 'unauthenticated';
  throw new UserApiError(401, `${check.message}; sign in again`, reason);
}

function requireSession(caller: Caller): Extract<Caller, { kind: 'session' }> {
  if (caller.kind !== 'session') throw new UserApiError(400, 'this route describes a sign-in session; an API key has none', 'invalid');
  return caller;
}

function describeError(error: unknown): { status: number; message: string; reason: string } {
  if (error instanceof UserApiError) return { status: error.statusCode, message: error.message, reason: error.reason };
  if (error instanceof JoinTokenError) return { status: STATUS_BY_JOIN_REASON[error.reason], message: error.message, reason: error.reason };
  const { status, message } = statusAndMessage(error);
  let reason = 'internal';
  if (status === 404) reason = 'not-found';
  else if (status === 409) reason = 'conflict';
  else if (status < 500) reason = 'invalid';
  return { status, message, reason };
}

function joinTokenJson(context: AuthContext, token: JoinToken) {
  return {
    id: token.id,
    prefix: token.prefix,
    userId: token.userId,
    user: context.tailnet.users.get(token.userId)?.name ?? '',
    uses: token.maxUses,
    useCount: token.useCount,
    ephemeral: token.ephemeral,
    tags: token.tags,
    createdAt: token.createdAt.toISOString(),
    expiresAt: token.expiresAt.toISOString(),
    lastUsedAt: token.lastUsedAt?.toISOString() ?? null,
    revokedAt: token.revokedAt?.toISOString() ?? null,
    state: context.joinTokens.state(token),
  };
}
