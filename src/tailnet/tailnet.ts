/**
 * The tailnet: users, pre-auth keys and nodes held in memory for reads, written through to
 * SQLite before any change is acknowledged, and published as a change event afterwards.
 *
 * This class is the only writer of users, keys and nodes, so every change is published exactly
 * once. It knows nothing of HTTP or streams and can be driven from a test without a socket.
 */
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';

import { DiscoPublic, MachinePublic, NodePublic } from '../../protocol/key.js';
import type { Hostinfo } from '../../protocol/tailcfg/hostinfo.js';
import type { Logger } from '../log.js';
import type { NodeRow, PreAuthKeyRow, Store, UserRow } from '../store/store.js';
import { cleanEndpoints, cleanHostinfo } from './client-report.js';
import { sanitizeHostname, uniqueLabel, validateLabel } from './dns-name.js';
import { AddressPool, Prefix } from './ip-allocator.js';
import { generatePreAuthKey, parsePreAuthKey, secretMatches } from './preauth-key.js';
import type { Node, PreAuthKey, TailnetChange, User } from './types.js';

export interface TailnetOptions {
  ipv4Prefix: string;
  ipv6Prefix: string;
  /** MagicDNS base domain, such as "wonder.internal". */
  baseDomain: string;
  /** Node key lifetime in milliseconds; 0 means keys never expire. */
  nodeKeyExpiryMs: number;
  log: Logger;
  now?: () => Date;
}

/** A request the tailnet rejects; `message` is meant for the person who made it. */
export class TailnetError extends Error {
  constructor(
    message: string,
    readonly code: 'not-found' | 'conflict' | 'invalid' | 'auth-key' = 'invalid',
  ) {
    super(message);
    this.name = 'TailnetError';
  }
}

const USER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._@+-]{0,62}$/;
const TAG = /^tag:[a-zA-Z0-9][a-zA-Z0-9-]*$/;

/** Returns whether `name` is a valid user name: 1 to 63 letters, digits and . _ @ + -, starting with a letter or digit. */
export function isValidUserName(name: string): boolean {
  return USER_NAME.test(name);
}

/** @throws {TailnetError} naming the first tag that is not of the form tag:NAME. */
export function checkTags(tags: readonly string[]): void {
  for (const tag of tags) {
    if (!TAG.test(tag)) throw new TailnetError(`invalid tag ${JSON.stringify(tag)}: expected tag:NAME`);
  }
}

export interface RegisterNodeInput {
  machineKey: MachinePublic;
  nodeKey: NodePublic;
  /** Checked by `cleanHostinfo`, because it is stored and sent to peers as it is. */
  hostinfo: Hostinfo;
  /** The client asked to be ephemeral (`--state=mem:` or tsnet). */
  ephemeral: boolean;
  capVersion: number;
}

export class Tailnet extends EventEmitter<{ change: [TailnetChange] }> {
  readonly users = new Map<number, User>();
  readonly preAuthKeys = new Map<number, PreAuthKey>();
  readonly nodes = new Map<number, Node>();

  private readonly nodesByNodeKey = new Map<string, Node>();
  private readonly nodesByMachineKey = new Map<string, Node>();
  private readonly labels = new Set<string>();
  private readonly ipv4Pool: AddressPool;
  private readonly ipv6Pool: AddressPool;
  private readonly now: () => Date;
  private readonly log: Logger;

  private constructor(
    private readonly store: Store,
    readonly options: TailnetOptions,
  ) {
    super();
    this.setMaxListeners(0);
    this.ipv4Pool = new AddressPool(new Prefix(options.ipv4Prefix));
    this.ipv6Pool = new AddressPool(new Prefix(options.ipv6Prefix));
    if (this.ipv4Pool.prefix.family !== 4) throw new TailnetError(`IPv4 prefix ${options.ipv4Prefix} is not an IPv4 prefix`);
    if (this.ipv6Pool.prefix.family !== 6) throw new TailnetError(`IPv6 prefix ${options.ipv6Prefix} is not an IPv6 prefix`);
    this.now = options.now ?? (() => new Date());
    this.log = options.log;
  }

