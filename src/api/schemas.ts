/**
 * JSON schemas of the admin API and the functions that turn tailnet records into the JSON
 * they describe. Fastify serializes responses through these schemas, so a field missing here
 * is dropped from the response.
 */
import type { ApiKey } from '../auth/api-keys.js';
import type { JoinToken, JoinTokens } from '../auth/join-tokens.js';
import type { Tailnet } from '../tailnet/tailnet.js';
import type { Node, PreAuthKey, User } from '../tailnet/types.js';
import type { PendingLoginInfo } from './pending-logins.js';

const time = { type: 'string', format: 'date-time' } as const;
const optionalTime = { type: ['string', 'null'], format: 'date-time' } as const;

/** Marks every property required, so a field the code forgot fails serialization instead of vanishing. */
function record(properties: Record<string, unknown>) {
  return { type: 'object', properties, required: Object.keys(properties), additionalProperties: false } as const;
}

export const errorSchema = record({ error: { type: 'string' } });

/** The error responses every route may send. */
export const errorResponses = { '4xx': errorSchema, '5xx': errorSchema } as const;

export const userSchema = record({
  id: { type: 'integer' },
  name: { type: 'string' },
  displayName: { type: 'string' },
  email: { type: 'string' },
  /** Issuer and subject for users who signed in through OIDC. */
  providerId: { type: ['string', 'null'] },
  createdAt: time,
});

export const preAuthKeySchema = record({
  id: { type: 'integer' },
  prefix: { type: 'string' },
  userId: { type: 'integer' },
  user: { type: 'string' },
  reusable: { type: 'boolean' },
  ephemeral: { type: 'boolean' },
  tags: { type: 'array', items: { type: 'string' } },
  useCount: { type: 'integer' },
  createdAt: time,
  expiresAt: optionalTime,
  revokedAt: optionalTime,
  /** True when the key was revoked or its expiry has passed. */
  expired: { type: 'boolean' },
});

export const nodeSchema = record({
  id: { type: 'integer' },
  stableId: { type: 'string' },
  /** The MagicDNS label (the node's given name). */
  name: { type: 'string' },
  hostname: { type: 'string' },
  userId: { type: 'integer' },
  user: { type: 'string' },
  ipAddresses: { type: 'array', items: { type: 'string' } },
  machineKey: { type: 'string' },
  nodeKey: { type: 'string' },
  online: { type: 'boolean' },
  lastSeen: optionalTime,
  createdAt: time,
  keyExpiry: optionalTime,
  expired: { type: 'boolean' },
  ephemeral: { type: 'boolean' },
  tags: { type: 'array', items: { type: 'string' } },
});

export const pendingLoginSchema = record({
  id: { type: 'string' },
  machineKey: { type: 'string' },
  nodeKey: { type: 'string' },
  hostname: { type: 'string' },
  createdAt: time,
});

export const apiKeySchema = record({
  id: { type: 'integer' },
  prefix: { type: 'string' },
  createdAt: time,
  expiresAt: optionalTime,
  lastUsedAt: optionalTime,
  revokedAt: optionalTime,
  expired: { type: 'boolean' },
});

export const joinTokenSchema = record({
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
});

/** A path parameter that takes a numeric ID or a name. */
export function idOrNameParams(name: string, description: string) {
  return {
    type: 'object',
    properties: { [name]: { type: 'string', minLength: 1, maxLength: 200, description } },
    required: [name],
  } as const;
}

/** The optional `?user=` filter of list routes. */
export const userFilterQuery = {
  type: 'object',
  properties: { user: { type: 'string', minLength: 1, maxLength: 200, description: 'user ID or name' } },
  additionalProperties: false,
} as const;

export function userJson(user: User) {
  return {
    id: user.id,
    name: user.name,
    displayName: user.displayName,
    email: user.email,
    providerId: user.providerId ?? null,
    createdAt: user.createdAt.toISOString(),
  };
}

export function preAuthKeyJson(tailnet: Tailnet, key: PreAuthKey) {
  const now = Date.now();
  return {
    id: key.id,
    prefix: key.prefix,
    userId: key.userId,
    user: tailnet.users.get(key.userId)?.name ?? '',
    reusable: key.reusable,
    ephemeral: key.ephemeral,
    tags: key.tags,
    useCount: key.useCount,
    createdAt: key.createdAt.toISOString(),
    expiresAt: key.expiresAt?.toISOString() ?? null,
    revokedAt: key.revokedAt?.toISOString() ?? null,
    expired: key.revokedAt !== undefined || (key.expiresAt !== undefined && key.expiresAt.getTime() <= now),
  };
}

export function nodeJson(tailnet: Tailnet, node: Node) {
  return {
    id: node.id,
    stableId: node.stableId,
    name: node.givenName,
    hostname: node.hostname,
    userId: node.userId,
    user: tailnet.users.get(node.userId)?.name ?? '',
    ipAddresses: [node.ipv4, node.ipv6].filter((address): address is string => address !== undefined),
    machineKey: node.machineKey.toString(),
    nodeKey: node.nodeKey.toString(),
    online: node.online,
    lastSeen: node.lastSeen?.toISOString() ?? null,
    createdAt: node.createdAt.toISOString(),
    keyExpiry: node.keyExpiry?.toISOString() ?? null,
    expired: tailnet.isExpired(node),
    ephemeral: node.ephemeral,
    tags: node.tags,
  };
}

export function pendingLoginJson(login: PendingLoginInfo) {
  return {
    id: login.id,
    machineKey: login.machineKey.toString(),
    nodeKey: login.nodeKey.toString(),
    hostname: login.hostname,
    createdAt: login.createdAt.toISOString(),
  };
}

export function apiKeyJson(key: ApiKey, expired: boolean) {
  return {
    id: key.id,
    prefix: key.prefix,
    createdAt: key.createdAt.toISOString(),
    expiresAt: key.expiresAt?.toISOString() ?? null,
    lastUsedAt: key.lastUsedAt?.toISOString() ?? null,
    revokedAt: key.revokedAt?.toISOString() ?? null,
    expired,
  };
}

export function joinTokenJson(tailnet: Tailnet, joinTokens: JoinTokens, token: JoinToken) {
  return {
    id: token.id,
    prefix: token.prefix,
    userId: token.userId,
    user: tailnet.users.get(token.userId)?.name ?? '',
    uses: token.maxUses,
    useCount: token.useCount,
    ephemeral: token.ephemeral,
    tags: token.tags,
    createdAt: token.createdAt.toISOString(),
    expiresAt: token.expiresAt.toISOString(),
    lastUsedAt: token.lastUsedAt?.toISOString() ?? null,
    revokedAt: token.revokedAt?.toISOString() ?? null,
    state: joinTokens.state(token),
  };
}
