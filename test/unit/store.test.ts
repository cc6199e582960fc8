import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';

import { MachinePublic, NodePublic } from '../../protocol/key.js';
import { X25519PrivateKey } from '../../protocol/x25519.js';
import { LATEST_VERSION } from '../../src/store/migrations.js';
import { Store, StoreError } from '../../src/store/store.js';
import { Tailnet } from '../../src/tailnet/tailnet.js';

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) fs.rmSync(folder, { recursive: true, force: true });
});

function databasePath(): string {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'wonder-store-'));
  folders.push(folder);
  return path.join(folder, 'wonder.sqlite');
}

const options = {
  ipv4Prefix: '100.64.0.0/10',
  ipv6Prefix: 'fd7a:115c:a1e0::/48',
  baseDomain: 'wonder.internal',
  nodeKeyExpiryMs: 0,
  log: pino({ level: 'silent' }),
};

function registerInput(hostname: string) {
  return {
    machineKey: MachinePublic.fromBytes(X25519PrivateKey.generate().publicKey),
    nodeKey: NodePublic.fromBytes(X25519PrivateKey.generate().publicKey),
    hostinfo: { Hostname: hostname },
    ephemeral: false,
    capVersion: 131,
  };
}

describe('store', () => {
  it('migrates a new database to the latest version with WAL and foreign keys', () => {
    const store = Store.open(databasePath());
    expect(store.schemaVersion).toBe(LATEST_VERSION);
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('foreign_keys', { simple: true })).toBe(1);
    store.close();
  });

  it('rejects a database from a newer coordinator and leaves it untouched', () => {
    const file = databasePath();
    const raw = new Database(file);
    raw.pragma(`user_version = ${LATEST_VERSION + 1}`);
    raw.exec('CREATE TABLE precious (value TEXT); INSERT INTO precious VALUES (\'kept\')');
    raw.close();

    expect(() => Store.open(file)).toThrow(StoreError);
    expect(() => Store.open(file)).toThrow(new RegExp(`schema version ${LATEST_VERSION + 1}, newer than this coordinator's ${LATEST_VERSION}`));
    const check = new Database(file);
    expect(check.prepare('SELECT value FROM precious').get()).toEqual({ value: 'kept' });
    check.close();
  });

  it('keeps users, keys and nodes with their addresses across a reopen', () => {
    const file = databasePath();
    const first = Tailnet.load(Store.open(file), options);
    const user = first.createUser({ name: 'bob' });
    const { key, text } = first.createPreAuthKey({ userId: user.id, reusable: true, ephemeral: false });
    const input = registerInput('build-box');
    const node = first.registerNode(input, user.id, first.checkPreAuthKey(text));

    const store = Store.open(file);
    const second = Tailnet.load(store, options);
    const loaded = second.findNodeByNodeKey(input.nodeKey)!;
    expect(loaded.ipv4).toBe(node.ipv4);
    expect(loaded.ipv6).toBe(node.ipv6);
    expect(loaded.givenName).toBe('build-box');
    expect(second.preAuthKeys.get(key.id)?.useCount).toBe(1);
    expect(second.checkPreAuthKey(text).id).toBe(key.id);

    // A fresh registration after reload must not reuse the loaded node's addresses.
    const other = second.registerNode(registerInput('other'), user.id);
    expect(other.ipv4).not.toBe(node.ipv4);
    store.close();
  });

  it('never gives a deleted node\'s ID to a new node', () => {
    const store = Store.open(databasePath());
    const tailnet = Tailnet.load(store, options);
    const user = tailnet.createUser({ name: 'erin' });
    const first = tailnet.registerNode(registerInput('first'), user.id);
    tailnet.deleteNode(first.id);
    const second = tailnet.registerNode(registerInput('second'), user.id);
    expect(second.id).toBeGreaterThan(first.id);
    store.close();
  });

  it('never gives a deleted pre-auth key\'s ID to a new key', () => {
    const store = Store.open(databasePath());
    const tailnet = Tailnet.load(store, options);
    const user = tailnet.createUser({ name: 'frank' });
    const { key: first } = tailnet.createPreAuthKey({ userId: user.id, reusable: false, ephemeral: false });
    tailnet.deletePreAuthKey(first.id);
    const { key: second } = tailnet.createPreAuthKey({ userId: user.id, reusable: false, ephemeral: false });
    expect(second.id).toBeGreaterThan(first.id);
    store.close();
  });

  it('declares every table\'s id AUTOINCREMENT', () => {
    const store = Store.open(databasePath());
    const tables = store.db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as Array<{ name: string; sql: string }>;
    expect(tables.length).toBeGreaterThan(0);
    for (const table of tables) expect(table.sql, table.name).toMatch(/\bid\s+INTEGER PRIMARY KEY AUTOINCREMENT\b/);
    store.close();
  });

  it('never reuses auth table IDs', () => {
    const store = Store.open(databasePath());
    const user = store.insertUser({ name: 'gina', display_name: '', email: '', picture_url: '', provider_id: null, created_at: '2026-01-01T00:00:00Z' });
    const times = { created_at: '2026-01-01T00:00:00Z', expires_at: '2099-01-01T00:00:00Z' };
    const inserters: Record<string, (n: number) => number> = {
      api_keys: (n) => store.insertApiKey({ prefix: `api${n}`, secret_hash: 'x', last_used_at: null, revoked_at: null, ...times }).id,
      sessions: (n) => store.insertSession({ prefix: `sess${n}`, secret_hash: 'x', user_id: user.id, kind: 'bearer', ...times }).id,
      join_tokens: (n) =>
        store.insertJoinToken({
          prefix: `join${n}`,
          secret_hash: 'x',
          user_id: user.id,
          max_uses: 1,
          use_count: 0,
          ephemeral: 0,
          tags: '[]',
          last_used_at: null,
          revoked_at: null,
          ...times,
        }).id,
    };
    for (const [table, insert] of Object.entries(inserters)) {
      const first = insert(1);
      store.db.prepare(`DELETE FROM ${table} WHERE id = ?`).run(first);
      const second = insert(2);
      expect(second, table).toBeGreaterThan(first);
    }
    store.close();
  });

  it('sets an existing database to 0600', () => {
    const file = databasePath();
    const raw = new Database(file);
    raw.pragma('journal_mode = WAL');
    raw.close();
    fs.chmodSync(file, 0o644);

    const store = Store.open(file);
    for (const name of [file, `${file}-wal`, `${file}-shm`]) {
      expect((fs.statSync(name).mode & 0o777).toString(8), path.basename(name)).toBe('600');
    }
    store.close();
  });

  it('stores only a hash of pre-auth keys', () => {
    const file = databasePath();
    const store = Store.open(file);
    const tailnet = Tailnet.load(store, options);
    const user = tailnet.createUser({ name: 'carol' });
    const { text } = tailnet.createPreAuthKey({ userId: user.id, reusable: false, ephemeral: false });
    const secret = text.split('-').at(-1)!;
    const rows = JSON.stringify(store.db.prepare('SELECT * FROM preauth_keys').all());
    expect(rows).not.toContain(secret);
    store.close();
  });

  it('skips a node row it cannot read instead of failing to start', () => {
    const file = databasePath();
    const store = Store.open(file);
    const tailnet = Tailnet.load(store, options);
    const user = tailnet.createUser({ name: 'dave' });
    tailnet.registerNode(registerInput('good'), user.id);
    store.db.prepare(
      "INSERT INTO nodes (stable_id, user_id, machine_key, node_key, given_name, created_at) VALUES ('x', ?, 'garbage', 'garbage', 'bad', '2026-01-01T00:00:00Z')",
    ).run(user.id);
    const reloaded = Tailnet.load(store, options);
    expect([...reloaded.nodes.values()].map((n) => n.givenName)).toEqual(['good']);
    expect(store.db.prepare('SELECT COUNT(*) AS count FROM nodes').get()).toEqual({ count: 2 });
    store.close();
  });
});
