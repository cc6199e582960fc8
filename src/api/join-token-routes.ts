/**
 * `/join-tokens`: list, create and revoke join tokens. Two listeners serve these routes: the
 * user API on the public port, for sessions and API keys, and the admin API on the admin socket.
 * Each listener passes its own way of finding the caller and the error schemas of its own error
 * handler, because the user API sends `{error, reason}` and the admin API sends `{error}`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

import { JoinTokenError, type JoinTokens, MAX_JOIN_TOKEN_USES } from '../auth/join-tokens.js';
import type { Tailnet } from '../tailnet/tailnet.js';
import { ApiError } from './errors.js';
import { parseExpiration } from './expiration.js';
import { joinTokenJson, joinTokenSchema } from './schemas.js';

export const DEFAULT_JOIN_TOKEN_EXPIRATION = '24h';

/**
 * The caller of a join token route. A user, signed in through a session, manages only its own
 * tokens. An administrator (an API key or the admin socket) manages every user's tokens. It must
 * name the user when it creates a token, and `label` names the administrator in that error.
 */
export type JoinTokenCaller = { kind: 'user'; userId: number } | { kind: 'admin'; label: string };

export interface JoinTokenRouteOptions {
  tailnet: Tailnet;
  joinTokens: JoinTokens;
  /** Finds the caller of a request, or throws to reject the request before its handler runs. */
  authenticate: (request: FastifyRequest) => JoinTokenCaller;
  /** The `4xx` and `5xx` response schemas that match the listener's error handler. */
  errorResponses: { '4xx': object; '5xx': object };
}

interface CreateBody {
  expiration?: string;
  uses?: number;
  ephemeral?: boolean;
  tags?: string[];
  user?: string;
}

export function registerJoinTokenRoutes(app: FastifyInstance, options: JoinTokenRouteOptions): void {
  const { tailnet, joinTokens, errorResponses } = options;
  const callers = new WeakMap<FastifyRequest, JoinTokenCaller>();
  const requireCaller = async (request: FastifyRequest) => {
    callers.set(request, options.authenticate(request));
  };
  const callerOf = (request: FastifyRequest): JoinTokenCaller => callers.get(request)!;

  app.get<{ Querystring: { user?: string } }>(
    '/join-tokens',
    {
      preHandler: requireCaller,
      schema: {
        querystring: {
          type: 'object',
          properties: { user: { type: 'string', minLength: 1, maxLength: 200, description: 'user ID or name; a session may name only its own user' } },
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
      if (caller.kind === 'user') {
        if (request.query.user !== undefined && tailnet.resolveUser(request.query.user).id !== caller.userId) {
          throw new ApiError(403, "a session lists only its own user's join tokens", 'forbidden');
        }
        userId = caller.userId;
      } else if (request.query.user !== undefined) {
        userId = tailnet.resolveUser(request.query.user).id;
      }
      return { joinTokens: joinTokens.list(userId).map((token) => joinTokenJson(tailnet, joinTokens, token)) };
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
            user: {
              type: 'string',
              minLength: 1,
              maxLength: 200,
              description: 'user ID or name that joining machines belong to; required for API keys and the admin socket',
            },
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
      if (caller.kind === 'user') {
        if (body.user !== undefined && tailnet.resolveUser(body.user).id !== caller.userId) {
          throw new ApiError(403, 'a session creates join tokens only for its own user', 'forbidden');
        }
        userId = caller.userId;
      } else {
        if (body.user === undefined) throw new ApiError(400, `${caller.label} must name the user the token is for in "user"`, 'invalid');
        userId = tailnet.resolveUser(body.user).id;
      }
      const { token, text } = joinTokens.create({
        userId,
        expiresAt: parseExpiration(body.expiration ?? DEFAULT_JOIN_TOKEN_EXPIRATION, new Date()),
        uses: body.uses ?? 1,
        ephemeral: body.ephemeral ?? false,
        tags: body.tags ?? [],
      });
      return reply.code(201).send({ joinToken: joinTokenJson(tailnet, joinTokens, token), token: text });
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
      const token = joinTokens.find(request.params.token);
      // Another user's token is reported as missing, so IDs and prefixes reveal nothing.
      if (caller.kind === 'user' && token.userId !== caller.userId) {
        throw new JoinTokenError(`join token ${JSON.stringify(request.params.token)} not found`, 'not-found');
      }
      return { joinToken: joinTokenJson(tailnet, joinTokens, joinTokens.revoke(token)) };
    },
  );
}
