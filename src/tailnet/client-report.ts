/**
 * Checks what clients report about themselves before it is stored or sent to peers. Every peer
 * decodes another node's Hostinfo and endpoints with Go's encoding/json, and one value of the
 * wrong type fails that peer's whole map poll, so a single node could take every other node
 * offline. Invalid values are dropped, never the request, because newer clients add fields.
 */
import { isValidAddrPort } from '../../protocol/ip-address.js';
import { type HostinfoCheck, checkHostinfo } from '../../protocol/tailcfg/hostinfo.js';
import type { Logger } from '../log.js';

/** Maximum size of a stored Hostinfo as JSON; a larger one loses its largest fields. */
export const MAX_HOSTINFO_BYTES = 16 * 1024;

/** Maximum endpoints stored per node. A client reports a few per interface and address family. */
export const MAX_ENDPOINTS = 32;

export interface EndpointsCheck {
  endpoints: string[];
  /** Items that are not "ip:port" or "[ipv6]:port" text. */
  invalid: unknown[];
  /** Valid endpoints dropped beyond MAX_ENDPOINTS. */
  overLimit: number;
}

/** Returns the Hostinfo fields Go can decode, within MAX_HOSTINFO_BYTES. */
export function cleanHostinfo(value: unknown): HostinfoCheck {
  return checkHostinfo(value, MAX_HOSTINFO_BYTES);
}

/** Keeps the first MAX_ENDPOINTS valid endpoints; returns undefined when `value` is not a list. */
export function cleanEndpoints(value: unknown): EndpointsCheck | undefined {
  if (!Array.isArray(value)) return undefined;
  const check: EndpointsCheck = { endpoints: [], invalid: [], overLimit: 0 };
  for (const item of value) {
    if (typeof item !== 'string' || !isValidAddrPort(item)) check.invalid.push(item);
    else if (check.endpoints.length < MAX_ENDPOINTS) check.endpoints.push(item);
    else check.overLimit += 1;
  }
  return check;
}

/** Returns a capability version when `value` is a non-negative 32-bit integer, as Go's int field needs. */
export function cleanCapVersion(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 2 ** 31 - 1 ? value : undefined;
}

/** Logs at debug what a request lost to the checks, if anything. */
export function logDroppedReport(log: Logger, requestKind: string, hostinfo: HostinfoCheck, endpoints?: EndpointsCheck): void {
  const dropped: Record<string, unknown> = {};
  if (hostinfo.invalid.length > 0) dropped.invalidHostinfoFields = hostinfo.invalid.slice(0, 20);
  if (hostinfo.unknown.length > 0) dropped.unknownHostinfoFields = hostinfo.unknown.slice(0, 20);
  if (hostinfo.oversized.length > 0) dropped.oversizedHostinfoFields = hostinfo.oversized;
  if (endpoints !== undefined && endpoints.invalid.length > 0) {
    dropped.invalidEndpoints = endpoints.invalid.slice(0, 5).map((item) => JSON.stringify(item)?.slice(0, 100) ?? String(item));
    dropped.invalidEndpointCount = endpoints.invalid.length;
  }
  if (endpoints !== undefined && endpoints.overLimit > 0) dropped.endpointsOverLimit = endpoints.overLimit;
  if (Object.keys(dropped).length === 0) return;
  log.debug({ ...dropped, maxHostinfoBytes: MAX_HOSTINFO_BYTES, maxEndpoints: MAX_ENDPOINTS }, `${requestKind}: dropped invalid or excess client data`);
}
