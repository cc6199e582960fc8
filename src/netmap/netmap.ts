/**
 * Builds map responses from the tailnet, reusing each node's encoded JSON.
 *
 * A change costs work in proportion to the nodes that must hear about it: each node's wire
 * form is encoded once per change and the same bytes go into every peer's message, and a full
 * map is assembled by joining cached strings instead of serialising the whole tailnet again.
 * Every node sees every other node until policies exist.
 */
import type { DERPMap } from '../../protocol/tailcfg/derp-map.js';
import type { DNSConfig, FilterRule, MapResponse, PeerChange } from '../../protocol/tailcfg/map.js';
import type { Tailnet } from '../tailnet/tailnet.js';
import type { Node, TailnetChange } from '../tailnet/types.js';
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
  private readonly tailnet: Tailnet;
  private readonly now: () => Date;

  constructor(private readonly options: NetmapOptions) {
    this.tailnet = options.tailnet;
    this.now = options.now ?? (() => new Date());
    // Registered before any map session listens, so caches are fresh when sessions build deltas.
    this.tailnet.on('change', (change) => this.invalidate(change));
  }

  private invalidate(change: TailnetChange): void {
    if (change.kind !== 'user-changed') this.nodeJson.delete(change.node.id);
  }

  /** The node's JSON as peers see it, from the cache when it is current. */
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

  /** The first message of a map stream: the self node, every peer and the tailnet settings. */
  fullMapJson(self: Node): string {
    const peers: string[] = [];
    const userIds = new Set<number>([self.userId]);
    for (const peer of this.tailnet.nodes.values()) {
      if (peer.id === self.id) continue;
      peers.push(this.wireJson(peer));
      userIds.add(peer.userId);
    }
    const profiles = [...userIds].flatMap((id) => {
      const user = this.tailnet.users.get(id);
      return user === undefined ? [] : [toUserProfile(user)];
    });

    const settings: MapResponse = {
      DERPMap: this.options.derpMap(),
      DNSConfig: this.dnsConfig(),
      Domain: this.tailnet.options.baseDomain,
      CollectServices: false,
      PacketFilter: ALLOW_ALL_FILTER,
      UserProfiles: profiles,
      ControlTime: this.now().toISOString(),
    };
    // The peer list is spliced in as cached strings; only the small settings object is serialised here.
    const settingsJson = JSON.stringify(settings);
    return `{"Node":${this.wireJson(self)},"Peers":[${peers.join(',')}],${settingsJson.slice(1)}`;
  }

  /** The message peers of `change.node` receive, or undefined when they need none. */
  peerDeltaJson(change: TailnetChange): string | undefined {
    switch (change.kind) {
      case 'node-added':
      case 'node-changed': {
        const user = this.tailnet.users.get(change.node.userId);
        const profiles = user === undefined ? '' : `,"UserProfiles":[${JSON.stringify(toUserProfile(user))}]`;
        return `{"PeersChanged":[${this.wireJson(change.node)}]${profiles}}`;
      }
      case 'node-removed':
        return JSON.stringify({ PeersRemoved: [change.node.id] } satisfies MapResponse);
      case 'node-patched': {
        const node = change.node;
        const patch: PeerChange = { NodeID: node.id, Endpoints: node.endpoints, DERPRegion: node.hostinfo.NetInfo?.PreferredDERP ?? 0 };
        if (node.discoKey !== undefined) patch.DiscoKey = node.discoKey.toString();
        if (node.lastSeen !== undefined) patch.LastSeen = node.lastSeen.toISOString();
        if (change.online !== undefined) patch.Online = change.online;
        return JSON.stringify({ PeersChangedPatch: [patch] } satisfies MapResponse);
      }
      case 'user-changed':
        return JSON.stringify({ UserProfiles: [toUserProfile(change.user)] } satisfies MapResponse);
    }
  }

  /** The message the changed node itself receives, or undefined when it needs none. */
  selfDeltaJson(change: TailnetChange): string | undefined {
    if (change.kind === 'node-changed') return `{"Node":${this.wireJson(change.node)}}`;
    return undefined;
  }
}
