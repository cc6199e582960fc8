/**
 * Builds map responses from the tailnet, reusing each node's encoded JSON.
 *
 * A change costs work in proportion to the nodes that must hear about it. Each node's wire form
 * is encoded once per change, and the same bytes go into every peer's message. A full map is
 * assembled from cached compressed chunks of the peer list (`peer-chunks.ts`) instead of
 * serialising and compressing the whole tailnet again. Every node sees every other node until
 * policies exist.
 */
import { encodeZstdFrame, frameCompressed } from '../../protocol/mapstream/frame.js';
import type { DERPMap } from '../../protocol/tailcfg/derp-map.js';
import type { DNSConfig, FilterRule, MapResponse, PeerChange } from '../../protocol/tailcfg/map.js';
import type { Tailnet } from '../tailnet/tailnet.js';
import type { Node, TailnetChange, User } from '../tailnet/types.js';
import { PeerChunks } from './peer-chunks.js';
import { toUserProfile, toWireNode } from './wire-node.js';

/** Every source may reach every destination on every port. */
export const ALLOW_ALL_FILTER: FilterRule[] = [{ SrcIPs: ['*'], DstPorts: [{ IP: '*', Ports: { First: 0, Last: 65535 } }] }];

export interface NetmapOptions {
  tailnet: Tailnet;
  derpMap: () => DERPMap;
  now?: () => Date;
}

export class Netmap {
  private readonly nodeJson = new Map<number, string>();
  private readonly peerChunks = new PeerChunks((node) => this.wireJson(node));
  private readonly tailnet: Tailnet;
  private readonly now: () => Date;

  constructor(private readonly options: NetmapOptions) {
    this.tailnet = options.tailnet;
    this.now = options.now ?? (() => new Date());
    for (const node of this.tailnet.nodes.values()) this.peerChunks.set(node);
    // Registered before any map session listens, so caches are fresh when sessions build deltas.
    this.tailnet.on('change', (change) => this.invalidate(change));
  }

  /**
   * Encodes every node and compresses every peer chunk now, so the first full maps after a
   * start cost what later ones do instead of encoding the whole tailnet.
   */
  warm(): void {
    this.peerChunks.compressAll();
  }

  private invalidate(change: TailnetChange): void {
    if (change.kind === 'user-changed') return;
    this.nodeJson.delete(change.node.id);
    if (change.kind === 'node-removed') this.peerChunks.delete(change.node);
    else this.peerChunks.set(change.node);
  }

  /** Returns the node's JSON as peers see it, from the cache when it is current. */
  wireJson(node: Node): string {
    let json = this.nodeJson.get(node.id);
    if (json === undefined) {
      json = JSON.stringify(toWireNode(node, { baseDomain: this.tailnet.options.baseDomain, expired: this.tailnet.isExpired(node) }));
      this.nodeJson.set(node.id, json);
    }
    return json;
  }

  dnsConfig(): DNSConfig {
    return { Domains: [this.tailnet.options.baseDomain], Proxied: true, Resolvers: [] };
  }

  /** Builds the first message of a map stream: the self node, every peer and the tailnet settings. */
  fullMapJson(self: Node): string {
    const peers: string[] = [];
    const userIds = new Set<number>([self.userId]);
    for (const peer of this.tailnet.nodes.values()) {
      if (peer.id === self.id) continue;
      peers.push(this.wireJson(peer));
      userIds.add(peer.userId);
    }
    // The peer list is spliced in as cached strings; only the small settings object is serialised here.
    const settingsJson = JSON.stringify(this.settings(userIds));
    return `{"Node":${this.wireJson(self)},"Peers":[${peers.join(',')}],${settingsJson.slice(1)}`;
  }

  /** Returns the fields of a full map after the peer list, with the profiles of `userIds`. */
  private settings(userIds: Set<number>): MapResponse {
    const profiles = [...userIds].flatMap((id) => {
      const user = this.tailnet.users.get(id);
      return user === undefined ? [] : [toUserProfile(user)];
    });
    return {
      DERPMap: this.options.derpMap(),
      DNSConfig: this.dnsConfig(),
      Domain: this.tailnet.options.baseDomain,
      CollectServices: false,
      PacketFilter: ALLOW_ALL_FILTER,
      UserProfiles: profiles,
      ControlTime: this.now().toISOString(),
    };
  }

