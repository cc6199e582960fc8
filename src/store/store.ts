/**
 * SQLite storage for users, pre-auth keys, nodes and API keys, through better-sqlite3.
 *
 * The store is the durable half of the tailnet: the tailnet model reads everything at start
 * and then writes each change here before it acknowledges anything to a client. Writes are
 * synchronous, in WAL mode with foreign keys on, so a write has reached the database file when
 * the call returns. Only the tailnet model calls this class, except for the API key, session
 * and join token queries, which belong to the classes in `src/auth/`.
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';

import { LATEST_VERSION, MIGRATIONS } from './migrations.js';

export interface UserRow {
  id: number;
  name: string;
  display_name: string;
  email: string;
  picture_url: string;
  provider_id: string | null;
  created_at: string;
}

export interface PreAuthKeyRow {
  id: number;
  prefix: string;
  secret_hash: string;
  user_id: number;
  reusable: number;
  ephemeral: number;
  tags: string;
  use_count: number;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
}

export interface NodeRow {
  id: number;
  stable_id: string;
  user_id: number;
  machine_key: string;
  node_key: string;
  disco_key: string;
  hostname: string;
  given_name: string;
  ipv4: string | null;
  ipv6: string | null;
  ephemeral: number;
  tags: string;
  hostinfo: string;
  endpoints: string;
  preauth_key_id: number | null;
  created_at: string;
  last_seen: string | null;
  key_expiry: string | null;
  expired_at: string | null;
}

export interface ApiKeyRow {
  id: number;
  prefix: string;
  secret_hash: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface SessionRow {
  id: number;
  prefix: string;
  secret_hash: string;
  user_id: number;
  kind: 'browser' | 'bearer';
  created_at: string;
  expires_at: string;
}

export interface JoinTokenRow {
  id: number;
  prefix: string;
  secret_hash: string;
  user_id: number;
  max_uses: number;
  use_count: number;
  ephemeral: number;
  tags: string;
  created_at: string;
  expires_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreError';
  }
}

type Row = Record<string, unknown>;

/** Sets the database file and its -wal and -shm files to mode 0600 where group or others have access, as on a database an earlier build created. */
function restrictToOwner(file: string): void {
  for (const name of [file, `${file}-wal`, `${file}-shm`]) {
    let mode: number;
    try {
      mode = fs.statSync(name).mode;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    if ((mode & 0o077) !== 0) fs.chmodSync(name, 0o600);
  }
}

export class Store {
  readonly db: Database.Database;

  private constructor(db: Database.Database) {
    this.db = db;
  }

  /**
   * Opens (or creates) the database at `file` and applies pending migrations.
   * @throws {StoreError} when the database was written by a newer coordinator.
   */
  static open(file: string): Store {
    if (file !== ':memory:') {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      // An empty file is an empty database. SQLite gives the -wal and -shm files the mode of
      // the database file, so creating it 0600 here keeps all three private to the owner.
      fs.closeSync(fs.openSync(file, 'a', 0o600));
    }
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    if (file !== ':memory:') restrictToOwner(file);
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    // FULL makes each commit durable across power loss, not only across a process crash.
    db.pragma('synchronous = FULL');

    const store = new Store(db);
    try {
      store.migrate(file);
    } catch (error) {
      db.close();
      throw error;
    }
    return store;
  }

  private migrate(file: string): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    if (current > LATEST_VERSION) {
      throw new StoreError(
        `database ${file} has schema version ${current}, newer than this coordinator's ${LATEST_VERSION}; run the coordinator version that wrote it, or restore a backup`,
      );
    }
    for (const migration of MIGRATIONS.filter((m) => m.version > current)) {
      this.db.transaction(() => {
        this.db.exec(migration.sql);
        this.db.pragma(`user_version = ${migration.version}`);
      })();
    }
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  close(): void {
    this.db.close();
  }

  /** Runs `work` in one transaction: all its writes land, or none. */
  transaction<T>(work: () => T): T {
    return this.db.transaction(work)();
  }

  // Users.

  listUsers(): UserRow[] {
    return this.db.prepare('SELECT * FROM users ORDER BY id').all() as UserRow[];
  }

  insertUser(user: Omit<UserRow, 'id'>): UserRow {
    const result = this.db
      .prepare(
        'INSERT INTO users (name, display_name, email, picture_url, provider_id, created_at) VALUES (@name, @display_name, @email, @picture_url, @provider_id, @created_at)',
      )
      .run(user);
    return { ...user, id: Number(result.lastInsertRowid) };
  }

  updateUser(id: number, fields: Partial<Omit<UserRow, 'id'>>): void {
    this.update('users', id, fields);
  }

  deleteUser(id: number): void {
    this.db.prepare('DELETE FROM users WHERE id = ?').run(id);
  }

  // Pre-auth keys.

  listPreAuthKeys(): PreAuthKeyRow[] {
    return this.db.prepare('SELECT * FROM preauth_keys ORDER BY id').all() as PreAuthKeyRow[];
  }

  insertPreAuthKey(key: Omit<PreAuthKeyRow, 'id'>): PreAuthKeyRow {
    const result = this.db
      .prepare(
        `INSERT INTO preauth_keys (prefix, secret_hash, user_id, reusable, ephemeral, tags, use_count, created_at, expires_at, revoked_at)
         VALUES (@prefix, @secret_hash, @user_id, @reusable, @ephemeral, @tags, @use_count, @created_at, @expires_at, @revoked_at)`,
      )
      .run(key);
    return { ...key, id: Number(result.lastInsertRowid) };
  }

  updatePreAuthKey(id: number, fields: Partial<Omit<PreAuthKeyRow, 'id'>>): void {
    this.update('preauth_keys', id, fields);
  }

  deletePreAuthKey(id: number): void {
    this.db.prepare('DELETE FROM preauth_keys WHERE id = ?').run(id);
  }

  // Nodes.

  listNodes(): NodeRow[] {
    return this.db.prepare('SELECT * FROM nodes ORDER BY id').all() as NodeRow[];
  }

  insertNode(node: Omit<NodeRow, 'id'>): NodeRow {
    const columns = Object.keys(node);
    const result = this.db
      .prepare(`INSERT INTO nodes (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`)
      .run(node);
    return { ...node, id: Number(result.lastInsertRowid) };
  }

  updateNode(id: number, fields: Partial<Omit<NodeRow, 'id'>>): void {
    this.update('nodes', id, fields);
  }

  deleteNode(id: number): void {
    this.db.prepare('DELETE FROM nodes WHERE id = ?').run(id);
  }

  // API keys, read and written by the auth part rather than the tailnet model.

  listApiKeys(): ApiKeyRow[] {
    return this.db.prepare('SELECT * FROM api_keys ORDER BY id').all() as ApiKeyRow[];
  }

  findApiKeyById(id: number): ApiKeyRow | undefined {
    return this.db.prepare('SELECT * FROM api_keys WHERE id = ?').get(id) as ApiKeyRow | undefined;
  }

  findApiKeyByPrefix(prefix: string): ApiKeyRow | undefined {
    return this.db.prepare('SELECT * FROM api_keys WHERE prefix = ?').get(prefix) as ApiKeyRow | undefined;
  }

  insertApiKey(key: Omit<ApiKeyRow, 'id'>): ApiKeyRow {
    const result = this.db
      .prepare(
        `INSERT INTO api_keys (prefix, secret_hash, created_at, expires_at, last_used_at, revoked_at)
         VALUES (@prefix, @secret_hash, @created_at, @expires_at, @last_used_at, @revoked_at)`,
      )
      .run(key);
    return { ...key, id: Number(result.lastInsertRowid) };
  }

  updateApiKey(id: number, fields: Partial<Omit<ApiKeyRow, 'id'>>): void {
    this.update('api_keys', id, fields);
  }

  // Sessions, read and written by src/auth/sessions.ts. Times are ISO 8601 strings in UTC, so
  // they compare correctly as text.

  insertSession(session: Omit<SessionRow, 'id'>): SessionRow {
    const result = this.db
      .prepare(
        `INSERT INTO sessions (prefix, secret_hash, user_id, kind, created_at, expires_at)
         VALUES (@prefix, @secret_hash, @user_id, @kind, @created_at, @expires_at)`,
      )
      .run(session);
    return { ...session, id: Number(result.lastInsertRowid) };
  }

  findSessionByPrefix(prefix: string): SessionRow | undefined {
    return this.db.prepare('SELECT * FROM sessions WHERE prefix = ?').get(prefix) as SessionRow | undefined;
  }

  deleteSession(id: number): void {
    this.db.prepare('DELETE FROM sessions WHERE id = ?').run(id);
  }

  /** Deletes sessions whose expiry is at or before `now` and returns how many there were. */
  deleteExpiredSessions(now: string): number {
    return this.db.prepare('DELETE FROM sessions WHERE expires_at <= ?').run(now).changes;
  }

  // Join tokens, read and written by src/auth/join-tokens.ts.

  insertJoinToken(token: Omit<JoinTokenRow, 'id'>): JoinTokenRow {
    const result = this.db
      .prepare(
        `INSERT INTO join_tokens (prefix, secret_hash, user_id, max_uses, use_count, ephemeral, tags, created_at, expires_at, last_used_at, revoked_at)
         VALUES (@prefix, @secret_hash, @user_id, @max_uses, @use_count, @ephemeral, @tags, @created_at, @expires_at, @last_used_at, @revoked_at)`,
      )
      .run(token);
    return { ...token, id: Number(result.lastInsertRowid) };
  }

  listJoinTokens(userId?: number): JoinTokenRow[] {
    if (userId === undefined) return this.db.prepare('SELECT * FROM join_tokens ORDER BY id').all() as JoinTokenRow[];
    return this.db.prepare('SELECT * FROM join_tokens WHERE user_id = ? ORDER BY id').all(userId) as JoinTokenRow[];
  }

  findJoinTokenById(id: number): JoinTokenRow | undefined {
    return this.db.prepare('SELECT * FROM join_tokens WHERE id = ?').get(id) as JoinTokenRow | undefined;
  }

  findJoinTokenByPrefix(prefix: string): JoinTokenRow | undefined {
    return this.db.prepare('SELECT * FROM join_tokens WHERE prefix = ?').get(prefix) as JoinTokenRow | undefined;
  }

  /**
   * Counts one use of a join token if it is still usable at `now`: not revoked, not expired and
   * not used up. The check and the increment are one UPDATE statement, so two concurrent uses of
   * a token with one use left cannot both succeed. Returns whether the use was counted.
   */
  consumeJoinToken(id: number, now: string): boolean {
    const result = this.db
      .prepare(
        `UPDATE join_tokens SET use_count = use_count + 1, last_used_at = @now
         WHERE id = @id AND revoked_at IS NULL AND expires_at > @now AND use_count < max_uses`,
      )
      .run({ id, now });
    return result.changes === 1;
  }

  revokeJoinToken(id: number, now: string): void {
    this.db.prepare('UPDATE join_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(now, id);
  }

  private update(table: 'users' | 'preauth_keys' | 'nodes' | 'api_keys', id: number, fields: Row): void {
    const columns = Object.keys(fields).filter((c) => fields[c] !== undefined);
    if (columns.length === 0) return;
    for (const column of columns) {
      if (!/^[a-z_]+$/.test(column)) throw new StoreError(`invalid column name ${JSON.stringify(column)}`);
    }
    const assignments = columns.map((c) => `${c} = @${c}`).join(', ');
    const values: Row = { id };
    for (const column of columns) values[column] = fields[column];
    const result = this.db.prepare(`UPDATE ${table} SET ${assignments} WHERE id = @id`).run(values);
    if (result.changes !== 1) throw new StoreError(`${table} row ${id} not found`);
  }
}
