/**
 * tailcfg.Node and its companions as Tailscale 1.92 (capability version 131) reads them. Field
 * names are Go's. Key fields hold text forms (`nodekey:…`); never send an empty string for a
 * key, because the client then rejects the whole message.
 */
import type { Hostinfo } from './hostinfo.js';

export interface Node {
  /** Non-zero and unique in the tailnet; clients key their peer table by it. */
  ID: number;
  /** Non-empty, stable for the node's life; shown as the status ID. */
  StableID: string;
  /** Fully qualified MagicDNS name with a trailing dot, such as "laptop.example.internal.". */
  Name: string;
  User: number;
  Sharer?: number;
  Key: string;
  /** Omitted or Go's zero time means the key never expires; a past time makes the node log in again. */
  KeyExpiry?: string;
  /** Base64 tailnet lock signature; unused here. */
  KeySignature?: string | null;
  Machine: string;
  DiscoKey?: string;
  /** The node's tailnet addresses as single-address prefixes ("/32", "/128"). */
  Addresses: string[];
  /** Routes the node may receive traffic for; null means the same as Addresses (capability version 112). */
  AllowedIPs?: string[] | null;
  /** Known UDP endpoints, "ip:port". */
  Endpoints?: string[];
  /** Legacy home DERP as "127.3.3.40:<region>"; sent for clients older than capability version 111. */
  DERP?: string;
  /** Home DERP region (capability version 111). */
  HomeDERP?: number;
  Hostinfo?: Hostinfo;
  Created?: string;
  /** The node's capability version. */
  Cap?: number;
  Tags?: string[];
  PrimaryRoutes?: string[];
  /** Last time the node was connected; null or omitted means unknown. */
  LastSeen?: string | null;
  /** Whether the node has a live map stream; null or omitted means unknown. */
  Online?: boolean | null;
  /** False puts the self node in NeedsMachineAuth. */
  MachineAuthorized?: boolean;
  /** Node capabilities and their arguments. */
  CapMap?: Record<string, unknown[] | null>;
  /** The peer's key expired: clients disable it. */
  Expired?: boolean;
}

export interface UserProfile {
  ID: number;
  LoginName: string;
  DisplayName: string;
  ProfilePicURL?: string;
}

/** Go's zero time.Time, which means "unset" in non-pointer time fields. */
export const GO_ZERO_TIME = '0001-01-01T00:00:00Z';

/** Returns true for Go's zero time in any of the forms Go may print it. */
export function isGoZeroTime(value: string | undefined | null): boolean {
  return value === undefined || value === null || value === '' || value.startsWith('0001-01-01T00:00:00');
}
