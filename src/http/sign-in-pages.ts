/**
 * Browser sign-in through the OIDC provider:
 *
 * - `GET /login?next=/path` starts the authorization code flow with PKCE, state and nonce and
 *   redirects to the provider. The state goes into a signed, HttpOnly cookie scoped to
 *   `/oidc/callback`; the nonce and PKCE verifier stay on the server under that state.
 * - `GET /oidc/callback` checks the cookie against the returned state, takes the flow (so a
 *   callback URL works once), exchanges the code, applies the sign-in policy, finds or creates
 *   the user, sets the session cookie and returns to `next`.
 * - `GET /account` shows who is signed in, with forms to create a bearer token for scripts
 *   (`POST /account/tokens`) and to sign out (`POST /logout`).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

import { checkSignInPolicy, userForIdentity } from '../auth/identity.js';
import { OidcSignInError } from '../auth/oidc.js';
import type { Session } from '../auth/sessions.js';
import type { User } from '../tailnet/types.js';
import {
  type AuthContext,
  clearSessionCookie,
  csrfMatches,
  csrfToken,
  safeReturnPath,
  secureCookies,
  sessionFromCookie,
  setSessionCookie,
} from './auth-context.js';
import { escapeHtml, sendErrorPage, sendPage } from './html.js';

export const CALLBACK_PATH = '/oidc/callback';
const FLOW_COOKIE_PREFIX = 'wonder_signin_';
const START_AGAIN = '<a href="/login">Sign in again</a>.';

/** Names one cookie per sign-in in progress, so two tabs signing in at once do not overwrite each other's state. */
function flowCookieName(state: string): string {
  return FLOW_COOKIE_PREFIX + state.slice(0, 8);
}

/** Pages without parameters still declare their query string, so every route has a schema. */
const anyQuery = { querystring: { type: 'object' } } as const;
const csrfForm = { type: 'object', properties: { csrf: { type: 'string', maxLength: 200 } }, required: ['csrf'] } as const;

export function registerSignInPages(app: FastifyInstance, context: AuthContext): void {
  app.get<{ Querystring: { next?: string } }>(
    '/login',
    { schema: { querystring: { type: 'object', properties: { next: { type: 'string', maxLength: 2000 } } } } },
    async (request, reply) => {
      if (context.oidc === undefined) {
        return sendErrorPage(reply, 404, 'Sign-in is not configured', 'This coordinator has no oidc section in its configuration, so nobody can sign in through a browser.');
      }
      const flow = context.loginFlows.start({ returnTo: safeReturnPath(request.query.next) });
      const target = await context.oidc.client.authorizationUrl(`${context.serverUrl()}${CALLBACK_PATH}`, flow);
      reply.setCookie(flowCookieName(flow.state), flow.state, {
        path: CALLBACK_PATH,
        httpOnly: true,
        sameSite: 'lax',
        secure: secureCookies(context),
        signed: true,
        maxAge: Math.floor(context.loginFlows.lifetimeMs / 1000),
      });
      return reply.redirect(target.href, 303);
    },
  );

  app.get<{ Querystring: Record<string, string> }>(
    CALLBACK_PATH,
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { state: { type: 'string', maxLength: 500 }, code: { type: 'string', maxLength: 4000 } },
          additionalProperties: { type: 'string', maxLength: 4000 },
        },
      },
    },
    async (request, reply) => handleCallback(request, reply, context),
  );

  app.get('/account', { schema: anyQuery }, async (request, reply) => {
    const signedIn = currentSession(request, context);
    if (signedIn === undefined) {
      return sendPage(reply, 200, 'Not signed in', '<p><a href="/login">Sign in</a> to create join tokens for your machines.</p>');
    }
    return sendPage(reply, 200, 'Wonder coordinator', accountHtml(context, signedIn.session, signedIn.user));
  });

  app.post<{ Body: { csrf: string } }>('/account/tokens', { schema: { body: csrfForm } }, async (request, reply) => {
    const signedIn = currentSession(request, context);
    if (signedIn === undefined) return sendErrorPage(reply, 401, 'Not signed in', 'Your session has ended.', START_AGAIN);
    if (!csrfMatches(context, signedIn.session, 'account', request.body.csrf)) {
      request.log.warn({ userId: signedIn.user.id, sessionPrefix: signedIn.session.prefix }, 'bearer token form rejected: CSRF token does not match');
      return sendErrorPage(reply, 403, 'Form expired', 'This form was not shown to your current session.', '<a href="/account">Open the account page again</a>.');
    }
    const { session, token } = context.sessions.create(signedIn.user.id, 'bearer');
    return sendPage(
      reply,
      201,
      'Token for scripts',
      `<p>Send this token as <code>Authorization: Bearer …</code> to <code>${escapeHtml(context.serverUrl())}/api/v1/join-tokens</code>. ` +
        `It is shown only now and expires at ${escapeHtml(session.expiresAt.toISOString())}.</p>` +
        `<pre>${escapeHtml(token)}</pre>` +
        `<p>Example:</p><pre>curl -H 'Authorization: Bearer ${escapeHtml(token)}' -H 'Content-Type: application/json' \\\n  -d '{"uses": 2, "expiration": "1h"}' ${escapeHtml(context.serverUrl())}/api/v1/join-tokens</pre>`,
    );
  });

  app.get('/logout', { schema: anyQuery }, async (request, reply) => {
    const signedIn = currentSession(request, context);
    if (signedIn === undefined) return sendPage(reply, 200, 'Not signed in', '<p><a href="/login">Sign in</a></p>');
    return sendPage(reply, 200, 'Sign out', logoutFormHtml(context, signedIn.session));
  });

  app.post<{ Body: { csrf: string } }>('/logout', { schema: { body: csrfForm } }, async (request, reply) => {
    const signedIn = currentSession(request, context);
    if (signedIn === undefined) {
      clearSessionCookie(reply, context);
      return sendPage(reply, 200, 'Signed out', '<p>You were not signed in.</p>');
    }
    if (!csrfMatches(context, signedIn.session, 'account', request.body.csrf)) {
      return sendErrorPage(reply, 403, 'Form expired', 'This form was not shown to your current session.', '<a href="/logout">Try again</a>.');
    }
    context.sessions.end(signedIn.session);
    clearSessionCookie(reply, context);
    return sendPage(reply, 200, 'Signed out', '<p>Your session on this coordinator has ended. Your session at the identity provider is unchanged.</p>');
  });
}

