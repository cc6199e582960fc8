import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';

import { API_KEY_FORMAT, ApiKeys } from '../../src/auth/api-keys.js';
import { LATEST_VERSION, MIGRATIONS } from '../../src/store/migrations.js';
import { Store } from '../../src/store/store.js';
import { hashSecret } from '../../src/tailnet/secret-key.js';

const folders: string[] = [];
const stores: Store[] = [];
afterEach(() => {
  for (const store of stores.splice(0)) store.close();
  for (const folder of folders.splice(0)) fs.rmSync(folder, { recursive: true, force: true });
});

function databasePath(): string {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'wonder-apikeys-'));
  folders.push(folder);
  return path.join(folder, 'wonder.sqlite');
}

function openStore(file = databasePath()): Store {
  const store = Store.open(file);
  stores.push(store);
  return store;
}

/** Returns a clock that moves only when the test calls `advance`. */
function manualClock(start: string) {
  let current = new Date(start).getTime();
  return {
    now: () => new Date(current),
    advance: (ms: number) => {
      current += ms;
    },
  };
}

const log = pino({ level: 'silent' });

describe('API keys', () => {
  it('stores only the prefix and a hash of the secret', () => {
    const store = openStore();
    const { key, text } = new ApiKeys(store, { log }).create({ expiresAt: new Date(Date.now() + 60_000) });
    const parsed = API_KEY_FORMAT.parse(text);
    expect(text).toMatch(/^wapi-[0-9a-f]{12}-[0-9a-f]{48}$/);
    expect(parsed?.prefix).toBe(key.prefix);

    const row = store.findApiKeyByPrefix(key.prefix);
    expect(row?.secret_hash).toBe(hashSecret(parsed!.secret));
    expect(JSON.stringify(store.listApiKeys())).not.toContain(parsed!.secret);
  });

  it('accepts a valid key and rejects a wrong secret', () => {
    const apiKeys = new ApiKeys(openStore(), { log });
    const { text, key } = apiKeys.create({ expiresAt: new Date(Date.now() + 60_000) });
    const check = apiKeys.check(text);
    expect(check.ok).toBe(true);

    const wrong = `wapi-${key.prefix}-${'f'.repeat(48)}`;
    expect(apiKeys.check(wrong)).toEqual({ ok: false, reason: 'unknown API key', prefix: key.prefix });
    expect(apiKeys.check('wkey-auth-000000000000-' + '0'.repeat(48))).toEqual({ ok: false, reason: 'not an API key' });
  });

  it('rejects a key once its expiry has passed', () => {
    const clock = manualClock('2030-01-01T00:00:00Z');
    const apiKeys = new ApiKeys(openStore(), { log, now: clock.now });
    const { text } = apiKeys.create({ expiresAt: new Date('2030-01-01T01:00:00Z') });
    expect(apiKeys.check(text).ok).toBe(true);

    clock.advance(60 * 60_000);
    expect(apiKeys.check(text)).toMatchObject({ ok: false, reason: 'API key has expired' });
  });

  it('rejects an expiry in the past', () => {
    const apiKeys = new ApiKeys(openStore(), { log });
    expect(() => apiKeys.create({ expiresAt: new Date(Date.now() - 1000) })).toThrow(/is in the past/);
    expect(apiKeys.list()).toEqual([]);
  });

  it('expires a key by ID or prefix, once', () => {
    const clock = manualClock('2030-01-01T00:00:00Z');
    const apiKeys = new ApiKeys(openStore(), { log, now: clock.now });
    const first = apiKeys.create({ expiresAt: new Date('2030-02-01T00:00:00Z') });
    const second = apiKeys.create({ expiresAt: new Date('2030-02-01T00:00:00Z') });

    expect(apiKeys.expire(String(first.key.id)).revokedAt?.toISOString()).toBe('2030-01-01T00:00:00.000Z');
    clock.advance(1000);
    expect(apiKeys.expire(first.key.prefix).revokedAt?.toISOString()).toBe('2030-01-01T00:00:00.000Z');
    expect(apiKeys.check(first.text)).toMatchObject({ ok: false, reason: 'API key was expired by an administrator' });
    expect(apiKeys.check(second.text).ok).toBe(true);
    expect(() => apiKeys.expire('abcdefabcdef')).toThrow('API key "abcdefabcdef" not found');
  });

  it('writes last use at most once a minute', () => {
    const clock = manualClock('2030-01-01T00:00:00Z');
    const store = openStore();
    const apiKeys = new ApiKeys(store, { log, now: clock.now });
    const { text, key } = apiKeys.create({ expiresAt: new Date('2030-02-01T00:00:00Z') });

    apiKeys.check(text);
    clock.advance(30_000);
    apiKeys.check(text);
    expect(store.findApiKeyById(key.id)?.last_used_at).toBe('2030-01-01T00:00:00.000Z');

    clock.advance(30_000);
    apiKeys.check(text);
    expect(store.findApiKeyById(key.id)?.last_used_at).toBe('2030-01-01T00:01:00.000Z');
  });

  it('survives reopening the database', () => {
    const file = databasePath();
    const first = Store.open(file);
    const { text } = new ApiKeys(first, { log }).create({ expiresAt: new Date(Date.now() + 60_000) });
    first.close();

    expect(new ApiKeys(openStore(file), { log }).check(text).ok).toBe(true);
  });

  it('adds the api_keys table to a version 1 database without touching its rows', () => {
    const file = databasePath();
    const raw = new Database(file);
    raw.exec(MIGRATIONS.find((migration) => migration.version === 1)!.sql);
    raw.pragma('user_version = 1');
    raw.prepare("INSERT INTO users (name, created_at) VALUES ('kept', '2030-01-01T00:00:00Z')").run();
    raw.close();

    const store = openStore(file);
    expect(store.schemaVersion).toBe(LATEST_VERSION);
    expect(store.listUsers().map((user) => user.name)).toEqual(['kept']);
    expect(store.listApiKeys()).toEqual([]);
  });
});