  /**
   * Reads every row from the store. Rows that cannot be understood are logged and skipped,
   * never deleted. Stored Hostinfo and endpoints that Go clients cannot decode are cleaned and
   * written back.
   */
  static load(store: Store, options: TailnetOptions): Tailnet {
    const tailnet = new Tailnet(store, options);
    for (const row of store.listUsers()) tailnet.users.set(row.id, userFromRow(row));
    for (const row of store.listPreAuthKeys()) tailnet.preAuthKeys.set(row.id, preAuthKeyFromRow(row));
    for (const row of store.listNodes()) {
      tailnet.cleanReportedFields(row);
      let node: Node;
      try {
        node = nodeFromRow(row);
        if (node.ipv4 !== undefined) tailnet.ipv4Pool.reserve(node.ipv4);
        if (node.ipv6 !== undefined) tailnet.ipv6Pool.reserve(node.ipv6);
      } catch (error) {
        tailnet.log.warn({ nodeId: row.id, err: (error as Error).message }, 'skipping a node row that cannot be read');
        continue;
      }
      tailnet.indexNode(node);
    }
    return tailnet;
  }

  /** Cleans a node row's Hostinfo and endpoints in place, as `cleanHostinfo` and `cleanEndpoints` do for requests, and stores the result. */
  private cleanReportedFields(row: NodeRow): void {
    const hostinfo = cleanHostinfo(parseJsonOrUndefined(row.hostinfo));
    const endpoints = cleanEndpoints(parseJsonOrUndefined(row.endpoints)) ?? { endpoints: [], invalid: [row.endpoints], overLimit: 0 };
    const fields: Partial<NodeRow> = {};
    const hostinfoJson = JSON.stringify(hostinfo.hostinfo);
    const endpointsJson = JSON.stringify(endpoints.endpoints);
    if (hostinfoJson !== row.hostinfo) fields.hostinfo = hostinfoJson;
    if (endpointsJson !== row.endpoints) fields.endpoints = endpointsJson;
    if (Object.keys(fields).length === 0) return;

    this.store.updateNode(row.id, fields);
    Object.assign(row, fields);
    this.log.warn(
      {
        nodeId: row.id,
        invalidHostinfoFields: hostinfo.invalid.slice(0, 20),
        unknownHostinfoFields: hostinfo.unknown.slice(0, 20),
        oversizedHostinfoFields: hostinfo.oversized,
        invalidEndpointCount: endpoints.invalid.length,
        endpointsOverLimit: endpoints.overLimit,
      },
      'cleaned stored Hostinfo or endpoints that clients cannot decode',
    );
  }

  // Users.

  createUser(input: { name: string; displayName?: string; email?: string; pictureUrl?: string; providerId?: string }): User {
    if (!USER_NAME.test(input.name)) {
      throw new TailnetError(`invalid user name ${JSON.stringify(input.name)}: use 1 to 63 letters, digits and . _ @ + -, starting with a letter or digit`);
    }
    if (this.findUserByName(input.name) !== undefined) throw new TailnetError(`user ${JSON.stringify(input.name)} already exists`, 'conflict');

    const row = this.store.insertUser({
      name: input.name,
      display_name: input.displayName ?? input.name,
      email: input.email ?? '',
      picture_url: input.pictureUrl ?? '',
      provider_id: input.providerId ?? null,
      created_at: this.now().toISOString(),
    });
    const user = userFromRow(row);
    this.users.set(user.id, user);
    this.log.info({ userId: user.id, user: user.name }, 'user created');
    this.emit('change', { kind: 'user-changed', user });
    return user;
  }

  findUserByName(name: string): User | undefined {
    for (const user of this.users.values()) if (user.name === name) return user;
    return undefined;
  }

  /** Finds a user by numeric ID or by name. */
  resolveUser(idOrName: string | number): User {
    const user = typeof idOrName === 'number' || /^\d+$/.test(idOrName) ? this.users.get(Number(idOrName)) : this.findUserByName(idOrName);
    if (user === undefined) throw new TailnetError(`user ${JSON.stringify(String(idOrName))} not found`, 'not-found');
    return user;
  }

