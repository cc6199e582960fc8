/** The tailnet's in-memory records. Only the Tailnet class creates or changes them. */
import type { DiscoPublic, MachinePublic, NodePublic } from '../../protocol/key.js';
import type { Hostinfo } from '../../protocol/tailcfg/hostinfo.js';

export interface User {
  id: number;
  name: string;
  displayName: string;
  email: string;
  pictureUrl: string;
  /** Issuer and subject for users who signed in through OIDC. */
  providerId?: string;
  createdAt: Date;
}

export interface PreAuthKey {
  id: number;
  /** The public part of the key, which listings show. */
  prefix: string;
  secretHash: string;
  userId: number;
  reusable: boolean;
  ephemeral: boolean;
  tags: string[];
  useCount: number;
  createdAt: Date;
  expiresAt?: Date;
  revokedAt?: Date;
}

export interface Node {
  id: number;
  stableId: string;
  userId: number;
  machineKey: MachinePublic;
  nodeKey: NodePublic;
  discoKey?: DiscoPublic;
  /** The host name the client reported. */
  hostname: string;
  /** The MagicDNS label, unique in the tailnet. */
  givenName: string;
  ipv4?: string;
  ipv6?: string;
  ephemeral: boolean;
  tags: string[];
  hostinfo: Hostinfo;
  endpoints: string[];
  preAuthKeyId?: number;
  createdAt: Date;
  lastSeen?: Date;
  /** When the node key expires; undefined means never. */
  keyExpiry?: Date;
  /** When the node logged out or was expired by an administrator. */
  expiredAt?: Date;
  /** Whether the node has a live map stream. Not stored. */
  online: boolean;
  /** Capability version of the node's last request. Not stored. */
  capVersion?: number;
}

/** A change the tailnet publishes after it has been written to the store. */
export type TailnetChange =
  | { kind: 'node-added'; node: Node }
  /** Fields peers see changed (key, addresses, name, expiry, host information). */
  | { kind: 'node-changed'; node: Node }
  /** Only endpoints, DERP home, disco key or online state changed: peers get a patch. */
  | { kind: 'node-patched'; node: Node; online?: boolean }
  | { kind: 'node-removed'; node: Node }
  | { kind: 'user-changed'; user: User };
