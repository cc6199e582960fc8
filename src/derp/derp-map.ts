/**
 * The DERP map handed to clients: the embedded relay's region, plus regions from an optional
 * JSON file in Tailscale's DERPMap format (tailcfg.DERPMap of tailscale.com v1.92.5). Clients
 * need at least one region before they reach the Running state.
 */
import fs from 'node:fs';
import net from 'node:net';
import { z } from 'zod';

import type { DERPMap, DERPNode, DERPRegion } from '../../protocol/tailcfg/derp-map.js';

/** The embedded relay as it appears in the map. */
export interface EmbeddedRegion {
  regionId: number;
  regionCode: string;
  regionName: string;
  hostName: string;
  ipv4?: string | undefined;
  ipv6?: string | undefined;
  /** The bound TLS port of the relay. */
  derpPort: number;
  /** The bound STUN port, or -1 when the STUN server does not run. */
  stunPort: number;
  /** `sha256-raw:<hex>` of a self-signed certificate, or undefined for one clients verify normally. */
  certName?: string | undefined;
}

export class DerpMapError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerpMapError';
  }
}

const port = z.number().int().min(0).max(65535);
/** An IP address to dial, or "none" to turn that address family off for the node. */
const nodeAddress = z.string().refine((value) => value === 'none' || net.isIP(value) !== 0, { message: 'expected an IP address or "none"' });

const NodeSchema = z
  .object({
    Name: z.string().min(1),
    RegionID: z.number().int(),
    HostName: z.string().min(1),
    CertName: z.string().optional(),
    IPv4: nodeAddress.optional(),
    IPv6: nodeAddress.optional(),
    STUNPort: z.number().int().min(-1).max(65535).optional(),
    STUNOnly: z.boolean().optional(),
    DERPPort: port.optional(),
    InsecureForTests: z.boolean().optional(),
    STUNTestIP: z.string().refine((value) => net.isIP(value) !== 0, { message: 'expected an IP address' }).optional(),
    CanPort80: z.boolean().optional(),
  })
  .strict();

const RegionSchema = z
  .object({
    RegionID: z.number().int().min(1),
    RegionCode: z.string().min(1),
    RegionName: z.string(),
    Latitude: z.number().optional(),
    Longitude: z.number().optional(),
    Avoid: z.boolean().optional(),
    NoMeasureNoHome: z.boolean().optional(),
    Nodes: z.array(NodeSchema).min(1, 'a region needs at least one node'),
  })
  .strict();

const MapSchema = z
  .object({
    Regions: z.record(z.string(), RegionSchema),
    HomeParams: z
      .object({ RegionScore: z.record(z.string(), z.number()).nullable().optional() })
      .strict()
      .nullable()
      .optional(),
    omitDefaultRegions: z.boolean().optional(),
  })
  .strict();

/**
 * Reads and checks a DERPMap JSON file.
 * @throws {DerpMapError} naming the file and each invalid field.
 */
export function readDerpMapFile(file: string): DERPMap {
  const where = `DERP map file ${file} (derp.extra_map_path)`;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new DerpMapError(`cannot read ${where}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new DerpMapError(`${where} is not valid JSON: ${(error as Error).message}`);
  }

  const result = MapSchema.safeParse(json);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const field = issue.path.join('.') || '(top level)';
      return issue.code === 'unrecognized_keys' ? `${field}: unknown field ${issue.keys.join(', ')}` : `${field}: ${issue.message}`;
    });
    throw new DerpMapError(`invalid ${where}: ${problems.join('; ')}`);
  }

  const problems: string[] = [];
  for (const [id, region] of Object.entries(result.data.Regions)) {
    if (id !== String(region.RegionID)) problems.push(`Regions.${id}: the key must be the region's RegionID ${region.RegionID} written in decimal`);
    region.Nodes.forEach((node, index) => {
      if (node.RegionID !== region.RegionID) problems.push(`Regions.${id}.Nodes.${index}.RegionID: ${node.RegionID} differs from the region's RegionID ${region.RegionID}`);
    });
  }
  if (problems.length > 0) throw new DerpMapError(`invalid ${where}: ${problems.join('; ')}`);
  return result.data as DERPMap;
}

export function embeddedRegion(embedded: EmbeddedRegion): DERPRegion {
  const node: DERPNode = {
    Name: `${embedded.regionId}a`,
    RegionID: embedded.regionId,
    HostName: embedded.hostName,
    ...(embedded.certName === undefined ? {} : { CertName: embedded.certName }),
    ...(embedded.ipv4 === undefined ? {} : { IPv4: embedded.ipv4 }),
    ...(embedded.ipv6 === undefined ? {} : { IPv6: embedded.ipv6 }),
    STUNPort: embedded.stunPort,
    DERPPort: embedded.derpPort,
  };
  return { RegionID: embedded.regionId, RegionCode: embedded.regionCode, RegionName: embedded.regionName, Nodes: [node] };
}

/**
 * Combines the embedded region (if the relay runs) with the regions of the extra map (if any).
 * The result is frozen, so every caller can hand out the same object.
 * @throws {DerpMapError} when the map would have no region, or a region ID or node name appears twice.
 */
export function buildDerpMap(embedded: EmbeddedRegion | undefined, extra: DERPMap | undefined, extraPath?: string): DERPMap {
  const regions: Record<string, DERPRegion> = { ...(extra?.Regions ?? {}) };
  if (embedded !== undefined) {
    const id = String(embedded.regionId);
    if (regions[id] !== undefined) {
      throw new DerpMapError(`region ${id} of DERP map file ${extraPath} (derp.extra_map_path) has the embedded relay's derp.region_id; change one of them`);
    }
    regions[id] = embeddedRegion(embedded);
  }
  if (Object.keys(regions).length === 0) {
    throw new DerpMapError('the DERP map has no region: with derp.enabled false, derp.extra_map_path must name a file with at least one region');
  }

  const names = new Map<string, number>();
  for (const region of Object.values(regions)) {
    for (const node of region.Nodes) {
      const other = names.get(node.Name);
      if (other !== undefined) throw new DerpMapError(`DERP node name ${JSON.stringify(node.Name)} appears in regions ${other} and ${region.RegionID}; node names must be unique`);
      names.set(node.Name, region.RegionID);
    }
  }

  const map: DERPMap = { Regions: regions };
  if (extra?.HomeParams !== undefined) map.HomeParams = extra.HomeParams;
  if (extra?.omitDefaultRegions !== undefined) map.omitDefaultRegions = extra.omitDefaultRegions;
  return deepFreeze(map);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const member of Object.values(value)) deepFreeze(member);
    Object.freeze(value);
  }
  return value;
}
