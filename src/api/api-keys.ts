/** `/apikeys`: list, create and expire the API keys that authenticate this API on the public port. */
import type { FastifyInstance } from 'fastify';

import type { ApiKeys } from '../auth/api-keys.js';
import { parseExpiration } from './expiration.js';
import { apiKeyJson, apiKeySchema, errorResponses, idOrNameParams } from './schemas.js';

/** Headscale's default for API keys too. */
export const DEFAULT_API_KEY_EXPIRATION = '90d';

const keyParams = idOrNameParams('key', 'API key ID or prefix');

export function registerApiKeyRoutes(app: FastifyInstance, apiKeys: ApiKeys): void {
  app.get(
    '/apikeys',
    {
      schema: {
        response: { 200: { type: 'object', properties: { apiKeys: { type: 'array', items: apiKeySchema } }, required: ['apiKeys'] }, ...errorResponses },
      },
    },
    async () => ({ apiKeys: apiKeys.list().map((key) => apiKeyJson(key, apiKeys.isExpired(key))) }),
  );

  app.post<{ Body: { expiration?: string } | undefined }>(
    '/apikeys',
    {
      schema: {
        body: {
          type: 'object',
          properties: {
            expiration: {
              type: 'string',
              maxLength: 100,
              description: `a duration such as "90d" or an RFC 3339 time; default ${DEFAULT_API_KEY_EXPIRATION}`,
            },
          },
          additionalProperties: false,
        },
        response: {
          201: {
            type: 'object',
            properties: { apiKey: apiKeySchema, key: { type: 'string', description: 'the full key text, returned only here' } },
            required: ['apiKey', 'key'],
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const expiresAt = parseExpiration(request.body?.expiration ?? DEFAULT_API_KEY_EXPIRATION, new Date());
      const { key, text } = apiKeys.create({ expiresAt });
      return reply.code(201).send({ apiKey: apiKeyJson(key, false), key: text });
    },
  );

  app.post<{ Params: { key: string } }>(
    '/apikeys/:key/expire',
    {
      schema: {
        params: keyParams,
        response: { 200: { type: 'object', properties: { apiKey: apiKeySchema }, required: ['apiKey'] }, ...errorResponses },
      },
    },
    async (request) => {
      const key = apiKeys.expire(request.params.key);
      return { apiKey: apiKeyJson(key, true) };
    },
  );
}
