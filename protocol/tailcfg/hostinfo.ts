/**
 * tailcfg.Hostinfo: what a client reports about itself. Peers decode it with Go's
 * encoding/json, which fails the whole MapResponse on one field of the wrong type, so
 * `checkHostinfo` keeps only the fields below whose values Go can decode. Field names and types
 * are those of tailcfg/tailcfg.go in Tailscale 1.92.5.
 */
import { isValidPrefix } from '../ip-address.js';

export interface NetInfo {
  /** The node's home DERP region, from its latency measurements. */
  PreferredDERP?: number;
  [field: string]: unknown;
}

export interface Hostinfo {
  IPNVersion?: string;
  OS?: string;
  OSVersion?: string;
  Hostname?: string;
  NetInfo?: NetInfo;
  /** Tags the node asks to be tagged with. */
  RequestTags?: string[];
  [field: string]: unknown;
}

/**
 * The JSON form of one Go field type. `int` is Go's int, checked against the 32-bit range
 * because 32-bit clients decode it into 32 bits. `optBool` is opt.Bool, whose JSON form is
 * true, false or null.
 */
type FieldType =
  | 'string'
  | 'bool'
  | 'optBool'
  | 'int'
  | 'uint16'
  | 'uint64'
  | 'float64'
  | 'strings'
  | 'prefixes'
  | 'float64Map'
  | { object: Schema }
  | { objects: Schema };

type Schema = Readonly<Record<string, FieldType>>;

const NET_INFO: Schema = {
  MappingVariesByDestIP: 'optBool',
  WorkingIPv6: 'optBool',
  OSHasIPv6: 'optBool',
  WorkingUDP: 'optBool',
  WorkingICMPv4: 'optBool',
  HavePortMap: 'bool',
  UPnP: 'optBool',
  PMP: 'optBool',
  PCP: 'optBool',
  PreferredDERP: 'int',
  LinkType: 'string',
  DERPLatency: 'float64Map',
  FirewallMode: 'string',
};

const SERVICE: Schema = { Proto: 'string', Port: 'uint16', Description: 'string' };

const LOCATION: Schema = {
  Country: 'string',
  CountryCode: 'string',
  City: 'string',
  CityCode: 'string',
  Latitude: 'float64',
  Longitude: 'float64',
  Priority: 'int',
};

const TPM_INFO: Schema = {
  Manufacturer: 'string',
  Vendor: 'string',
  Model: 'int',
  FirmwareVersion: 'uint64',
  SpecRevision: 'int',
  FamilyIndicator: 'string',
};

const HOSTINFO: Schema = {
  IPNVersion: 'string',
  FrontendLogID: 'string',
  BackendLogID: 'string',
  OS: 'string',
  OSVersion: 'string',
  Container: 'optBool',
  Env: 'string',
  Distro: 'string',
  DistroVersion: 'string',
  DistroCodeName: 'string',
  App: 'string',
  Desktop: 'optBool',
  Package: 'string',
  DeviceModel: 'string',
  PushDeviceToken: 'string',
  Hostname: 'string',
  ShieldsUp: 'bool',
  ShareeNode: 'bool',
  NoLogsNoSupport: 'bool',
  WireIngress: 'bool',
  IngressEnabled: 'bool',
  AllowsUpdate: 'bool',
  Machine: 'string',
  GoArch: 'string',
  GoArchVar: 'string',
  GoVersion: 'string',
  RoutableIPs: 'prefixes',
  RequestTags: 'strings',
  WoLMACs: 'strings',
  Services: { objects: SERVICE },
  NetInfo: { object: NET_INFO },
  sshHostKeys: 'strings',
  Cloud: 'string',
  Userspace: 'optBool',
  UserspaceRouter: 'optBool',
  AppConnector: 'optBool',
  ServicesHash: 'string',
  ExitNodeID: 'string',
  Location: { object: LOCATION },
  TPM: { object: TPM_INFO },
  StateEncrypted: 'optBool',
};

