/**
 * Pre-auth key text: `wkey-auth-<prefix>-<secret>`, in the prefix and hashed-secret scheme of
 * `secret-key.ts`. The form avoids `tskey-client-`, which the Tailscale CLI treats as an OAuth
 * client secret, and double hyphens, which it parses as a wrapped tailnet lock key.
 */
import { type GeneratedSecretKey, SecretKeyFormat } from './secret-key.js';

export { hashSecret, secretMatches } from './secret-key.js';

export const KEY_TEXT_PREFIX = 'wkey-auth-';
const PREAUTH_KEY_FORMAT = new SecretKeyFormat(KEY_TEXT_PREFIX);

export function generatePreAuthKey(): GeneratedSecretKey {
  return PREAUTH_KEY_FORMAT.generate();
}

/** Splits key text into prefix and secret, or returns undefined when it is not one of ours. */
export function parsePreAuthKey(text: string): { prefix: string; secret: string } | undefined {
  return PREAUTH_KEY_FORMAT.parse(text);
}
