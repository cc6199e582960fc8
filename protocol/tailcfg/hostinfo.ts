/**
 * tailcfg.Hostinfo: what a client reports about itself. The coordinator stores it as received
 * and reads only the fields below; the rest passes through to peers unchanged.
 */

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
