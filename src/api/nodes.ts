/**
 * `/nodes`: list, show, rename, expire and delete nodes, and approve interactive logins.
 *
 * `GET /nodes/pending` is a static path, so it wins over `GET /nodes/:node`: a node whose name
 * is "pending" is shown by its numeric ID. Its other routes work by name.
 */
import type { FastifyInstance } from 'fastify';

import type { Tailnet } from '../tailnet/tailnet.js';
import { ApiError } from './errors.js';
import type { PendingLogins } from './pending-logins.js';
import {
  errorResponses,
  idOrNameParams,
  nodeJson,
  nodeSchema,
  pendingLoginJson,
  pendingLoginSchema,
  userFilterQuery,
  userJson,
  userSchema,
} from './schemas.js';

const nodeParams = idOrNameParams('node', 'node ID or name');
const nodeResponse = { type: 'object', properties: { node: nodeSchema }, required: ['node'] } as const;

export function registerNodeRoutes(app: FastifyInstance, tailnet: Tailnet, pendingLogins: PendingLogins): void {
  app.get<{ Querystring: { user?: string } }>(
    '/nodes',
    {
      schema: {
        querystring: userFilterQuery,
        response: { 200: { type: 'object', properties: { nodes: { type: 'array', items: nodeSchema } }, required: ['nodes'] }, ...errorResponses },
      },
    },
    async (request) => {
      const userId = request.query.user === undefined ? undefined : tailnet.resolveUser(request.query.user).id;
      const nodes = [...tailnet.nodes.values()].filter((node) => userId === undefined || node.userId === userId);
      return { nodes: nodes.map((node) => nodeJson(tailnet, node)) };
    },
  );

  app.get(
    '/nodes/pending',
    {
      schema: {
        response: {
          200: { type: 'object', properties: { pending: { type: 'array', items: pendingLoginSchema } }, required: ['pending'] },
          ...errorResponses,
        },
      },
    },
    async () => ({ pending: pendingLogins.list().map(pendingLoginJson) }),
  );

  app.post<{ Params: { id: string }; Body: { user: string } }>(
    '/nodes/pending/:id/approve',
    {
      schema: {
        params: { type: 'object', properties: { id: { type: 'string', minLength: 1, maxLength: 200 } }, required: ['id'] },
        body: {
          type: 'object',
          properties: { user: { type: 'string', minLength: 1, maxLength: 200, description: 'user ID or name the node will belong to' } },
          required: ['user'],
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: { login: pendingLoginSchema, user: userSchema },
            required: ['login', 'user'],
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const login = pendingLogins.list().find((candidate) => candidate.id === request.params.id);
      if (login === undefined) throw new ApiError(404, `pending login ${JSON.stringify(request.params.id)} not found`);
      const user = tailnet.resolveUser(request.body.user);
      pendingLogins.approve(login.id, user.id);
      return { login: pendingLoginJson(login), user: userJson(user) };
    },
  );

  app.get<{ Params: { node: string } }>(
    '/nodes/:node',
    { schema: { params: nodeParams, response: { 200: nodeResponse, ...errorResponses } } },
    async (request) => ({ node: nodeJson(tailnet, tailnet.resolveNode(request.params.node)) }),
  );

  app.post<{ Params: { node: string }; Body: { name: string } }>(
    '/nodes/:node/rename',
    {
      schema: {
        params: nodeParams,
        body: {
          type: 'object',
          properties: { name: { type: 'string', maxLength: 200, description: 'the new MagicDNS label' } },
          required: ['name'],
          additionalProperties: false,
        },
        response: { 200: nodeResponse, ...errorResponses },
      },
    },
    async (request) => {
      const node = tailnet.resolveNode(request.params.node);
      return { node: nodeJson(tailnet, tailnet.renameNode(node.id, request.body.name)) };
    },
  );

  app.post<{ Params: { node: string } }>(
    '/nodes/:node/expire',
    { schema: { params: nodeParams, response: { 200: nodeResponse, ...errorResponses } } },
    async (request) => {
      const node = tailnet.resolveNode(request.params.node);
      return { node: nodeJson(tailnet, tailnet.expireNode(node.id)) };
    },
  );

  app.delete<{ Params: { node: string } }>(
    '/nodes/:node',
    { schema: { params: nodeParams, response: { 200: nodeResponse, ...errorResponses } } },
    async (request) => {
      const node = tailnet.resolveNode(request.params.node);
      const deletedNode = nodeJson(tailnet, node);
      tailnet.deleteNode(node.id);
      return { node: deletedNode };
    },
  );
}
