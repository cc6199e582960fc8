/**
 * The relay's table of connected clients by node key, and of who must hear when a key leaves.
 *
 * A key may have several connections, for example while a client moves between networks and
 * its old TCP connection has not timed out yet. All of them stay open, and packets for the key
 * go to one of them, the active one: the newest connection, or the last one that sent a frame
 * (Go's derpserver default policy, "last writer is active"). When the active one leaves, the most
 * recently active remaining connection takes over.
 */
import type { ClientConnection } from './client-conn.js';

interface ClientSet {
  active: ClientConnection;
  /** Every open connection for the key, least recently active first. */
  all: ClientConnection[];
}

export class ClientRegistry {
  private readonly clients = new Map<string, ClientSet>();
  /** Source key → connections that received packets from it and get PeerGone when it leaves. */
  private readonly goneWatchers = new Map<string, Set<ClientConnection>>();

  /** Number of distinct connected keys. */
  get size(): number {
    return this.clients.size;
  }

  /** Returns the connection that receives packets for `keyHex`, if any. */
  active(keyHex: string): ClientConnection | undefined {
    return this.clients.get(keyHex)?.active;
  }

  /** Every open connection, active or not. */
  *connections(): Generator<ClientConnection> {
    for (const set of this.clients.values()) yield* set.all;
  }

  /**
   * Adds a connection and makes it the active one for its key.
   * @returns the number of other connections already open for the key.
   */
  register(connection: ClientConnection): number {
    const set = this.clients.get(connection.keyHex);
    if (set === undefined) {
      this.clients.set(connection.keyHex, { active: connection, all: [connection] });
      return 0;
    }
    set.all.push(connection);
    set.active = connection;
    for (const member of set.all) member.duplicate = true;
    return set.all.length - 1;
  }

  /** Makes `connection` the active one for its key, because it sent a frame. */
  noteActivity(connection: ClientConnection): void {
    const set = this.clients.get(connection.keyHex);
    if (set === undefined || set.active === connection) return;
    set.active = connection;
    set.all.splice(set.all.indexOf(connection), 1);
    set.all.push(connection);
  }

  /**
   * Removes a connection.
   * @returns the connections to send PeerGone(Disconnected) to, non-empty only when this was the key's last connection.
   */
  unregister(connection: ClientConnection): ClientConnection[] {
    for (const source of connection.seenSources) this.unwatch(source, connection);

    const set = this.clients.get(connection.keyHex);
    const index = set?.all.indexOf(connection) ?? -1;
    if (set === undefined || index === -1) return [];
    set.all.splice(index, 1);
    if (set.all.length > 0) {
      set.active = set.all.at(-1)!;
      if (set.all.length === 1) set.active.duplicate = false;
      return [];
    }

    this.clients.delete(connection.keyHex);
    const watchers = this.goneWatchers.get(connection.keyHex);
    this.goneWatchers.delete(connection.keyHex);
    if (watchers === undefined) return [];
    for (const watcher of watchers) watcher.seenSources.delete(connection.keyHex);
    return [...watchers];
  }

  /** Records that `watcher` received a packet from `sourceHex`. */
  watch(sourceHex: string, watcher: ClientConnection): void {
    let watchers = this.goneWatchers.get(sourceHex);
    if (watchers === undefined) {
      watchers = new Set();
      this.goneWatchers.set(sourceHex, watchers);
    }
    watchers.add(watcher);
  }

  private unwatch(sourceHex: string, watcher: ClientConnection): void {
    const watchers = this.goneWatchers.get(sourceHex);
    if (watchers === undefined) return;
    watchers.delete(watcher);
    if (watchers.size === 0) this.goneWatchers.delete(sourceHex);
  }
}
