/**
 * The DERP map: which relay regions exist and how to reach each relay node. Clients pick a
 * home region from it and need it before they reach the Running state. JSON field names are
 * Go's, from tailcfg/derpmap.go in Tailscale 1.92.
 */

export interface DERPMap {
  /** Relay regions keyed by region ID written as a decimal string. IDs 900–999 are for self-hosted regions. */
  Regions: Record<string, DERPRegion>;
  /** Optional per-region score multipliers for home region selection. */
  HomeParams?: { RegionScore?: Record<string, number> } | null;
  /** When true, clients drop Tailscale's default regions; irrelevant when the map is complete. */
  omitDefaultRegions?: boolean;
}

export interface DERPRegion {
  RegionID: number;
  /** A short code such as "wonder", shown by `tailscale netcheck`. */
  RegionCode: string;
  RegionName: string;
  Latitude?: number;
  Longitude?: number;
  /** Deprecated: clients no longer pick this region as home. */
  Avoid?: boolean;
  /** Clients neither measure latency to this region nor pick it as home. */
  NoMeasureNoHome?: boolean;
  Nodes: DERPNode[];
}

export interface DERPNode {
  /** Unique node name within the map. */
  Name: string;
  RegionID: number;
  /** Host name for TLS verification and, without IPv4/IPv6, for DNS. */
  HostName: string;
  /**
   * Name to verify the certificate against instead of HostName, or `sha256-raw:<hex>` to pin the
   * SHA-256 of the leaf certificate's DER bytes, which lets clients trust a self-signed relay.
   */
  CertName?: string;
  /** IPv4 address to dial; "none" disables IPv4 for this node. */
  IPv4?: string;
  /** IPv6 address to dial; "none" disables IPv6 for this node. */
  IPv6?: string;
  /** STUN port: 0 means 3478, -1 disables STUN on this node. */
  STUNPort?: number;
  /** The node only answers STUN and relays nothing. */
  STUNOnly?: boolean;
  /** DERP port: 0 means 443, or 3340 when clients run with TS_DEBUG_USE_DERP_HTTP. */
  DERPPort?: number;
  /** Clients skip TLS verification entirely; for tests only. */
  InsecureForTests?: boolean;
  /** Address clients send STUN probes to instead of IPv4/IPv6; for tests. */
  STUNTestIP?: string;
  /** The node also serves plain HTTP on port 80, used for captive portal checks. */
  CanPort80?: boolean;
}