  /** Finds the user who signed in through OIDC with this issuer and subject. */
  findUserByProviderId(providerId: string): User | undefined {
    for (const user of this.users.values()) if (user.providerId === providerId) return user;
    return undefined;
  }

  /** Updates the profile an identity provider supplies at each sign-in. Writes and publishes only when something changed. */
  updateUserProfile(id: number, profile: { displayName: string; email: string; pictureUrl: string }): User {
    const user = this.resolveUser(id);
    if (user.displayName === profile.displayName && user.email === profile.email && user.pictureUrl === profile.pictureUrl) return user;
    this.store.updateUser(id, { display_name: profile.displayName, email: profile.email, picture_url: profile.pictureUrl });
    Object.assign(user, profile);
    this.emit('change', { kind: 'user-changed', user });
    return user;
  }

  renameUser(id: number, newName: string): User {
    const user = this.resolveUser(id);
    if (!USER_NAME.test(newName)) throw new TailnetError(`invalid user name ${JSON.stringify(newName)}`);
    if (newName !== user.name && this.findUserByName(newName) !== undefined) {
      throw new TailnetError(`user ${JSON.stringify(newName)} already exists`, 'conflict');
    }
    this.store.updateUser(id, { name: newName });
    user.name = newName;
    this.emit('change', { kind: 'user-changed', user });
    return user;
  }

  /** Deletes a user with no nodes; its pre-auth keys go with it. */
  deleteUser(id: number): void {
    const user = this.resolveUser(id);
    const owned = [...this.nodes.values()].filter((n) => n.userId === id).length;
    if (owned > 0) throw new TailnetError(`user ${JSON.stringify(user.name)} still owns ${owned} node(s); delete them first`, 'conflict');
    this.store.deleteUser(id);
    this.users.delete(id);
    for (const [keyId, key] of this.preAuthKeys) if (key.userId === id) this.preAuthKeys.delete(keyId);
    this.log.info({ userId: id, user: user.name }, 'user deleted');
  }

  // Pre-auth keys.

  /** Creates a key; the returned text is shown once and never stored. */
  createPreAuthKey(input: { userId: number; reusable: boolean; ephemeral: boolean; expiresAt?: Date; tags?: string[] }): {
    key: PreAuthKey;
    text: string;
  } {
    const user = this.resolveUser(input.userId);
    checkTags(input.tags ?? []);
    if (input.expiresAt !== undefined && input.expiresAt.getTime() <= this.now().getTime()) {
      throw new TailnetError(`expiry ${input.expiresAt.toISOString()} is in the past`);
    }
    const generated = generatePreAuthKey();
    const row = this.store.insertPreAuthKey({
      prefix: generated.prefix,
      secret_hash: generated.secretHash,
      user_id: user.id,
      reusable: input.reusable ? 1 : 0,
      ephemeral: input.ephemeral ? 1 : 0,
      tags: JSON.stringify(input.tags ?? []),
      use_count: 0,
      created_at: this.now().toISOString(),
      expires_at: input.expiresAt?.toISOString() ?? null,
      revoked_at: null,
    });
    const key = preAuthKeyFromRow(row);
    this.preAuthKeys.set(key.id, key);
    this.log.info({ keyId: key.id, prefix: key.prefix, userId: user.id, reusable: key.reusable, ephemeral: key.ephemeral }, 'pre-auth key created');
    return { key, text: generated.text };
  }

  findPreAuthKey(idOrPrefix: string | number): PreAuthKey {
    for (const key of this.preAuthKeys.values()) {
      if (String(key.id) === String(idOrPrefix) || key.prefix === idOrPrefix) return key;
    }
    throw new TailnetError(`pre-auth key ${JSON.stringify(String(idOrPrefix))} not found`, 'not-found');
  }

