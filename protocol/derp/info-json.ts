/**
 * Reading the ClientInfo and ServerInfo JSON the way Go's encoding/json fills a
 * struct: object keys match field names case-insensitively, the last matching key
 * wins, null leaves a field at its zero value, and unknown keys are ignored.
 */
import { DerpFrameError, type FrameType } from './frame.js';

/** The members of a JSON object, keyed by lower-cased name. Later keys replace earlier ones. */
export type InfoFields = ReadonlyMap<string, unknown>;

const utf8 = new TextDecoder('utf-8');

/** Parses json as an object. Throws DerpFrameError naming frameType when it is not one. */
export function parseInfoObject(frameType: FrameType, json: Uint8Array | string): InfoFields {
  const text = typeof json === 'string' ? json : utf8.decode(json);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new DerpFrameError(frameType, `invalid JSON: ${reason}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
    throw new DerpFrameError(frameType, `JSON is ${kind}, expected an object`);
  }

  const fields = new Map<string, unknown>();
  for (const [name, member] of Object.entries(value)) {
    fields.set(name.toLowerCase(), member);
  }
  return fields;
}

/** Reads an integer field. Absent or null reads as 0, like a Go int. */
export function readIntField(frameType: FrameType, fields: InfoFields, name: string): number {
  const value = fields.get(name.toLowerCase());
  if (value === undefined || value === null) {
    return 0;
  }
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new DerpFrameError(frameType, `JSON field "${name}" is ${JSON.stringify(value)}, expected an integer`);
  }
  return value;
}

/** Reads a boolean field. Absent or null reads as false, like a Go bool. */
export function readBoolField(frameType: FrameType, fields: InfoFields, name: string): boolean {
  const value = fields.get(name.toLowerCase());
  if (value === undefined || value === null) {
    return false;
  }
  if (typeof value !== 'boolean') {
    throw new DerpFrameError(frameType, `JSON field "${name}" is ${JSON.stringify(value)}, expected true or false`);
  }
  return value;
}

/** Reads a string field. Absent or null reads as undefined. */
export function readStringField(frameType: FrameType, fields: InfoFields, name: string): string | undefined {
  const value = fields.get(name.toLowerCase());
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value !== 'string') {
    throw new DerpFrameError(frameType, `JSON field "${name}" is ${JSON.stringify(value)}, expected a string`);
  }
  return value;
}
