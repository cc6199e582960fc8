/**
 * `/machine/map`: the netmap poll. A streaming request gets a full MapResponse first and
 * deltas afterwards; a lite update (Stream false, OmitPeers true) only reports endpoints and
 * host information. See tailcfg.go MapRequest and MapResponse.
 */
import type { DERPMap } from './derp-map.js';
import type { Hostinfo } from './hostinfo.js';
import type { Node, UserProfile } from './node.js';

export interface MapRequest {
  Version: number;
  /** Always "zstd" from 1.92 clients, which then decompress every message. */
  Compress?: string;
  KeepAlive?: boolean;
  NodeKey: string;
  DiscoKey?: string;
  Stream?: boolean;
  Hostinfo?: Hostinfo;
  Endpoints?: string[];
  /** Parallel to Endpoints: 1 local, 2 STUN, 3 port-mapped, 4 STUN on the local port, 5 configured. */
  EndpointTypes?: number[];
  OmitPeers?: boolean;
  DebugFlags?: string[];
}

/** Changes to one peer that the client applies in place; only the fields present change. */
export interface PeerChange {
  NodeID: number;
  DERPRegion?: number;
  Cap?: number;
  Endpoints?: string[];
  Key?: string;
  DiscoKey?: string;
  Online?: boolean;
  LastSeen?: string;
  KeyExpiry?: string;
}

export interface FilterRule {
  SrcIPs: string[];
  DstPorts?: Array<{ IP: string; Ports: { First: number; Last: number } }>;
  IPProto?: number[];
}

export interface DNSConfig {
  Resolvers?: Array<{ Addr: string }>;
  Routes?: Record<string, Array<{ Addr: string }> | null>;
  /** Search domains, without a trailing dot. */
  Domains?: string[];
  /** True turns MagicDNS on. */
  Proxied?: boolean;
  ExtraRecords?: Array<{ Name: string; Type?: string; Value: string }>;
}

export interface MapResponse {
  /** Only PingRequest, ControlTime and a few others are read from a keepalive. */
  KeepAlive?: boolean;
  /** The self node; required in the first message of a stream. */
  Node?: Node;
  DERPMap?: DERPMap;
  /** The complete peer list when non-empty; an empty list later means "no change", not "no peers". */
  Peers?: Node[];
  PeersChanged?: Node[];
  PeersRemoved?: number[];
  PeersChangedPatch?: PeerChange[];
  /** Node ID (as a decimal string) to online state. */
  OnlineChange?: Record<string, boolean>;
  PeerSeenChange?: Record<string, boolean>;
  DNSConfig?: DNSConfig;
  /** Tailnet name. */
  Domain?: string;
  CollectServices?: boolean;
  /** Null means unchanged; an empty list blocks everything. */
  PacketFilter?: FilterRule[] | null;
  UserProfiles?: UserProfile[];
  /** The server's clock, which clients use to judge key expiry. */
  ControlTime?: string;
  Health?: string[] | null;
}