async function handleCallback(request: FastifyRequest<{ Querystring: Record<string, string> }>, reply: FastifyReply, context: AuthContext) {
  const log = request.log.child({ component: 'sign-in' });
  if (context.oidc === undefined) return sendErrorPage(reply, 404, 'Sign-in is not configured', 'This coordinator has no oidc section in its configuration.');
  const { state } = request.query;
  if (state === undefined || state === '') {
    log.warn({ reason: 'missing-state' }, 'sign-in callback rejected');
    return sendErrorPage(reply, 400, 'Sign-in failed', 'The callback has no state parameter.', START_AGAIN);
  }

  // The state must be the one this browser's signed cookie carries: a forged or foreign callback fails here.
  const cookieName = flowCookieName(state);
  const cookie = request.cookies[cookieName];
  const unsigned = cookie === undefined ? undefined : request.unsignCookie(cookie);
  reply.clearCookie(cookieName, { path: CALLBACK_PATH, httpOnly: true, sameSite: 'lax', secure: secureCookies(context) });
  if (unsigned === undefined || !unsigned.valid || unsigned.value !== state) {
    log.warn({ reason: 'state-mismatch', cookiePresent: cookie !== undefined }, 'sign-in callback rejected');
    return sendErrorPage(
      reply,
      400,
      'Sign-in failed',
      'This sign-in was not started in this browser, was already completed, or took longer than ' +
        `${Math.round(context.loginFlows.lifetimeMs / 60_000)} minutes.`,
      START_AGAIN,
    );
  }
  const flow = context.loginFlows.take(state);
  if (flow === undefined) {
    log.warn({ reason: 'state-unknown' }, 'sign-in callback rejected');
    return sendErrorPage(reply, 400, 'Sign-in failed', 'This sign-in link was already used or has expired.', START_AGAIN);
  }

  // The redirect_uri of the token request comes from this URL, so it is built from server_url.
  const rawQuery = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
  const callbackUrl = new URL(`${context.serverUrl()}${CALLBACK_PATH}${rawQuery}`);
  let identity;
  try {
    identity = await context.oidc.client.finishSignIn(callbackUrl, flow);
  } catch (error) {
    if (!(error instanceof OidcSignInError)) throw error;
    log.warn({ reason: error.reason, err: error.message }, 'sign-in callback rejected');
    const status = error.reason === 'provider-unreachable' ? 502 : 401;
    return sendErrorPage(reply, status, 'Sign-in failed', `Sign-in failed: ${error.message}.`, START_AGAIN);
  }

  const rejection = checkSignInPolicy(identity, context.oidc.policy);
  if (rejection !== undefined) {
    log.warn({ reason: 'policy', subject: identity.subject, detail: rejection }, 'sign-in rejected by the sign-in policy');
    return sendErrorPage(reply, 403, 'Not allowed', `You cannot sign in to this coordinator: ${rejection}.`, 'Ask its administrator for access.');
  }

  const { user, created } = userForIdentity(context.tailnet, identity, { emailVerifiedRequired: context.oidc.policy.emailVerifiedRequired });
  const previous = sessionFromCookie(request, context);
  if (previous?.ok === true) context.sessions.end(previous.session);
  const { token } = context.sessions.create(user.id, 'browser');
  setSessionCookie(reply, context, token);
  log.info({ userId: user.id, user: user.name, subject: identity.subject, created }, 'signed in');
  return reply.redirect(flow.returnTo, 303);
}

/** Returns the signed-in session of the request's cookie, or undefined when there is none or it is invalid. */
function currentSession(request: FastifyRequest, context: AuthContext): { session: Session; user: User } | undefined {
  const check = sessionFromCookie(request, context);
  return check?.ok === true ? { session: check.session, user: check.user } : undefined;
}

function accountHtml(context: AuthContext, session: Session, user: User): string {
  const csrf = escapeHtml(csrfToken(context, session, 'account'));
  return (
    `<p>Signed in as <strong>${escapeHtml(user.displayName || user.name)}</strong> (user <code>${escapeHtml(user.name)}</code>) ` +
    `until ${escapeHtml(session.expiresAt.toISOString())}.</p>` +
    '<h2>Join tokens</h2>' +
    '<p>Workers join with <code>wonder join --coordinator URL --token TOKEN</code>. Create tokens through the API with a bearer token:</p>' +
    `<form method="post" action="/account/tokens"><input type="hidden" name="csrf" value="${csrf}"><button>Create a token for scripts</button></form>` +
    `<h2>Session</h2>${logoutFormHtml(context, session)}`
  );
}

function logoutFormHtml(context: AuthContext, session: Session): string {
  const csrf = escapeHtml(csrfToken(context, session, 'account'));
  return `<form method="post" action="/logout"><input type="hidden" name="csrf" value="${csrf}"><button>Sign out</button></form>`;
}
