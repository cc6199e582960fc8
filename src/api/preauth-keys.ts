/** `/preauthkeys`: list, create, expire and delete pre-auth keys. */
import type { FastifyInstance } from 'fastify';

import type { Tailnet } from '../tailnet/tailnet.js';
import { parseExpiration } from './expiration.js';
import { errorResponses, idOrNameParams, preAuthKeyJson, preAuthKeySchema, userFilterQuery } from './schemas.js';

/** Headscale's default too: long enough to paste the key into `tailscale up`, short enough not to leak for long. */
export const DEFAULT_PREAUTH_KEY_EXPIRATION = '1h';

const keyParams = idOrNameParams('key', 'pre-auth key ID or prefix');
const keyResponse = { type: 'object', properties: { preAuthKey: preAuthKeySchema }, required: ['preAuthKey'] } as const;

interface CreateBody {
  user: string;
  reusable?: boolean;
  ephemeral?: boolean;
  expiration?: string;
  tags?: string[];
}

export function registerPreAuthKeyRoutes(app: FastifyInstance, tailnet: Tailnet): void {
  app.get<{ Querystring: { user?: string } }>(
    '/preauthkeys',
    {
      schema: {
        querystring: userFilterQuery,
        response: {
          200: { type: 'object', properties: { preAuthKeys: { type: 'array', items: preAuthKeySchema } }, required: ['preAuthKeys'] },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const userId = request.query.user === undefined ? undefined : tailnet.resolveUser(request.query.user).id;
      const keys = [...tailnet.preAuthKeys.values()].filter((key) => userId === undefined || key.userId === userId);
      return { preAuthKeys: keys.map((key) => preAuthKeyJson(tailnet, key)) };
    },
  );

  app.post<{ Body: CreateBody }>(
    '/preauthkeys',
    {
      schema: {
        body: {
          type: 'object',
          properties: {
            user: { type: 'string', minLength: 1, maxLength: 200, description: 'user ID or name that nodes registered with the key belong to' },
            reusable: { type: 'boolean', default: false },
            ephemeral: { type: 'boolean', default: false },
            expiration: {
              type: 'string',
              maxLength: 100,
              description: `a duration such as "1h" or an RFC 3339 time; default ${DEFAULT_PREAUTH_KEY_EXPIRATION}`,
            },
            tags: { type: 'array', items: { type: 'string', maxLength: 200 }, maxItems: 100, default: [] },
          },
          required: ['user'],
          additionalProperties: false,
        },
        response: {
          201: {
            type: 'object',
            properties: {
              preAuthKey: preAuthKeySchema,
              key: { type: 'string', description: 'the full key text, returned only here' },
            },
            required: ['preAuthKey', 'key'],
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const user = tailnet.resolveUser(body.user);
      const expiresAt = parseExpiration(body.expiration ?? DEFAULT_PREAUTH_KEY_EXPIRATION, new Date());
      const { key, text } = tailnet.createPreAuthKey({
        userId: user.id,
        reusable: body.reusable ?? false,
        ephemeral: body.ephemeral ?? false,
        expiresAt,
        tags: body.tags ?? [],
      });
      return reply.code(201).send({ preAuthKey: preAuthKeyJson(tailnet, key), key: text });
    },
  );

  app.post<{ Params: { key: string } }>(
    '/preauthkeys/:key/expire',
    { schema: { params: keyParams, response: { 200: keyResponse, ...errorResponses } } },
    async (request) => ({ preAuthKey: preAuthKeyJson(tailnet, tailnet.expirePreAuthKey(request.params.key)) }),
  );

  app.delete<{ Params: { key: string } }>(
    '/preauthkeys/:key',
    { schema: { params: keyParams, response: { 200: keyResponse, ...errorResponses } } },
    async (request) => {
      const key = tailnet.findPreAuthKey(request.params.key);
      tailnet.deletePreAuthKey(key.id);
      return { preAuthKey: preAuthKeyJson(tailnet, key) };
    },
  );
}
