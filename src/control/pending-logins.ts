/**
 * Interactive logins waiting for approval. A register request without an auth key gets an
 * AuthURL. The client shows it and repeats the request with `Followup` set to that URL. The
 * coordinator keeps that follow-up request open until an administrator or an OIDC sign-in
 * approves the login for a user.
 *
 * Anyone who completes a handshake can start a login, so their number is capped overall and
 * per source address, and each keeps only a Hostinfo already capped by `cleanHostinfo`.
 */
import crypto from 'node:crypto';

import type { MachinePublic, NodePublic } from '../../protocol/key.js';
import { sourceAddressKey } from '../source-address.js';
import type { RegisterNodeInput } from '../tailnet/tailnet.js';

export interface PendingLogin {
  /** Random ID, the last path segment of the AuthURL. */
  id: string;
  authUrl: string;
  input: RegisterNodeInput;
  createdAt: Date;
  expiresAt: Date;
  /** The key that the per-address cap counts this login under, from `sourceAddressKey`. */
  sourceKey: string;
  /** Set once approved: the user the node registers for. */
  approvedUserId?: number;
  waiters: Array<(outcome: { userId: number } | { error: string }) => void>;
}

/** How long an AuthURL stays valid. */
const PENDING_LOGIN_LIFETIME_MS = 30 * 60 * 1000;

/** Default caps on pending logins, overall and per source address. */
const DEFAULT_MAX_LOGINS = 1000;
const DEFAULT_MAX_LOGINS_PER_ADDRESS = 20;

export interface PendingLoginLimits {
  /** Pending logins at once; 1000 when unset. */
  maxLogins?: number;
  /** Pending logins at once from one IPv4 address or IPv6 /64; 20 when unset. */
  maxPerAddress?: number;
}

/** A new login that would pass a cap; `message` is meant for the person running `tailscale up`. */
export class PendingLoginLimitError extends Error {
  constructor(
    message: string,
    readonly limit: 'total' | 'address',
  ) {
    super(message);
    this.name = 'PendingLoginLimitError';
  }
}

export class PendingLogins {
  private readonly byId = new Map<string, PendingLogin>();
  private readonly byMachineKey = new Map<string, PendingLogin>();
  private readonly countBySource = new Map<string, number>();
  private readonly maxLogins: number;
  private readonly maxPerAddress: number;

  /** @param serverUrl returns the coordinator's public URL, known only once it listens. */
  constructor(
    private readonly serverUrl: () => string,
    limits: PendingLoginLimits = {},
  ) {
    this.maxLogins = limits.maxLogins ?? DEFAULT_MAX_LOGINS;
    this.maxPerAddress = limits.maxPerAddress ?? DEFAULT_MAX_LOGINS_PER_ADDRESS;
  }

  get count(): number {
    return this.byId.size;
  }

  /**
   * Returns the machine's current pending login, or starts a new one.
   * @param remoteAddress the client's "ip:port" or "[ipv6]:port", for the per-address cap.
   * @throws {PendingLoginLimitError} when a new login would pass a cap.
   */
  start(input: RegisterNodeInput, remoteAddress: string): PendingLogin {
    this.dropExpired();
    const existing = this.byMachineKey.get(input.machineKey.hex());
    if (existing !== undefined && existing.approvedUserId === undefined) {
      existing.input = input;
      return existing;
    }

    const sourceKey = sourceAddressKey(remoteAddress);
    if (this.byId.size >= this.maxLogins) {
      throw new PendingLoginLimitError(`too many interactive logins are pending on this coordinator (${this.maxLogins}); try again later or use an auth key`, 'total');
    }
    if ((this.countBySource.get(sourceKey) ?? 0) >= this.maxPerAddress) {
      throw new PendingLoginLimitError(`too many interactive logins are pending from your address (${this.maxPerAddress}); try again later or use an auth key`, 'address');
    }

    const id = crypto.randomBytes(12).toString('hex');
    const now = new Date();
    const login: PendingLogin = {
      id,
      authUrl: `${this.serverUrl()}/register/${id}`,
      input,
      createdAt: now,
      expiresAt: new Date(now.getTime() + PENDING_LOGIN_LIFETIME_MS),
      sourceKey,
      waiters: [],
    };
    this.byId.set(id, login);
    this.byMachineKey.set(input.machineKey.hex(), login);
    this.countBySource.set(sourceKey, (this.countBySource.get(sourceKey) ?? 0) + 1);
    return login;
  }

  /** Finds the login an AuthURL (or its ID) names. */
  find(authUrlOrId: string): PendingLogin | undefined {
    this.dropExpired();
    const id = authUrlOrId.slice(authUrlOrId.lastIndexOf('/') + 1);
    return this.byId.get(id);
  }

  list(): Array<{ id: string; machineKey: MachinePublic; nodeKey: NodePublic; hostname: string; createdAt: Date }> {
    this.dropExpired();
    return [...this.byId.values()]
      .filter((login) => login.approvedUserId === undefined)
      .map((login) => ({
        id: login.id,
        machineKey: login.input.machineKey,
        nodeKey: login.input.nodeKey,
        hostname: typeof login.input.hostinfo.Hostname === 'string' ? login.input.hostinfo.Hostname : '',
        createdAt: login.createdAt,
      }));
  }

  /** Waits until the login is approved, expires, or `signal` aborts because the client went away. */
  wait(login: PendingLogin, signal: AbortSignal): Promise<{ userId: number } | { error: string }> {
    if (login.approvedUserId !== undefined) return Promise.resolve({ userId: login.approvedUserId });
    return new Promise((resolve) => {
      const waiter = (outcome: { userId: number } | { error: string }) => {
        signal.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      const onAbort = () => {
        login.waiters = login.waiters.filter((w) => w !== waiter);
        resolve({ error: 'request cancelled' });
      };
      signal.addEventListener('abort', onAbort, { once: true });
      login.waiters.push(waiter);
    });
  }

  /** Approves a login for a user and releases every waiting follow-up request. */
  approve(id: string, userId: number): PendingLogin {
    const login = this.find(id);
    if (login === undefined) throw new Error(`pending login ${JSON.stringify(id)} not found or expired`);
    login.approvedUserId = userId;
    for (const waiter of login.waiters.splice(0)) waiter({ userId });
    return login;
  }

  /** Forgets a login once its node is registered. */
  complete(login: PendingLogin): void {
    if (!this.byId.delete(login.id)) return;
    if (this.byMachineKey.get(login.input.machineKey.hex()) === login) this.byMachineKey.delete(login.input.machineKey.hex());
    const remaining = (this.countBySource.get(login.sourceKey) ?? 1) - 1;
    if (remaining > 0) this.countBySource.set(login.sourceKey, remaining);
    else this.countBySource.delete(login.sourceKey);
  }

  private dropExpired(): void {
    const now = Date.now();
    for (const login of this.byId.values()) {
      if (login.expiresAt.getTime() > now) continue;
      for (const waiter of login.waiters.splice(0)) waiter({ error: 'login URL expired; run tailscale up again' });
      this.complete(login);
    }
  }
}
