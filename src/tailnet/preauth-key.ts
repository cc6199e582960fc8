/**
 * Pre-auth key text: `wkey-auth-<prefix>-<secret>`, where the 12 hex digits of the prefix
 * identify the key in listings and the 48 hex digits of the secret are stored only as a
 * SHA-256 hash. The secret is random, so a plain hash is enough; no password hashing is
 * needed. The form avoids `tskey-client-`, which the Tailscale CLI treats as an OAuth client
 * secret, and double hyphens, which it parses as a wrapped tailnet lock key.
 */
import crypto from 'node:crypto';

export const KEY_TEXT_PREFIX = 'wkey-auth-';
const KEY_PATTERN = /^wkey-auth-([0-9a-f]{12})-([0-9a-f]{48})$/;

export function generatePreAuthKey(): { text: string; prefix: string; secretHash: string } {
  const prefix = crypto.randomBytes(6).toString('hex');
  const secret = crypto.randomBytes(24).toString('hex');
  return { text: `${KEY_TEXT_PREFIX}${prefix}-${secret}`, prefix, secretHash: hashSecret(secret) };
}

/** Splits key text into prefix and secret, or returns undefined when it is not one of ours. */
export function parsePreAuthKey(text: string): { prefix: string; secret: string } | undefined {
  const match = KEY_PATTERN.exec(text.trim());
  return match === null ? undefined : { prefix: match[1]!, secret: match[2]! };
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
