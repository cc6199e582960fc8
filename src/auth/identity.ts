/**
 * The identity (issuer and subject) and profile claims of an OpenID Connect sign-in, the
 * sign-in policy of `oidc.allowed_*`, and the user a sign-in maps to.
 */
import crypto from 'node:crypto';

import { isValidUserName, type Tailnet } from '../tailnet/tailnet.js';
import type { User } from '../tailnet/types.js';

export interface Identity {
  issuer: string;
  subject: string;
  /** Issuer and subject joined by a space: the key that finds the same user at every sign-in. */
  providerId: string;
  email?: string;
  emailVerified: boolean;
  name?: string;
  preferredUsername?: string;
  picture?: string;
  groups: string[];
}

export interface SignInPolicy {
  allowedDomains: string[];
  allowedUsers: string[];
  allowedGroups: string[];
  emailVerifiedRequired: boolean;
}

/**
 * Builds the identity from validated ID token claims, then lets non-empty UserInfo claims
 * override profile fields, as providers such as Keycloak put some claims only in UserInfo.
 * UserInfo must already be checked to have the same subject.
 */
export function identityFromClaims(issuer: string, idToken: Record<string, unknown>, userInfo: Record<string, unknown> = {}): Identity {
  const subject = String(idToken.sub);
  const pick = (claim: string): string | undefined => nonEmptyString(userInfo[claim]) ?? nonEmptyString(idToken[claim]);
  const groups = groupList(userInfo.groups) ?? groupList(idToken.groups) ?? [];
  const verified = userInfo.email_verified ?? idToken.email_verified;

  const identity: Identity = {
    issuer,
    subject,
    providerId: `${issuer} ${subject}`,
    emailVerified: verified === true || verified === 'true',
    groups,
  };
  const email = pick('email');
  if (email !== undefined) identity.email = email;
  const name = pick('name');
  if (name !== undefined) identity.name = name;
  const preferredUsername = pick('preferred_username');
  if (preferredUsername !== undefined) identity.preferredUsername = preferredUsername;
  const picture = pick('picture');
  if (picture !== undefined) identity.picture = picture;
  return identity;
}

/**
 * Applies the sign-in policy. Every filter that is set must pass. Groups match exactly or
 * after dropping one leading "/", because Keycloak's group mapper sends full paths such as
 * "/admins" when "Full group path" is on.
 * @returns the reason the identity is rejected, or undefined when it may sign in.
 */
export function checkSignInPolicy(identity: Identity, policy: SignInPolicy): string | undefined {
  if (policy.allowedGroups.length > 0) {
    const allowed = new Set(policy.allowedGroups.map(normalizeGroup));
    if (!identity.groups.some((group) => allowed.has(normalizeGroup(group)))) {
      const sent = identity.groups.length === 0 ? 'no groups claim' : `groups ${identity.groups.join(', ')}`;
      return `not a member of an allowed group (allowed: ${policy.allowedGroups.join(', ')}; the provider sent ${sent})`;
    }
  }

  const emailFilters = policy.allowedDomains.length > 0 || policy.allowedUsers.length > 0;
  if (!emailFilters) return undefined;
  if (identity.email === undefined) return 'the provider sent no email address, and sign-in is limited to certain email addresses';
  if (policy.emailVerifiedRequired && !identity.emailVerified) {
    return `the email address ${identity.email} is not verified by the provider (oidc.email_verified_required is on)`;
  }
  const email = identity.email.toLowerCase();
  if (policy.allowedDomains.length > 0) {
    const domain = email.slice(email.lastIndexOf('@') + 1);
    if (!policy.allowedDomains.some((allowed) => allowed.toLowerCase() === domain)) {
      return `the email domain ${domain} is not allowed (allowed: ${policy.allowedDomains.join(', ')})`;
    }
  }
  if (policy.allowedUsers.length > 0 && !policy.allowedUsers.some((allowed) => allowed.toLowerCase() === email)) {
    return `the email address ${identity.email} is not in oidc.allowed_users`;
  }
  return undefined;
}

/**
 * Picks a free user name for a first sign-in: preferred_username, else the email address,
 * else a name derived from the subject, with "-2", "-3" and so on appended while the name is taken.
 */
export function chooseUserName(identity: Identity, isTaken: (name: string) => boolean): string {
  const subjectName = `user-${crypto.createHash('sha256').update(identity.providerId).digest('hex').slice(0, 10)}`;
  const candidates = [identity.preferredUsername, identity.email, subjectName].filter(
    (candidate): candidate is string => candidate !== undefined && isValidUserName(candidate),
  );
  for (const candidate of candidates) {
    if (!isTaken(candidate)) return candidate;
  }
  const base = candidates[0]!;
  for (let suffix = 2; ; suffix += 1) {
    const candidate = `${base.slice(0, 63 - String(suffix).length - 1)}-${suffix}`;
    if (!isTaken(candidate)) return candidate;
  }
}

/**
 * Returns the user for a signed-in identity, found by issuer and subject. A first sign-in
 * creates the user under a new name from `chooseUserName`, so a provider account never takes
 * over a user that an administrator created by name. Later sign-ins refresh the profile.
 * The email address is stored only when verified, or when `emailVerifiedRequired` is off.
 */
export function userForIdentity(tailnet: Tailnet, identity: Identity, options: { emailVerifiedRequired: boolean }): { user: User; created: boolean } {
  const email = identity.email !== undefined && (identity.emailVerified || !options.emailVerifiedRequired) ? identity.email : '';
  const profile = { displayName: identity.name ?? identity.preferredUsername ?? identity.email ?? '', email, pictureUrl: identity.picture ?? '' };
  const existing = tailnet.findUserByProviderId(identity.providerId);
  if (existing !== undefined) {
    return { user: tailnet.updateUserProfile(existing.id, { ...profile, displayName: profile.displayName || existing.name }), created: false };
  }
  const name = chooseUserName(identity, (candidate) => tailnet.findUserByName(candidate) !== undefined);
  const user = tailnet.createUser({ name, displayName: profile.displayName || name, email, pictureUrl: profile.pictureUrl, providerId: identity.providerId });
  return { user, created: true };
}

function normalizeGroup(group: string): string {
  return group.startsWith('/') ? group.slice(1) : group;
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Reads the groups claim, which may be one string or a list of strings; anything else counts as absent. */
function groupList(value: unknown): string[] | undefined {
  if (typeof value === 'string' && value !== '') return [value];
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === 'string');
  return undefined;
}
