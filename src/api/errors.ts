/** Turns errors into API responses: a status code and a JSON body `{"error": "<message>"}`. */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

import { ApiKeyError } from '../auth/api-keys.js';
import { JoinTokenError } from '../auth/join-tokens.js';
import { TailnetError } from '../tailnet/tailnet.js';
import { ExpirationError } from './expiration.js';

/**
 * A request the API itself rejects, outside the tailnet's rules. The user API sends `reason`, a
 * machine-readable cause such as `forbidden`, beside the message. The admin API sends only the
 * message.
 */
export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const STATUS_BY_CODE: Record<TailnetError['code'] | ApiKeyError['code'], number> = {
  'not-found': 404,
  conflict: 409,
  invalid: 400,
  'auth-key': 400,
};

const STATUS_BY_JOIN_REASON: Record<JoinTokenError['reason'], number> = {
  unknown: 401,
  expired: 410,
  'used-up': 410,
  revoked: 410,
  'not-found': 404,
  invalid: 400,
};

export function statusAndMessage(error: unknown): { status: number; message: string } {
  if (error instanceof TailnetError || error instanceof ApiKeyError) return { status: STATUS_BY_CODE[error.code], message: error.message };
  if (error instanceof JoinTokenError) return { status: STATUS_BY_JOIN_REASON[error.reason], message: error.message };
  if (error instanceof ExpirationError) return { status: 400, message: error.message };
  if (error instanceof ApiError) return { status: error.statusCode, message: error.message };

  const fastifyError = error as Partial<FastifyError>;
  if (fastifyError.validation !== undefined) return { status: 400, message: `invalid request: ${fastifyError.message}` };
  // Fastify's own client errors, such as a malformed JSON body or a wrong content type.
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return { status: fastifyError.statusCode, message: fastifyError.message ?? 'bad request' };
  }
  return { status: 500, message: 'internal server error; the coordinator log has the details' };
}

export async function handleApiError(error: unknown, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const { status, message } = statusAndMessage(error);
  if (status >= 500) request.log.error({ err: error, method: request.method, url: request.url }, 'API request failed');
  await reply.code(status).send({ error: message });
}
