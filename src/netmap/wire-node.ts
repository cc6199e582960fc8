/**
 * The tailcfg.Node form of a tailnet node, as peers and the node itself receive it.
 */
import type { Node as WireNode, UserProfile } from '../../protocol/tailcfg/node.js';
import type { Node, User } from '../tailnet/types.js';

export interface WireNodeOptions {
  baseDomain: string;
  /** Whether the node's key or login has expired, judged by the tailnet. */
  expired: boolean;
}

export function toWireNode(node: Node, options: WireNodeOptions): WireNode {
  const addresses: string[] = [];
  if (node.ipv4 !== undefined) addresses.push(`${node.ipv4}/32`);
  if (node.ipv6 !== undefined) addresses.push(`${node.ipv6}/128`);
  const homeDerp = node.hostinfo.NetInfo?.PreferredDERP ?? 0;

  const wire: WireNode = {
    ID: node.id,
    StableID: node.stableId,
    Name: `${node.givenName}.${options.baseDomain}.`,
    User: node.userId,
    Key: node.nodeKey.toString(),
    Machine: node.machineKey.toString(),
    Addresses: addresses,
    AllowedIPs: addresses,
    Endpoints: node.endpoints,
    HomeDERP: homeDerp,
    Hostinfo: node.hostinfo,
    Created: node.createdAt.toISOString(),
    MachineAuthorized: true,
    Online: node.online,
  };
  // Clients older than capability version 111 read the home region only from this field.
  if (homeDerp > 0) wire.DERP = `127.3.3.40:${homeDerp}`;
  if (node.discoKey !== undefined) wire.DiscoKey = node.discoKey.toString();
  if (node.capVersion !== undefined) wire.Cap = node.capVersion;
  if (node.tags.length > 0) wire.Tags = node.tags;
  if (node.lastSeen !== undefined) wire.LastSeen = node.lastSeen.toISOString();

  if (options.expired) {
    // A past KeyExpiry sends the node itself to NeedsLogin and makes peers disable it.
    wire.KeyExpiry = (node.expiredAt ?? node.keyExpiry ?? new Date(0)).toISOString();
    wire.Expired = true;
  } else if (node.keyExpiry !== undefined) {
    wire.KeyExpiry = node.keyExpiry.toISOString();
  }
  return wire;
}

export function toUserProfile(user: User): UserProfile {
  const profile: UserProfile = { ID: user.id, LoginName: user.email || user.name, DisplayName: user.displayName || user.name };
  if (user.pictureUrl !== '') profile.ProfilePicURL = user.pictureUrl;
  return profile;
}