  /** Revokes a key so it can no longer register nodes; nodes it registered stay. */
  expirePreAuthKey(idOrPrefix: string | number): PreAuthKey {
    const key = this.findPreAuthKey(idOrPrefix);
    if (key.revokedAt === undefined) {
      const revokedAt = this.now();
      this.store.updatePreAuthKey(key.id, { revoked_at: revokedAt.toISOString() });
      key.revokedAt = revokedAt;
      this.log.info({ keyId: key.id, prefix: key.prefix }, 'pre-auth key expired');
    }
    return key;
  }

  deletePreAuthKey(idOrPrefix: string | number): void {
    const key = this.findPreAuthKey(idOrPrefix);
    this.store.deletePreAuthKey(key.id);
    this.preAuthKeys.delete(key.id);
    for (const node of this.nodes.values()) if (node.preAuthKeyId === key.id) delete node.preAuthKeyId;
    this.log.info({ keyId: key.id, prefix: key.prefix }, 'pre-auth key deleted');
  }

  /**
   * Finds the key for `text` and checks that it may register one more node.
   * @throws {TailnetError} with code 'auth-key' and a message `tailscale up` prints.
   */
  checkPreAuthKey(text: string): PreAuthKey {
    const parsed = parsePreAuthKey(text);
    const key = parsed === undefined ? undefined : [...this.preAuthKeys.values()].find((k) => k.prefix === parsed.prefix);
    if (parsed === undefined || key === undefined || !secretMatches(parsed.secret, key.secretHash)) {
      throw new TailnetError('invalid auth key: the key is unknown to this coordinator', 'auth-key');
    }
    const shown = `${key.prefix}…`;
    if (key.revokedAt !== undefined) throw new TailnetError(`auth key ${shown} was expired by an administrator`, 'auth-key');
    if (key.expiresAt !== undefined && key.expiresAt.getTime() <= this.now().getTime()) {
      throw new TailnetError(`auth key ${shown} expired at ${key.expiresAt.toISOString()}`, 'auth-key');
    }
    if (!key.reusable && key.useCount > 0) throw new TailnetError(`auth key ${shown} was already used; single-use keys register one node`, 'auth-key');
    return key;
  }

  // Nodes.

  findNodeByNodeKey(nodeKey: NodePublic): Node | undefined {
    return this.nodesByNodeKey.get(nodeKey.hex());
  }

  findNodeByMachineKey(machineKey: MachinePublic): Node | undefined {
    return this.nodesByMachineKey.get(machineKey.hex());
  }

  resolveNode(idOrName: string | number): Node {
    const text = String(idOrName);
    const node = /^\d+$/.test(text) ? this.nodes.get(Number(text)) : [...this.nodes.values()].find((n) => n.givenName === text);
    if (node === undefined) throw new TailnetError(`node ${JSON.stringify(text)} not found`, 'not-found');
    return node;
  }

  isExpired(node: Node): boolean {
    if (node.expiredAt !== undefined) return true;
    return node.keyExpiry !== undefined && node.keyExpiry.getTime() <= this.now().getTime();
  }

  /** True when `nodeKey` belongs to a registered node that has not expired; DERP uses this to admit clients. */
  isNodeKeyAuthorized(nodeKey: NodePublic): boolean {
    const node = this.findNodeByNodeKey(nodeKey);
    return node !== undefined && !this.isExpired(node);
  }

