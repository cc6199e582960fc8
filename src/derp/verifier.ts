/**
 * Client admission for the relay. A DERP client proves that it holds the private half of the
 * node key it presents (its ClientInfo is sealed with it), and the verifier decides whether
 * that node key may use the relay at all.
 */
import type { NodePublic } from '../../protocol/key.js';

/**
 * Decides whether a node key may connect. `remoteAddress` is `ip:port` as the relay saw it, for
 * logging or address rules. A rejected client is disconnected before it receives ServerInfo.
 */
export type ClientVerifier = (nodeKey: NodePublic, remoteAddress: string) => boolean | Promise<boolean>;

/** Admits every key, for `derp.verify_clients: false`. */
export const admitAllClients: ClientVerifier = () => true;
