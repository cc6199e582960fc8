import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { JoinTokenError, JoinTokens } from '../../../src/auth/join-tokens.js';
import { Sessions } from '../../../src/auth/sessions.js';
import { Store } from '../../../src/store/store.js';
import { Tailnet } from '../../../src/tailnet/tailnet.js';

const log = pino({ level: 'silent' });
let store: Store;
let tailnet: Tailnet;
let clock: { now: number };
let tokens: JoinTokens;
let userId: number;

beforeEach(() => {
  store = Store.open(':memory:');
  clock = { now: Date.parse('2030-01-01T00:00:00Z') };
  const now = () => new Date(clock.now);
  tailnet = Tailnet.load(store, { ipv4Prefix: '100.64.0.0/10', ipv6Prefix: 'fd7a:115c:a1e0::/48', baseDomain: 'wonder.internal', nodeKeyExpiryMs: 0, log, now });
  tokens = new JoinTokens(store, tailnet, { keyLifetimeMs: 5 * 60_000, log, now });
  userId = tailnet.createUser({ name: 'alice' }).id;
});

afterEach(() => {
  store.close();
});

function expectJoinError(work: () => unknown, reason: JoinTokenError['reason']): void {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(JoinTokenError);
    expect((error as JoinTokenError).reason).toBe(reason);
    return;
  }
  throw new Error(`expected a JoinTokenError with reason ${reason}`);
}

describe('JoinTokens', () => {
  it('stores only a hash of the secret', () => {
    const { text } = tokens.create({ userId, expiresAt: new Date(clock.now + 60_000), uses: 1, ephemeral: false, tags: [] });
    const secret = text.slice(text.lastIndexOf('-') + 1);
    const row = store.db.prepare('SELECT * FROM join_tokens').get() as Record<string, unknown>;
    expect(JSON.stringify(row)).not.toContain(secret);
  });

  it('hands out single-use keys until used up', () => {
    const { text } = tokens.create({ userId, expiresAt: new Date(clock.now + 60_000), uses: 2, ephemeral: true, tags: ['tag:ci'] });
    const first = tokens.redeem(text);
    const second = tokens.redeem(text);
    expect(first.preAuthKey).toMatchObject({ reusable: false, ephemeral: true, tags: ['tag:ci'], userId });
    expect(first.preAuthKey.expiresAt?.getTime()).toBe(clock.now + 5 * 60_000);
    expect(second.token.useCount).toBe(2);
    expectJoinError(() => tokens.redeem(text), 'used-up');
    expect(tailnet.preAuthKeys.size).toBe(2);
  });

  it('rejects expired and revoked tokens', () => {
    const expiring = tokens.create({ userId, expiresAt: new Date(clock.now + 1000), uses: 1, ephemeral: false, tags: [] });
    const revoked = tokens.create({ userId, expiresAt: new Date(clock.now + 60_000), uses: 1, ephemeral: false, tags: [] });
    tokens.revoke(revoked.token);
    clock.now += 1000;
    expectJoinError(() => tokens.redeem(expiring.text), 'expired');
    expectJoinError(() => tokens.redeem(revoked.text), 'revoked');
    // One character changed: a different character whatever the random token ends with.
    const changed = `${revoked.text.slice(0, -1)}${revoked.text.endsWith('0') ? '1' : '0'}`;
    expectJoinError(() => tokens.redeem(changed), 'unknown');
    expect(tailnet.preAuthKeys.size).toBe(0);
  });

  it('rolls back the use when the key cannot be made', () => {
    const { token, text } = tokens.create({ userId, expiresAt: new Date(clock.now + 60_000), uses: 1, ephemeral: false, tags: [] });
    store.db.prepare('UPDATE join_tokens SET tags = ? WHERE id = ?').run('["not a tag"]', token.id);
    expect(() => tokens.redeem(text)).toThrow('invalid tag "not a tag"');
    expect(tokens.find(String(token.id)).useCount).toBe(0);
    expect(tailnet.preAuthKeys.size).toBe(0);
  });

  it('counts one use per statement at most', () => {
    const { token } = tokens.create({ userId, expiresAt: new Date(clock.now + 60_000), uses: 1, ephemeral: false, tags: [] });
    const now = new Date(clock.now).toISOString();
    expect(store.consumeJoinToken(token.id, now)).toBe(true);
    expect(store.consumeJoinToken(token.id, now)).toBe(false);
  });

  it('validates new tokens', () => {
    const expiresAt = new Date(clock.now + 60_000);
    expectJoinError(() => tokens.create({ userId, expiresAt, uses: 0, ephemeral: false, tags: [] }), 'invalid');
    expectJoinError(() => tokens.create({ userId, expiresAt: new Date(clock.now), uses: 1, ephemeral: false, tags: [] }), 'invalid');
    expect(() => tokens.create({ userId, expiresAt, uses: 1, ephemeral: false, tags: ['ci'] })).toThrow('invalid tag "ci"');
  });

  it('go with their user', () => {
    tokens.create({ userId, expiresAt: new Date(clock.now + 60_000), uses: 1, ephemeral: false, tags: [] });
    tailnet.deleteUser(userId);
    expect(tokens.list()).toEqual([]);
  });
});

describe('Sessions', () => {
  it('expire after their lifetime', () => {
    const sessions = new Sessions(store, tailnet, { lifetimeMs: 1000, log, now: () => new Date(clock.now) });
    const { token } = sessions.create(userId, 'browser');
    expect(sessions.check(token).ok).toBe(true);
    clock.now += 1000;
    expect(sessions.check(token)).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('are stored hashed and ended', () => {
    const sessions = new Sessions(store, tailnet, { lifetimeMs: 1000, log, now: () => new Date(clock.now) });
    const { session, token } = sessions.create(userId, 'bearer');
    const secret = token.slice(token.lastIndexOf('-') + 1);
    expect(JSON.stringify(store.db.prepare('SELECT * FROM sessions').all())).not.toContain(secret);
    sessions.end(session);
    expect(sessions.check(token)).toMatchObject({ ok: false, reason: 'unknown' });
    expect(sessions.check('wsess-nope')).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('remove expired rows when a session starts', () => {
    const sessions = new Sessions(store, tailnet, { lifetimeMs: 1000, log, now: () => new Date(clock.now) });
    sessions.create(userId, 'browser');
    clock.now += 2000;
    sessions.create(userId, 'browser');
    expect(store.db.prepare('SELECT COUNT(*) AS n FROM sessions').get()).toEqual({ n: 1 });
  });
});
