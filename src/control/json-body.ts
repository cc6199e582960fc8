/** Reading and checking the JSON bodies of requests inside the Noise channel. */
import type { ServerStream } from '../../protocol/http2/server-stream.js';
import { RequestBodyError, readBody } from './noise-routes.js';

/** Register and map requests are a few kilobytes; this leaves room for large Hostinfo. */
const MAX_REQUEST_BYTES = 1024 * 1024;

export async function readJsonObject(stream: ServerStream, what: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const body = await readBody(stream, MAX_REQUEST_BYTES, timeoutMs);
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new RequestBodyError(400, `${what}: invalid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RequestBodyError(400, `${what}: expected a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** Runs a key parser and turns its error into a 400 naming the field. */
export function parseField<T>(what: string, field: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new RequestBodyError(400, `${what}: ${field}: ${(error as Error).message}`);
  }
}
