/**
 * API keys for the admin REST API on the public port. Key text is `wapi-<prefix>-<secret>`.
 * The store keeps only the prefix and a SHA-256 hash of the secret, so the text is shown once,
 * when the key is created. Keys are read from the store on each use and never cached, so an
 * expired key stops working at once.
 */
import type { Logger } from '../log.js';
import type { ApiKeyRow, Store } from '../store/store.js';
import { SecretKeyFormat, secretMatches } from '../tailnet/secret-key.js';

export const API_KEY_FORMAT = new SecretKeyFormat('wapi-');

/** `last_used_at` is written at most this often per key, so busy scripts do not cost a disk sync per request. */
const LAST_USED_RESOLUTION_MS = 60_000;

export interface ApiKey {
  id: number;
  /** The public part of the key, which listings and logs show. */
  prefix: string;
  createdAt: Date;
  expiresAt?: Date;
  lastUsedAt?: Date;
  /** When an administrator expired the key. */
  revokedAt?: Date;
}

/** A request about API keys that cannot be carried out; `message` is meant for the administrator. */
export class ApiKeyError extends Error {
  constructor(
    message: string,
    readonly code: 'not-found' | 'invalid',
  ) {
    super(message);
    this.name = 'ApiKeyError';
  }
}

export type ApiKeyCheck = { ok: true; key: ApiKey } | { ok: false; reason: string; prefix?: string };

export class ApiKeys {
  private readonly log: Logger;
  private readonly now: () => Date;

  constructor(
    private readonly store: Store,
    options: { log: Logger; now?: () => Date },
  ) {
    this.log = options.log;
    this.now = options.now ?? (() => new Date());
  }

  /** Creates a key; the returned text is shown once and never stored. */
  create(input: { expiresAt: Date }): { key: ApiKey; text: string } {
    if (input.expiresAt.getTime() <= this.now().getTime()) {
      throw new ApiKeyError(`expiry ${input.expiresAt.toISOString()} is in the past`, 'invalid');
    }
    const generated = API_KEY_FORMAT.generate();
    const row = this.store.insertApiKey({
      prefix: generated.prefix,
      secret_hash: generated.secretHash,
      created_at: this.now().toISOString(),
      expires_at: input.expiresAt.toISOString(),
      last_used_at: null,
      revoked_at: null,
    });
    const key = apiKeyFromRow(row);
    this.log.info({ apiKeyId: key.id, prefix: key.prefix, expiresAt: row.expires_at }, 'API key created');
    return { key, text: generated.text };
  }

  list(): ApiKey[] {
    return this.store.listApiKeys().map(apiKeyFromRow);
  }

  /** Finds a key by numeric ID or by prefix. */
  find(idOrPrefix: string): ApiKey {
    const row = /^\d+$/.test(idOrPrefix) ? this.store.findApiKeyById(Number(idOrPrefix)) : this.store.findApiKeyByPrefix(idOrPrefix);
    if (row === undefined) throw new ApiKeyError(`API key ${JSON.stringify(idOrPrefix)} not found`, 'not-found');
    return apiKeyFromRow(row);
  }

  /** Revokes a key so it can no longer authenticate. Expiring an expired key changes nothing. */
  expire(idOrPrefix: string): ApiKey {
    const key = this.find(idOrPrefix);
    if (key.revokedAt === undefined) {
      const revokedAt = this.now();
      this.store.updateApiKey(key.id, { revoked_at: revokedAt.toISOString() });
      key.revokedAt = revokedAt;
      this.log.info({ apiKeyId: key.id, prefix: key.prefix }, 'API key expired');
    }
    return key;
  }

  isExpired(key: ApiKey): boolean {
    return key.revokedAt !== undefined || (key.expiresAt !== undefined && key.expiresAt.getTime() <= this.now().getTime());
  }

  /**
   * Checks presented key text. A failed check returns a reason for the log and, when the text
   * had the right form, the key's prefix; neither contains the secret.
   */
  check(text: string): ApiKeyCheck {
    const parsed = API_KEY_FORMAT.parse(text);
    if (parsed === undefined) return { ok: false, reason: 'not an API key' };

    const row = this.store.findApiKeyByPrefix(parsed.prefix);
    if (row === undefined || !secretMatches(parsed.secret, row.secret_hash)) {
      return { ok: false, reason: 'unknown API key', prefix: parsed.prefix };
    }
    const key = apiKeyFromRow(row);
    if (key.revokedAt !== undefined) return { ok: false, reason: 'API key was expired by an administrator', prefix: key.prefix };
    if (this.isExpired(key)) return { ok: false, reason: 'API key has expired', prefix: key.prefix };

    const now = this.now();
    if (key.lastUsedAt === undefined || now.getTime() - key.lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS) {
      this.store.updateApiKey(key.id, { last_used_at: now.toISOString() });
      key.lastUsedAt = now;
    }
    return { ok: true, key };
  }
}

function apiKeyFromRow(row: ApiKeyRow): ApiKey {
  const key: ApiKey = { id: row.id, prefix: row.prefix, createdAt: new Date(row.created_at) };
  if (row.expires_at !== null) key.expiresAt = new Date(row.expires_at);
  if (row.last_used_at !== null) key.lastUsedAt = new Date(row.last_used_at);
  if (row.revoked_at !== null) key.revokedAt = new Date(row.revoked_at);
  return key;
}