  /**
   * Registers a node for `userId`, or logs an existing node of the same machine back in: the
   * node keeps its ID, addresses and name, and takes the new node key and user.
   * @param preAuthKey counted as used in the same transaction, when the login used one.
   */
  registerNode(input: RegisterNodeInput, userId: number, preAuthKey?: PreAuthKey): Node {
    const user = this.resolveUser(userId);
    const existing = this.findNodeByMachineKey(input.machineKey);
    const holder = this.findNodeByNodeKey(input.nodeKey);
    if (holder !== undefined && holder !== existing) {
      throw new TailnetError(`node key ${input.nodeKey.short()} is already registered to another machine`, 'conflict');
    }
    const ephemeral = input.ephemeral || (preAuthKey?.ephemeral ?? false);
    const tags = preAuthKey?.tags ?? [];
    const keyExpiry = this.options.nodeKeyExpiryMs > 0 ? new Date(this.now().getTime() + this.options.nodeKeyExpiryMs) : undefined;
    const hostname = typeof input.hostinfo.Hostname === 'string' ? input.hostinfo.Hostname : '';

    const node = this.store.transaction(() => {
      if (preAuthKey !== undefined) {
        this.store.updatePreAuthKey(preAuthKey.id, { use_count: preAuthKey.useCount + 1 });
      }
      if (existing !== undefined) {
        this.store.updateNode(existing.id, {
          user_id: user.id,
          node_key: input.nodeKey.toString(),
          hostname,
          hostinfo: JSON.stringify(input.hostinfo),
          ephemeral: ephemeral ? 1 : 0,
          tags: JSON.stringify(tags),
          preauth_key_id: preAuthKey?.id ?? existing.preAuthKeyId ?? null,
          key_expiry: keyExpiry?.toISOString() ?? null,
          expired_at: null,
        });
        return undefined;
      }
      return this.insertNewNode(input, user, { ephemeral, tags, keyExpiry, hostname, preAuthKey });
    });
    if (preAuthKey !== undefined) preAuthKey.useCount += 1;

    if (node !== undefined) {
      this.indexNode(node);
      this.log.info({ nodeId: node.id, node: node.givenName, nodeKey: node.nodeKey.short(), userId: user.id, ipv4: node.ipv4 }, 'node registered');
      this.emit('change', { kind: 'node-added', node });
      return node;
    }

    const relogged = existing!;
    this.nodesByNodeKey.delete(relogged.nodeKey.hex());
    Object.assign(relogged, { userId: user.id, nodeKey: input.nodeKey, hostname, hostinfo: input.hostinfo, ephemeral, tags, keyExpiry });
    relogged.preAuthKeyId = preAuthKey?.id ?? relogged.preAuthKeyId;
    delete relogged.expiredAt;
    this.nodesByNodeKey.set(relogged.nodeKey.hex(), relogged);
    this.log.info({ nodeId: relogged.id, node: relogged.givenName, nodeKey: relogged.nodeKey.short(), userId: user.id }, 'node logged in again');
    this.emit('change', { kind: 'node-changed', node: relogged });
    return relogged;
  }

  private insertNewNode(
    input: RegisterNodeInput,
    user: User,
    fields: { ephemeral: boolean; tags: string[]; keyExpiry?: Date; hostname: string; preAuthKey?: PreAuthKey },
  ): Node {
    const givenName = uniqueLabel(sanitizeHostname(fields.hostname), (label) => this.labels.has(label));
    const ipv4 = this.ipv4Pool.allocate();
    const ipv6 = this.ipv6Pool.allocate();
    try {
      const row = this.store.insertNode({
        stable_id: `n${crypto.randomBytes(8).toString('hex')}`,
        user_id: user.id,
        machine_key: input.machineKey.toString(),
        node_key: input.nodeKey.toString(),
        disco_key: '',
        hostname: fields.hostname,
        given_name: givenName,
        ipv4,
        ipv6,
        ephemeral: fields.ephemeral ? 1 : 0,
        tags: JSON.stringify(fields.tags),
        hostinfo: JSON.stringify(input.hostinfo),
        endpoints: '[]',
        preauth_key_id: fields.preAuthKey?.id ?? null,
        created_at: this.now().toISOString(),
        last_seen: null,
        key_expiry: fields.keyExpiry?.toISOString() ?? null,
        expired_at: null,
      });
      const node = nodeFromRow(row);
      node.capVersion = input.capVersion;
      return node;
    } catch (error) {
      this.ipv4Pool.release(ipv4);
      this.ipv6Pool.release(ipv6);
      throw error;
    }
  }

