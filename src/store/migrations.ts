/**
 * The SQLite schema as numbered migrations. Each runs once, in order, inside a transaction,
 * and `PRAGMA user_version` records the last one applied. A database from a newer coordinator
 * (a higher user_version than the last migration here) is rejected rather than guessed at.
 *
 * Every table's ID is `INTEGER PRIMARY KEY AUTOINCREMENT`. Without AUTOINCREMENT, SQLite hands
 * the largest deleted rowid out again, and IDs appear in the API, the CLI and the logs, so a new
 * row could be taken for a deleted one.
 *
 * Append new migrations; never edit one that has shipped.
 */

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: 'users, pre-auth keys and nodes',
    sql: `
      CREATE TABLE users (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        name          TEXT NOT NULL UNIQUE,
        display_name  TEXT NOT NULL DEFAULT '',
        email         TEXT NOT NULL DEFAULT '',
        picture_url   TEXT NOT NULL DEFAULT '',
        -- For users who signed in through OIDC: issuer URL and subject, joined by a space.
        provider_id   TEXT UNIQUE,
        created_at    TEXT NOT NULL
      );

      -- The CLI expires and deletes pre-auth keys by ID, so AUTOINCREMENT keeps a deleted key's
      -- ID from naming a new key.
      CREATE TABLE preauth_keys (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        -- The public part of the key, shown in listings; the secret part is only stored hashed.
        prefix        TEXT NOT NULL UNIQUE,
        secret_hash   TEXT NOT NULL,
        user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        reusable      INTEGER NOT NULL DEFAULT 0,
        ephemeral     INTEGER NOT NULL DEFAULT 0,
        tags          TEXT NOT NULL DEFAULT '[]',
        use_count     INTEGER NOT NULL DEFAULT 0,
        created_at    TEXT NOT NULL,
        expires_at    TEXT,
        revoked_at    TEXT
      );

      -- Node and user IDs reach clients, which key their peer tables by them, so AUTOINCREMENT
      -- keeps a deleted node's ID from being handed to a new one.
      CREATE TABLE nodes (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        stable_id     TEXT NOT NULL UNIQUE,
        user_id       INTEGER NOT NULL REFERENCES users(id),
        machine_key   TEXT NOT NULL UNIQUE,
        node_key      TEXT NOT NULL UNIQUE,
        disco_key     TEXT NOT NULL DEFAULT '',
        hostname      TEXT NOT NULL DEFAULT '',
        -- The MagicDNS label, unique in the tailnet.
        given_name    TEXT NOT NULL UNIQUE,
        ipv4          TEXT UNIQUE,
        ipv6          TEXT UNIQUE,
        ephemeral     INTEGER NOT NULL DEFAULT 0,
        tags          TEXT NOT NULL DEFAULT '[]',
        hostinfo      TEXT NOT NULL DEFAULT '{}',
        endpoints     TEXT NOT NULL DEFAULT '[]',
        preauth_key_id INTEGER REFERENCES preauth_keys(id) ON DELETE SET NULL,
        created_at    TEXT NOT NULL,
        last_seen     TEXT,
        -- When the node key expires; NULL means never.
        key_expiry    TEXT,
        -- Set when the node logged out or an administrator expired it.
        expired_at    TEXT
      );
      CREATE INDEX nodes_user ON nodes(user_id);
    `,
  },
  {
    version: 2,
    description: 'API keys for the admin API',
    sql: `
      CREATE TABLE api_keys (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        -- The public part of the key, shown in listings; the secret part is only stored hashed.
        prefix        TEXT NOT NULL UNIQUE,
        secret_hash   TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        expires_at    TEXT,
        last_used_at  TEXT,
        -- Set when an administrator expired the key.
        revoked_at    TEXT
      );
    `,
  },
  {
    version: 3,
    description: 'sign-in sessions and join tokens',
    sql: `
      CREATE TABLE sessions (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        -- The public part of the session token; the secret part is only stored hashed.
        prefix        TEXT NOT NULL UNIQUE,
        secret_hash   TEXT NOT NULL,
        user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        -- 'browser' for the cookie set at sign-in, 'bearer' for a token shown to a script.
        kind          TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        expires_at    TEXT NOT NULL
      );
      CREATE INDEX sessions_user ON sessions(user_id);

      CREATE TABLE join_tokens (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        -- The public part of the token, shown in listings; the secret part is only stored hashed.
        prefix        TEXT NOT NULL UNIQUE,
        secret_hash   TEXT NOT NULL,
        -- The user that nodes joining with the token belong to.
        user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        max_uses      INTEGER NOT NULL,
        use_count     INTEGER NOT NULL DEFAULT 0,
        ephemeral     INTEGER NOT NULL DEFAULT 0,
        tags          TEXT NOT NULL DEFAULT '[]',
        created_at    TEXT NOT NULL,
        expires_at    TEXT NOT NULL,
        last_used_at  TEXT,
        revoked_at    TEXT,
        CHECK (use_count <= max_uses)
      );
      CREATE INDEX join_tokens_user ON join_tokens(user_id);
    `,
  },
];

export const LATEST_VERSION = MIGRATIONS.at(-1)!.version;
