import { describe, expect, it } from 'vitest';

import { checkSignInPolicy, chooseUserName, type Identity, identityFromClaims, type SignInPolicy } from '../../../src/auth/identity.js';

const ISSUER = 'https://idp.example/realms/wonder';

function identity(fields: Partial<Identity> = {}): Identity {
  return { issuer: ISSUER, subject: 'sub-1', providerId: `${ISSUER} sub-1`, emailVerified: true, groups: [], ...fields };
}

function policy(fields: Partial<SignInPolicy> = {}): SignInPolicy {
  return { allowedDomains: [], allowedUsers: [], allowedGroups: [], emailVerifiedRequired: true, ...fields };
}

describe('identityFromClaims', () => {
  it('joins issuer and subject', () => {
    const result = identityFromClaims(ISSUER, { sub: 'abc' });
    expect(result.providerId).toBe(`${ISSUER} abc`);
    expect(result.subject).toBe('abc');
    expect(result.groups).toEqual([]);
    expect(result.emailVerified).toBe(false);
  });

  it('lets UserInfo override the ID token', () => {
    const result = identityFromClaims(
      ISSUER,
      { sub: 'abc', email: 'old@example.com', name: 'Old', groups: ['a'] },
      { sub: 'abc', email: 'new@example.com', name: '', email_verified: 'true', groups: 'b', picture: 'https://pic' },
    );
    expect(result.email).toBe('new@example.com');
    expect(result.name).toBe('Old');
    expect(result.emailVerified).toBe(true);
    expect(result.groups).toEqual(['b']);
    expect(result.picture).toBe('https://pic');
  });

  it('ignores groups that are not strings', () => {
    expect(identityFromClaims(ISSUER, { sub: 'abc', groups: ['a', 7, null] }).groups).toEqual(['a']);
    expect(identityFromClaims(ISSUER, { sub: 'abc', groups: 7 }).groups).toEqual([]);
  });
});

describe('checkSignInPolicy', () => {
  it('admits anyone without filters', () => {
    expect(checkSignInPolicy(identity({ emailVerified: false }), policy())).toBeUndefined();
  });

  it('matches groups with or without a leading slash', () => {
    expect(checkSignInPolicy(identity({ groups: ['/admins'] }), policy({ allowedGroups: ['admins'] }))).toBeUndefined();
    expect(checkSignInPolicy(identity({ groups: ['admins'] }), policy({ allowedGroups: ['/admins'] }))).toBeUndefined();
    expect(checkSignInPolicy(identity({ groups: ['/team/admins'] }), policy({ allowedGroups: ['admins'] }))).toContain('not a member of an allowed group');
  });

  it('names a missing groups claim', () => {
    expect(checkSignInPolicy(identity(), policy({ allowedGroups: ['admins'] }))).toBe('not a member of an allowed group (allowed: admins; the provider sent no groups claim)');
  });

  it('compares domains and users without case', () => {
    const mixed = identity({ email: 'Alice@Example.COM' });
    expect(checkSignInPolicy(mixed, policy({ allowedDomains: ['example.com'] }))).toBeUndefined();
    expect(checkSignInPolicy(mixed, policy({ allowedUsers: ['alice@example.com'] }))).toBeUndefined();
    expect(checkSignInPolicy(mixed, policy({ allowedDomains: ['other.example'] }))).toBe('the email domain example.com is not allowed (allowed: other.example)');
    expect(checkSignInPolicy(mixed, policy({ allowedUsers: ['bob@example.com'] }))).toBe('the email address Alice@Example.COM is not in oidc.allowed_users');
  });

  it('requires a verified email only when email filters are set', () => {
    const unverified = identity({ email: 'alice@example.com', emailVerified: false });
    expect(checkSignInPolicy(unverified, policy({ allowedDomains: ['example.com'] }))).toContain('is not verified by the provider');
    expect(checkSignInPolicy(unverified, policy({ allowedDomains: ['example.com'], emailVerifiedRequired: false }))).toBeUndefined();
    expect(checkSignInPolicy(unverified, policy({ allowedGroups: [] }))).toBeUndefined();
  });

  it('requires an email for email filters', () => {
    expect(checkSignInPolicy(identity(), policy({ allowedUsers: ['a@example.com'] }))).toContain('sent no email address');
  });

  it('requires every filter that is set', () => {
    const person = identity({ email: 'alice@example.com', groups: ['users'] });
    expect(checkSignInPolicy(person, policy({ allowedDomains: ['example.com'], allowedGroups: ['admins'] }))).toContain('allowed group');
  });
});

describe('chooseUserName', () => {
  it('prefers preferred_username, then email', () => {
    expect(chooseUserName(identity({ preferredUsername: 'alice', email: 'a@example.com' }), () => false)).toBe('alice');
    expect(chooseUserName(identity({ preferredUsername: 'alice', email: 'a@example.com' }), (name) => name === 'alice')).toBe('a@example.com');
  });

  it('skips invalid names', () => {
    expect(chooseUserName(identity({ preferredUsername: 'Alice Liddell', email: 'a@example.com' }), () => false)).toBe('a@example.com');
  });

  it('derives a name from the subject', () => {
    expect(chooseUserName(identity(), () => false)).toMatch(/^user-[0-9a-f]{10}$/);
  });

  it('appends a number while taken', () => {
    const taken = new Set(['alice', 'a@example.com', 'alice-2']);
    const all = identity({ preferredUsername: 'alice', email: 'a@example.com' });
    const name = chooseUserName({ ...all, providerId: 'fixed' }, (candidate) => taken.has(candidate) || candidate.startsWith('user-'));
    expect(name).toBe('alice-3');
  });

  it('keeps long names within 63 characters', () => {
    const long = 'a'.repeat(63);
    expect(chooseUserName(identity({ preferredUsername: long }), (candidate) => candidate !== `${'a'.repeat(61)}-2`)).toBe(`${'a'.repeat(61)}-2`);
  });
});