  /** Moves a node to a new node key, as a client does on `--force-reauth` or key renewal. */
  rotateNodeKey(node: Node, newNodeKey: NodePublic): Node {
    const holder = this.findNodeByNodeKey(newNodeKey);
    if (holder !== undefined && holder !== node) throw new TailnetError(`node key ${newNodeKey.short()} is already registered`, 'conflict');
    const keyExpiry = this.options.nodeKeyExpiryMs > 0 ? new Date(this.now().getTime() + this.options.nodeKeyExpiryMs) : undefined;
    this.store.updateNode(node.id, { node_key: newNodeKey.toString(), key_expiry: keyExpiry?.toISOString() ?? null, expired_at: null });
    this.nodesByNodeKey.delete(node.nodeKey.hex());
    node.nodeKey = newNodeKey;
    node.keyExpiry = keyExpiry;
    delete node.expiredAt;
    this.nodesByNodeKey.set(newNodeKey.hex(), node);
    this.log.info({ nodeId: node.id, nodeKey: newNodeKey.short() }, 'node key rotated');
    this.emit('change', { kind: 'node-changed', node });
    return node;
  }

  /** Handles `tailscale logout`: an ephemeral node is deleted, any other node is expired and keeps its addresses. */
  logout(node: Node): void {
    if (node.ephemeral) {
      this.deleteNode(node.id, 'logged out');
      return;
    }
    this.expireNode(node.id, 'logged out');
  }

  expireNode(id: number, reason = 'expired by an administrator'): Node {
    const node = this.resolveNode(id);
    const expiredAt = this.now();
    this.store.updateNode(node.id, { expired_at: expiredAt.toISOString() });
    node.expiredAt = expiredAt;
    this.log.info({ nodeId: node.id, node: node.givenName, reason }, 'node expired');
    this.emit('change', { kind: 'node-changed', node });
    return node;
  }

  deleteNode(id: number, reason = 'deleted by an administrator'): void {
    const node = this.resolveNode(id);
    this.store.deleteNode(node.id);
    this.nodes.delete(node.id);
    this.nodesByNodeKey.delete(node.nodeKey.hex());
    this.nodesByMachineKey.delete(node.machineKey.hex());
    this.labels.delete(node.givenName);
    if (node.ipv4 !== undefined) this.ipv4Pool.release(node.ipv4);
    if (node.ipv6 !== undefined) this.ipv6Pool.release(node.ipv6);
    this.log.info({ nodeId: node.id, node: node.givenName, reason }, 'node deleted');
    this.emit('change', { kind: 'node-removed', node });
  }

  renameNode(id: number, label: string): Node {
    const node = this.resolveNode(id);
    const problem = validateLabel(label);
    if (problem !== undefined) throw new TailnetError(problem);
    if (label !== node.givenName && this.labels.has(label)) throw new TailnetError(`name ${JSON.stringify(label)} is taken by another node`, 'conflict');
    this.store.updateNode(node.id, { given_name: label });
    this.labels.delete(node.givenName);
    node.givenName = label;
    this.labels.add(label);
    this.emit('change', { kind: 'node-changed', node });
    return node;
  }

  /**
   * Stores what a map request reports: disco key, endpoints and host information, which the
   * caller has checked with `cleanEndpoints` and `cleanHostinfo`. Peers get a patch when only
   * endpoints, DERP home or disco key changed, and a full node otherwise.
   */
  updateFromMapRequest(node: Node, report: { discoKey?: DiscoPublic; endpoints?: string[]; hostinfo?: Hostinfo; capVersion: number }): void {
    node.capVersion = report.capVersion;
    const fields: Partial<NodeRow> = {};
    let patch = false;
    let full = false;

    if (report.discoKey !== undefined && !report.discoKey.equals(node.discoKey)) {
      node.discoKey = report.discoKey;
      fields.disco_key = report.discoKey.toString();
      patch = true;
    }
    if (report.endpoints !== undefined && JSON.stringify(report.endpoints) !== JSON.stringify(node.endpoints)) {
      node.endpoints = report.endpoints;
      fields.endpoints = JSON.stringify(report.endpoints);
      patch = true;
    }
    if (report.hostinfo !== undefined && JSON.stringify(report.hostinfo) !== JSON.stringify(node.hostinfo)) {
      const homeChanged = report.hostinfo.NetInfo?.PreferredDERP !== node.hostinfo.NetInfo?.PreferredDERP;
      const otherChanged = JSON.stringify({ ...report.hostinfo, NetInfo: undefined }) !== JSON.stringify({ ...node.hostinfo, NetInfo: undefined });
      node.hostinfo = report.hostinfo;
      fields.hostinfo = JSON.stringify(report.hostinfo);
      if (typeof report.hostinfo.Hostname === 'string' && report.hostinfo.Hostname !== node.hostname) {
        node.hostname = report.hostinfo.Hostname;
        fields.hostname = node.hostname;
      }
      patch ||= homeChanged;
      full ||= otherChanged;
    }
    if (Object.keys(fields).length === 0) return;

    this.store.updateNode(node.id, fields);
    if (full) this.emit('change', { kind: 'node-changed', node });
    else if (patch) this.emit('change', { kind: 'node-patched', node });
  }

