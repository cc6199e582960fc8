/**
 * Secret key text of the form `<kind prefix><prefix>-<secret>`, shared by pre-auth keys
 * (`wkey-auth-`) and API keys (`wapi-`). The 12 hex digits of the prefix identify the key in
 * listings and logs, and the 48 hex digits of the secret are stored only as a SHA-256 hash.
 * The secret is 192 random bits, so a plain hash is enough and no password hashing is needed.
 */
import crypto from 'node:crypto';

export interface GeneratedSecretKey {
  /** The full key text, shown once in the response that created the key. */
  text: string;
  prefix: string;
  secretHash: string;
}

export class SecretKeyFormat {
  private readonly pattern: RegExp;

  /** @param kindPrefix the fixed start of every key of this kind, such as "wapi-". */
  constructor(readonly kindPrefix: string) {
    const escaped = kindPrefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    this.pattern = new RegExp(`^${escaped}([0-9a-f]{12})-([0-9a-f]{48})$`);
  }

  generate(): GeneratedSecretKey {
    const prefix = crypto.randomBytes(6).toString('hex');
    const secret = crypto.randomBytes(24).toString('hex');
    return { text: `${this.kindPrefix}${prefix}-${secret}`, prefix, secretHash: hashSecret(secret) };
  }

  /** Splits key text into prefix and secret, or returns undefined when it is not a key of this kind. */
  parse(text: string): { prefix: string; secret: string } | undefined {
    const match = this.pattern.exec(text.trim());
    return match === null ? undefined : { prefix: match[1]!, secret: match[2]! };
  }
}

export function hashSecret(secret: string): string {
  return crypto.createHash('sha256').update(secret).digest('hex');
}

/** Compares a presented secret with a stored hash in constant time. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const presented = Buffer.from(hashSecret(secret), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return presented.length === stored.length && crypto.timingSafeEqual(presented, stored);
}