  /**
   * Builds the first message of a map stream, ready to write: the same MapResponse as
   * `fullMapJson`, with the peer list copied from cached compressed chunks.
   */
  fullMapMessage(self: Node): Buffer {
    const userIds = new Set<number>([self.userId]);
    for (const peer of this.tailnet.nodes.values()) userIds.add(peer.userId);
    const head = encodeZstdFrame(Buffer.from(`{"Node":${this.wireJson(self)},"Peers":[`));
    const tail = encodeZstdFrame(Buffer.from(`],${JSON.stringify(this.settings(userIds)).slice(1)}`));
    return frameCompressed(head, ...this.peerChunks.framesFor(self), tail);
  }

  /**
   * Builds the JSON texts of one batch of peer updates, so that each update is encoded once
   * however many recipients get it.
   */
  peerUpdates(updates: Iterable<PeerUpdate>, changedUsers: Iterable<User>): PeerUpdateBatch {
    const entries: PeerUpdateEntry[] = [];
    const profiles = new Map<number, string>();
    for (const user of changedUsers) profiles.set(user.id, JSON.stringify(toUserProfile(user)));

    for (const { node, kind, onlineChanged } of updates) {
      switch (kind) {
        case 'changed': {
          entries.push({ nodeId: node.id, list: 'PeersChanged', json: this.wireJson(node) });
          const user = this.tailnet.users.get(node.userId);
          if (user !== undefined && !profiles.has(user.id)) profiles.set(user.id, JSON.stringify(toUserProfile(user)));
          break;
        }
        case 'removed':
          entries.push({ nodeId: node.id, list: 'PeersRemoved', json: String(node.id) });
          break;
        case 'patched': {
          const patch: PeerChange = { NodeID: node.id, Endpoints: node.endpoints, DERPRegion: node.hostinfo.NetInfo?.PreferredDERP ?? 0 };
          if (node.discoKey !== undefined) patch.DiscoKey = node.discoKey.toString();
          if (node.lastSeen !== undefined) patch.LastSeen = node.lastSeen.toISOString();
          if (onlineChanged) patch.Online = node.online;
          entries.push({ nodeId: node.id, list: 'PeersChangedPatch', json: JSON.stringify(patch) });
          break;
        }
      }
    }
    return new PeerUpdateBatch(entries, [...profiles.values()], (node) => this.wireJson(node));
  }
}

/** An update that peers of `node` must hear since the last batch: its whole record, a patch, or its removal. */
export interface PeerUpdate {
  node: Node;
  kind: 'changed' | 'patched' | 'removed';
  /** Whether a patch carries the Online field. */
  onlineChanged: boolean;
}

interface PeerUpdateEntry {
  nodeId: number;
  list: 'PeersChanged' | 'PeersRemoved' | 'PeersChangedPatch';
  json: string;
}

/** One batch of peer updates, encoded once, from which each recipient's message is joined. */
export class PeerUpdateBatch {
  private readonly nodeIds: Set<number>;

  constructor(
    private readonly entries: PeerUpdateEntry[],
    private readonly profiles: string[],
    private readonly wireJson: (node: Node) => string,
  ) {
    this.nodeIds = new Set(entries.map((entry) => entry.nodeId));
  }

  /** Whether the batch contains an update about `nodeId`, which that node must not receive. */
  has(nodeId: number): boolean {
    return this.nodeIds.has(nodeId);
  }

  /**
   * Builds the MapResponse text for one recipient, or returns undefined when it needs none.
   * @param recipient left out of the peer lists, because a node is never its own peer.
   * @param self the recipient's own record, sent when that record changed.
   */
  json(recipient?: number, self?: Node): string | undefined {
    const lists: Record<PeerUpdateEntry['list'], string[]> = { PeersChanged: [], PeersRemoved: [], PeersChangedPatch: [] };
    for (const entry of this.entries) {
      if (entry.nodeId !== recipient) lists[entry.list].push(entry.json);
    }
    const fields: string[] = [];
    if (self !== undefined) fields.push(`"Node":${this.wireJson(self)}`);
    for (const [name, items] of Object.entries(lists)) {
      if (items.length > 0) fields.push(`"${name}":[${items.join(',')}]`);
    }
    if (fields.length === 0 && this.profiles.length === 0) return undefined;
    if (this.profiles.length > 0) fields.push(`"UserProfiles":[${this.profiles.join(',')}]`);
    return `{${fields.join(',')}}`;
  }
}