  /** Records that a node's map stream opened or closed. */
  setOnline(node: Node, online: boolean): void {
    if (!this.nodes.has(node.id) || node.online === online) return;
    const lastSeen = this.now();
    node.online = online;
    node.lastSeen = lastSeen;
    this.store.updateNode(node.id, { last_seen: lastSeen.toISOString() });
    this.emit('change', { kind: 'node-patched', node, online });
  }

  private indexNode(node: Node): void {
    this.nodes.set(node.id, node);
    this.nodesByNodeKey.set(node.nodeKey.hex(), node);
    this.nodesByMachineKey.set(node.machineKey.hex(), node);
    this.labels.add(node.givenName);
  }
}

function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function userFromRow(row: UserRow): User {
  const user: User = {
    id: row.id,
    name: row.name,
    displayName: row.display_name,
    email: row.email,
    pictureUrl: row.picture_url,
    createdAt: new Date(row.created_at),
  };
  if (row.provider_id !== null) user.providerId = row.provider_id;
  return user;
}

function preAuthKeyFromRow(row: PreAuthKeyRow): PreAuthKey {
  const key: PreAuthKey = {
    id: row.id,
    prefix: row.prefix,
    secretHash: row.secret_hash,
    userId: row.user_id,
    reusable: row.reusable === 1,
    ephemeral: row.ephemeral === 1,
    tags: JSON.parse(row.tags) as string[],
    useCount: row.use_count,
    createdAt: new Date(row.created_at),
  };
  if (row.expires_at !== null) key.expiresAt = new Date(row.expires_at);
  if (row.revoked_at !== null) key.revokedAt = new Date(row.revoked_at);
  return key;
}

function nodeFromRow(row: NodeRow): Node {
  const node: Node = {
    id: row.id,
    stableId: row.stable_id,
    userId: row.user_id,
    machineKey: MachinePublic.parse(row.machine_key),
    nodeKey: NodePublic.parse(row.node_key),
    hostname: row.hostname,
    givenName: row.given_name,
    ephemeral: row.ephemeral === 1,
    tags: JSON.parse(row.tags) as string[],
    hostinfo: JSON.parse(row.hostinfo) as Hostinfo,
    endpoints: JSON.parse(row.endpoints) as string[],
    createdAt: new Date(row.created_at),
    online: false,
  };
  const discoKey = DiscoPublic.parseOptional(row.disco_key);
  if (discoKey !== undefined) node.discoKey = discoKey;
  if (row.ipv4 !== null) node.ipv4 = row.ipv4;
  if (row.ipv6 !== null) node.ipv6 = row.ipv6;
  if (row.preauth_key_id !== null) node.preAuthKeyId = row.preauth_key_id;
  if (row.last_seen !== null) node.lastSeen = new Date(row.last_seen);
  if (row.key_expiry !== null) node.keyExpiry = new Date(row.key_expiry);
  if (row.expired_at !== null) node.expiredAt = new Date(row.expired_at);
  return node;
}
