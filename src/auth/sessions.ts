/**
 * Sign-in sessions. A session token is `wsess-<prefix>-<secret>` in the scheme of
 * `secret-key.ts`: the store keeps the prefix and a SHA-256 hash of the secret, so a copy of
 * the database cannot be used to sign in. Browsers carry the token in an HttpOnly cookie;
 * scripts send it as `Authorization: Bearer`.
 */
import type { Logger } from '../log.js';
import type { SessionRow, Store } from '../store/store.js';
import { SecretKeyFormat, secretMatches } from '../tailnet/secret-key.js';
import type { Tailnet } from '../tailnet/tailnet.js';
import type { User } from '../tailnet/types.js';

export const SESSION_TOKEN_FORMAT = new SecretKeyFormat('wsess-');

/** `browser` sessions live in the session cookie; `bearer` sessions were shown once to a person for scripts. */
export type SessionKind = 'browser' | 'bearer';

export interface Session {
  id: number;
  /** The public part of the token, which logs show. */
  prefix: string;
  userId: number;
  kind: SessionKind;
  createdAt: Date;
  expiresAt: Date;
}

export type SessionCheck =
  | { ok: true; session: Session; user: User }
  | { ok: false; reason: 'malformed' | 'unknown' | 'expired'; message: string; prefix?: string };

export class Sessions {
  private readonly now: () => Date;
  private readonly log: Logger;

  constructor(
    private readonly store: Store,
    private readonly tailnet: Tailnet,
    private readonly options: { lifetimeMs: number; log: Logger; now?: () => Date },
  ) {
    this.now = options.now ?? (() => new Date());
    this.log = options.log;
  }

  get lifetimeMs(): number {
    return this.options.lifetimeMs;
  }

  /** Starts a session for a user; the returned token is shown or set once and never stored. */
  create(userId: number, kind: SessionKind): { session: Session; token: string } {
    const user = this.tailnet.resolveUser(userId);
    const now = this.now();
    const generated = SESSION_TOKEN_FORMAT.generate();
    const removed = this.store.deleteExpiredSessions(now.toISOString());
    const row = this.store.insertSession({
      prefix: generated.prefix,
      secret_hash: generated.secretHash,
      user_id: user.id,
      kind,
      created_at: now.toISOString(),
      expires_at: new Date(now.getTime() + this.options.lifetimeMs).toISOString(),
    });
    const session = sessionFromRow(row);
    this.log.info({ sessionPrefix: session.prefix, userId: user.id, user: user.name, kind, expiresAt: row.expires_at, expiredRemoved: removed }, 'session started');
    return { session, token: generated.text };
  }

  /** Checks a presented token. A failed check returns a reason and a message without the secret. */
  check(token: string): SessionCheck {
    const parsed = SESSION_TOKEN_FORMAT.parse(token);
    if (parsed === undefined) return { ok: false, reason: 'malformed', message: 'not a session token' };

    const row = this.store.findSessionByPrefix(parsed.prefix);
    if (row === undefined || !secretMatches(parsed.secret, row.secret_hash)) {
      return { ok: false, reason: 'unknown', message: 'unknown session; it was ended or never existed', prefix: parsed.prefix };
    }
    const session = sessionFromRow(row);
    if (session.expiresAt.getTime() <= this.now().getTime()) {
      return { ok: false, reason: 'expired', message: `session expired at ${row.expires_at}`, prefix: session.prefix };
    }
    // Deleting a user deletes its sessions through the foreign key, so the user exists.
    const user = this.tailnet.users.get(session.userId);
    if (user === undefined) return { ok: false, reason: 'unknown', message: 'the session belongs to a deleted user', prefix: session.prefix };
    return { ok: true, session, user };
  }

  /** Ends a session, as sign-out does. Ending an ended session changes nothing. */
  end(session: Session): void {
    this.store.deleteSession(session.id);
    this.log.info({ sessionPrefix: session.prefix, userId: session.userId, kind: session.kind }, 'session ended');
  }
}

function sessionFromRow(row: SessionRow): Session {
  return {
    id: row.id,
    prefix: row.prefix,
    userId: row.user_id,
    kind: row.kind,
    createdAt: new Date(row.created_at),
    expiresAt: new Date(row.expires_at),
  };
}
