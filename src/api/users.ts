/** `/users`: list, create, rename and delete users. */
import type { FastifyInstance } from 'fastify';

import type { Tailnet } from '../tailnet/tailnet.js';
import { errorResponses, idOrNameParams, userJson, userSchema } from './schemas.js';

const userParams = idOrNameParams('user', 'user ID or name');
const userResponse = { type: 'object', properties: { user: userSchema }, required: ['user'] } as const;

export function registerUserRoutes(app: FastifyInstance, tailnet: Tailnet): void {
  app.get(
    '/users',
    {
      schema: {
        response: { 200: { type: 'object', properties: { users: { type: 'array', items: userSchema } }, required: ['users'] }, ...errorResponses },
      },
    },
    async () => ({ users: [...tailnet.users.values()].map(userJson) }),
  );

  app.post<{ Body: { name: string; displayName?: string; email?: string } }>(
    '/users',
    {
      schema: {
        body: {
          type: 'object',
          properties: {
            name: { type: 'string', maxLength: 200 },
            displayName: { type: 'string', maxLength: 200 },
            email: { type: 'string', maxLength: 320 },
          },
          required: ['name'],
          additionalProperties: false,
        },
        response: { 201: userResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const user = tailnet.createUser(request.body);
      return reply.code(201).send({ user: userJson(user) });
    },
  );

  app.post<{ Params: { user: string }; Body: { name: string } }>(
    '/users/:user/rename',
    {
      schema: {
        params: userParams,
        body: {
          type: 'object',
          properties: { name: { type: 'string', maxLength: 200, description: 'the new user name' } },
          required: ['name'],
          additionalProperties: false,
        },
        response: { 200: userResponse, ...errorResponses },
      },
    },
    async (request) => {
      const user = tailnet.resolveUser(request.params.user);
      return { user: userJson(tailnet.renameUser(user.id, request.body.name)) };
    },
  );

  app.delete<{ Params: { user: string } }>(
    '/users/:user',
    { schema: { params: userParams, response: { 200: userResponse, ...errorResponses } } },
    async (request) => {
      const user = tailnet.resolveUser(request.params.user);
      tailnet.deleteUser(user.id);
      return { user: userJson(user) };
    },
  );
}