export interface HostinfoCheck {
  /** A new object with only the fields Go can decode, at most `maxBytes` long as JSON. */
  hostinfo: Hostinfo;
  /** Paths of fields and list items dropped because their JSON type or text was invalid, such as "NetInfo.PreferredDERP". */
  invalid: string[];
  /** Paths of fields that Hostinfo does not have in Tailscale 1.92.5. */
  unknown: string[];
  /** Top-level fields dropped, largest first, to bring the JSON under `maxBytes`. */
  oversized: string[];
}

/**
 * Checks a client's Hostinfo against Go's field types and returns a clean copy. Fields with a
 * null value are dropped without a report, because Go treats null as absent. A value that is
 * not an object yields an empty Hostinfo.
 */
export function checkHostinfo(value: unknown, maxBytes: number): HostinfoCheck {
  const check: HostinfoCheck = { hostinfo: {}, invalid: [], unknown: [], oversized: [] };
  if (!isPlainObject(value)) {
    if (value !== undefined && value !== null) check.invalid.push('Hostinfo');
    return check;
  }
  check.hostinfo = checkObject(value, HOSTINFO, '', check);

  let size = Buffer.byteLength(JSON.stringify(check.hostinfo));
  if (size <= maxBytes) return check;
  const fieldSizes = Object.entries(check.hostinfo)
    .map(([name, field]) => ({ name, bytes: Buffer.byteLength(JSON.stringify(field)) + name.length + 4 }))
    .sort((a, b) => b.bytes - a.bytes);
  for (const { name, bytes } of fieldSizes) {
    if (size <= maxBytes) break;
    delete check.hostinfo[name];
    check.oversized.push(name);
    size -= bytes;
  }
  return check;
}

function checkObject(value: Record<string, unknown>, schema: Schema, prefix: string, check: HostinfoCheck): Record<string, unknown> {
  const clean: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(value)) {
    const path = `${prefix}${name}`;
    const type = Object.hasOwn(schema, name) ? schema[name] : undefined;
    if (type === undefined) {
      check.unknown.push(path);
      continue;
    }
    if (field === null) continue;
    const checked = checkField(field, type, path, check);
    if (checked === undefined) check.invalid.push(path);
    else clean[name] = checked;
  }
  return clean;
}

/** Returns the value, cleaned where it is a list or object, or undefined when Go cannot decode it. */
function checkField(value: unknown, type: FieldType, path: string, check: HostinfoCheck): unknown {
  switch (type) {
    case 'string':
      return typeof value === 'string' ? value : undefined;
    case 'bool':
    case 'optBool':
      return typeof value === 'boolean' ? value : undefined;
    case 'int':
      return isIntegerIn(value, -(2 ** 31), 2 ** 31 - 1) ? value : undefined;
    case 'uint16':
      return isIntegerIn(value, 0, 0xffff) ? value : undefined;
    case 'uint64':
      return isIntegerIn(value, 0, Number.MAX_SAFE_INTEGER) ? value : undefined;
    case 'float64':
      return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
    case 'strings':
      return checkList(value, path, check, (item) => typeof item === 'string');
    case 'prefixes':
      return checkList(value, path, check, (item) => typeof item === 'string' && isValidPrefix(item));
    case 'float64Map': {
      if (!isPlainObject(value)) return undefined;
      const clean: Record<string, number> = {};
      for (const [key, item] of Object.entries(value)) {
        if (typeof item === 'number' && Number.isFinite(item)) clean[key] = item;
        else check.invalid.push(`${path}.${key}`);
      }
      return clean;
    }
  }
  if ('object' in type) {
    return isPlainObject(value) ? checkObject(value, type.object, `${path}.`, check) : undefined;
  }
  if (!Array.isArray(value)) return undefined;
  const items: Array<Record<string, unknown>> = [];
  for (const [index, item] of value.entries()) {
    if (isPlainObject(item)) items.push(checkObject(item, type.objects, `${path}[${index}].`, check));
    else check.invalid.push(`${path}[${index}]`);
  }
  return items;
}

/** Keeps the items of a list that pass `valid` and reports the others; returns undefined for a non-list. */
function checkList(value: unknown, path: string, check: HostinfoCheck, valid: (item: unknown) => boolean): unknown[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const items: unknown[] = [];
  for (const [index, item] of value.entries()) {
    if (valid(item)) items.push(item);
    else check.invalid.push(`${path}[${index}]`);
  }
  return items;
}

function isIntegerIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
