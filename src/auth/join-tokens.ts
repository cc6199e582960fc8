/**
 * Join tokens: a signed-in user creates one and hands it to worker machines, which trade it
 * through `POST /api/v1/join` for a fresh single-use pre-auth key and then run `tailscale up`.
 * A token can be used a fixed number of times before its expiry, so the long-lived secret that
 * workers carry never reaches tailscaled, and each worker gets a key that is useless after it
 * joined.
 *
 * Token text is `wjoin-<prefix>-<secret>` in the scheme of `secret-key.ts`: only the prefix and
 * a SHA-256 hash of the secret are stored, so the text is shown once, when the token is created.
 */
import type { Logger } from '../log.js';
import type { JoinTokenRow, Store } from '../store/store.js';
import { SecretKeyFormat, secretMatches } from '../tailnet/secret-key.js';
import { checkTags, type Tailnet } from '../tailnet/tailnet.js';
import type { PreAuthKey, User } from '../tailnet/types.js';

export const JOIN_TOKEN_FORMAT = new SecretKeyFormat('wjoin-');

/** Upper limit on `uses`; a token meant for more machines than this is better split. */
export const MAX_JOIN_TOKEN_USES = 1000;

export interface JoinToken {
  id: number;
  /** The public part of the token, which listings and logs show. */
  prefix: string;
  userId: number;
  /** How many joins the token allows in total. */
  maxUses: number;
  useCount: number;
  ephemeral: boolean;
  tags: string[];
  createdAt: Date;
  expiresAt: Date;
  lastUsedAt?: Date;
  revokedAt?: Date;
}

/** The usability of a token; `wonder join` prints a different hint for each state but `active`. */
export type JoinTokenState = 'active' | 'expired' | 'used-up' | 'revoked';

/**
 * A join token request that cannot be carried out. `reason` is the machine-readable cause:
 * `unknown`, `expired`, `used-up` and `revoked` for a failed join, `not-found` and `invalid` for
 * managing tokens.
 */
export class JoinTokenError extends Error {
  constructor(
    message: string,
    readonly reason: 'unknown' | Exclude<JoinTokenState, 'active'> | 'not-found' | 'invalid',
  ) {
    super(message);
    this.name = 'JoinTokenError';
  }
}

export interface JoinResult {
  token: JoinToken;
  user: User;
  preAuthKey: PreAuthKey;
  /** The pre-auth key text, returned only here. */
  authKey: string;
}

export class JoinTokens {
  private readonly now: () => Date;
  private readonly log: Logger;

  constructor(
    private readonly store: Store,
    private readonly tailnet: Tailnet,
    private readonly options: {
      /** Lifetime of the pre-auth key a join hands out. */
      keyLifetimeMs: number;
      log: Logger;
      now?: () => Date;
    },
  ) {
    this.now = options.now ?? (() => new Date());
    this.log = options.log;
  }

  /** Creates a token; the returned text is shown once and never stored. */
  create(input: { userId: number; expiresAt: Date; uses: number; ephemeral: boolean; tags: string[] }): { token: JoinToken; text: string } {
    const user = this.tailnet.resolveUser(input.userId);
    const now = this.now();
    if (!Number.isInteger(input.uses) || input.uses < 1 || input.uses > MAX_JOIN_TOKEN_USES) {
      throw new JoinTokenError(`invalid uses ${input.uses}: expected a whole number from 1 to ${MAX_JOIN_TOKEN_USES}`, 'invalid');
    }
    if (input.expiresAt.getTime() <= now.getTime()) {
      throw new JoinTokenError(`expiry ${input.expiresAt.toISOString()} is in the past`, 'invalid');
    }
    checkTags(input.tags);

    const generated = JOIN_TOKEN_FORMAT.generate();
    const row = this.store.insertJoinToken({
      prefix: generated.prefix,
      secret_hash: generated.secretHash,
      user_id: user.id,
      max_uses: input.uses,
      use_count: 0,
      ephemeral: input.ephemeral ? 1 : 0,
      tags: JSON.stringify(input.tags),
      created_at: now.toISOString(),
      expires_at: input.expiresAt.toISOString(),
      last_used_at: null,
      revoked_at: null,
    });
    const token = joinTokenFromRow(row);
    this.log.info(
      { joinTokenId: token.id, prefix: token.prefix, userId: user.id, uses: token.maxUses, ephemeral: token.ephemeral, tags: token.tags, expiresAt: row.expires_at },
      'join token created',
    );
    return { token, text: generated.text };
  }

  /** Lists every token, or only those of one user. */
  list(userId?: number): JoinToken[] {
    return this.store.listJoinTokens(userId).map(joinTokenFromRow);
  }

