/**
 * Shared parts of the sign-in pages, the interactive login page and the join token API: the
 * auth objects, the session cookie and CSRF tokens.
 */
import crypto from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

import type { ApiKeys } from '../auth/api-keys.js';
import type { FailureLimiter } from '../auth/failure-limiter.js';
import type { SignInPolicy } from '../auth/identity.js';
import type { JoinTokens } from '../auth/join-tokens.js';
import type { LoginFlows } from '../auth/login-flows.js';
import type { OidcClient } from '../auth/oidc.js';
import type { Session, SessionCheck, Sessions } from '../auth/sessions.js';
import type { PendingLogins } from '../control/pending-logins.js';
import type { Tailnet } from '../tailnet/tailnet.js';

export interface AuthContext {
  /** The coordinator's public URL. Every redirect URI and link is built from it, never from the Host header. */
  serverUrl: () => string;
  tailnet: Tailnet;
  pendingLogins: PendingLogins;
  sessions: Sessions;
  joinTokens: JoinTokens;
  apiKeys: ApiKeys;
  /** Present when the `oidc` section is configured. */
  oidc?: { client: OidcClient; policy: SignInPolicy };
  loginFlows: LoginFlows;
  /** Failed `POST /api/v1/join` attempts per source address. */
  joinFailures: FailureLimiter;
  /** Signs the sign-in state cookie. Random per process, so a restart cancels sign-ins in progress. */
  cookieSecret: string;
  /** Key for CSRF tokens. Random per process, so a restart invalidates open forms. */
  csrfKey: Buffer;
}

export const SESSION_COOKIE = 'wonder_session';

/** Cookies are Secure when server_url is https; a browser reaching an http server_url would drop Secure cookies. */
export function secureCookies(context: AuthContext): boolean {
  return context.serverUrl().startsWith('https:');
}

/** Checks the session cookie; undefined when the request has none. */
export function sessionFromCookie(request: FastifyRequest, context: AuthContext): SessionCheck | undefined {
  const token = request.cookies[SESSION_COOKIE];
  return token === undefined || token === '' ? undefined : context.sessions.check(token);
}

export function setSessionCookie(reply: FastifyReply, context: AuthContext, token: string): void {
  reply.setCookie(SESSION_COOKIE, token, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: secureCookies(context),
    maxAge: Math.floor(context.sessions.lifetimeMs / 1000),
  });
}

export function clearSessionCookie(reply: FastifyReply, context: AuthContext): void {
  reply.clearCookie(SESSION_COOKIE, { path: '/', httpOnly: true, sameSite: 'lax', secure: secureCookies(context) });
}

/**
 * Returns the CSRF token for a form that `session` submits for `purpose`, such as
 * "register:<id>". It is an HMAC of both, so a form works only for the session it was shown to.
 */
export function csrfToken(context: AuthContext, session: Session, purpose: string): string {
  return crypto.createHmac('sha256', context.csrfKey).update(`${session.prefix}\n${purpose}`).digest('base64url');
}

export function csrfMatches(context: AuthContext, session: Session, purpose: string, presented: unknown): boolean {
  if (typeof presented !== 'string') return false;
  const expected = Buffer.from(csrfToken(context, session, purpose));
  const actual = Buffer.from(presented);
  return expected.length === actual.length && crypto.timingSafeEqual(expected, actual);
}

/** Returns `next` when it is a path on this coordinator, and "/account" otherwise, so sign-in never redirects to another site. */
export function safeReturnPath(next: unknown): string {
  if (typeof next !== 'string' || !/^\/(?![/\\])[\x21-\x7e]*$/.test(next)) return '/account';
  return next;
}