  /** Finds a token by numeric ID or by prefix. */
  find(idOrPrefix: string): JoinToken {
    const row = /^\d+$/.test(idOrPrefix) ? this.store.findJoinTokenById(Number(idOrPrefix)) : this.store.findJoinTokenByPrefix(idOrPrefix);
    if (row === undefined) throw new JoinTokenError(`join token ${JSON.stringify(idOrPrefix)} not found`, 'not-found');
    return joinTokenFromRow(row);
  }

  /** Revokes a token so it can no longer be used; nodes that joined with it stay. Revoking twice changes nothing. */
  revoke(token: JoinToken): JoinToken {
    if (token.revokedAt !== undefined) return token;
    const revokedAt = this.now();
    this.store.revokeJoinToken(token.id, revokedAt.toISOString());
    this.log.info({ joinTokenId: token.id, prefix: token.prefix, userId: token.userId }, 'join token revoked');
    return { ...token, revokedAt };
  }

  state(token: JoinToken): JoinTokenState {
    if (token.revokedAt !== undefined) return 'revoked';
    if (token.expiresAt.getTime() <= this.now().getTime()) return 'expired';
    if (token.useCount >= token.maxUses) return 'used-up';
    return 'active';
  }

  /**
   * Trades token text for a new single-use pre-auth key owned by the token's user, with the
   * token's ephemeral flag and tags. Counting the use and creating the key happen in one SQLite
   * transaction, so a failure leaves both unchanged.
   * @throws {JoinTokenError} with reason `unknown`, `expired`, `used-up` or `revoked`; the message never contains the secret.
   */
  redeem(text: string): JoinResult {
    const token = this.findUsable(text);
    const now = this.now();
    const user = this.tailnet.resolveUser(token.userId);

    const { key, authKey } = this.store.transaction(() => {
      if (!this.store.consumeJoinToken(token.id, now.toISOString())) {
        // Another request used the last use between the check above and this statement.
        const current = this.store.findJoinTokenById(token.id);
        throw this.unusable(current === undefined ? token : joinTokenFromRow(current));
      }
      const created = this.tailnet.createPreAuthKey({
        userId: user.id,
        reusable: false,
        ephemeral: token.ephemeral,
        expiresAt: new Date(now.getTime() + this.options.keyLifetimeMs),
        tags: token.tags,
      });
      return { key: created.key, authKey: created.text };
    });

    const used = { ...token, useCount: token.useCount + 1, lastUsedAt: now };
    this.log.info({ joinTokenId: token.id, prefix: token.prefix, userId: user.id, preAuthKeyId: key.id, usesLeft: used.maxUses - used.useCount }, 'join token used');
    return { token: used, user, preAuthKey: key, authKey };
  }

  private findUsable(text: string): JoinToken {
    const parsed = JOIN_TOKEN_FORMAT.parse(text);
    const row = parsed === undefined ? undefined : this.store.findJoinTokenByPrefix(parsed.prefix);
    if (parsed === undefined || row === undefined || !secretMatches(parsed.secret, row.secret_hash)) {
      throw new JoinTokenError('unknown join token: this coordinator did not issue it, or it was deleted', 'unknown');
    }
    const token = joinTokenFromRow(row);
    if (this.state(token) !== 'active') throw this.unusable(token);
    return token;
  }

  private unusable(token: JoinToken): JoinTokenError {
    const shown = `${JOIN_TOKEN_FORMAT.kindPrefix}${token.prefix}…`;
    const state = this.state(token);
    switch (state) {
      case 'revoked':
        return new JoinTokenError(`join token ${shown} was revoked at ${token.revokedAt!.toISOString()}; ask its owner for a new one`, 'revoked');
      case 'expired':
        return new JoinTokenError(`join token ${shown} expired at ${token.expiresAt.toISOString()}; ask its owner for a new one`, 'expired');
      case 'used-up':
        return new JoinTokenError(`join token ${shown} is used up: all ${token.maxUses} of its uses were taken`, 'used-up');
      case 'active':
        // consumeJoinToken failed although the token looks usable: its row changed in between.
        return new JoinTokenError(`join token ${shown} changed while it was being used; try again`, 'used-up');
    }
  }
}

function joinTokenFromRow(row: JoinTokenRow): JoinToken {
  const token: JoinToken = {
    id: row.id,
    prefix: row.prefix,
    userId: row.user_id,
    maxUses: row.max_uses,
    useCount: row.use_count,
    ephemeral: row.ephemeral === 1,
    tags: JSON.parse(row.tags) as string[],
    createdAt: new Date(row.created_at),
    expiresAt: new Date(row.expires_at),
  };
  if (row.last_used_at !== null) token.lastUsedAt = new Date(row.last_used_at);
  if (row.revoked_at !== null) token.revokedAt = new Date(row.revoked_at);
  return token;
}
