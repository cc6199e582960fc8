/**
 * `/register/:id`: the page an AuthURL opens. With OIDC configured, the person signs in through
 * the provider, is shown the machine's host name and node key, and confirms with a CSRF-protected
 * POST, which approves the login for their user. Without OIDC the page tells them how an
 * administrator approves the login; that path works in both cases.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';

import type { PendingLogin } from '../control/pending-logins.js';
import { type AuthContext, csrfMatches, csrfToken, sessionFromCookie } from './auth-context.js';
import { escapeHtml, sendErrorPage, sendPage } from './html.js';

const idParams = { type: 'object', properties: { id: { type: 'string', pattern: '^[0-9a-f]{24}$' } }, required: ['id'] } as const;

export function registerLoginPage(app: FastifyInstance, context: AuthContext): void {
  app.get<{ Params: { id: string } }>('/register/:id', { schema: { params: idParams } }, async (request, reply) => {
    const { id } = request.params;
    const login = context.pendingLogins.find(id);
    if (login === undefined) return sendLoginNotFound(reply);
    if (login.approvedUserId !== undefined) return sendPage(reply, 200, 'Machine approved', '<p>This machine was already approved. You can close this page.</p>');

    const adminHtml = `<p>An administrator can approve it with:</p><pre>wonder nodes approve ${escapeHtml(login.id)} --user USER</pre>`;
    if (context.oidc === undefined) return sendPage(reply, 200, 'Approve this machine', machineHtml(login) + adminHtml);

    const check = sessionFromCookie(request, context);
    if (check?.ok !== true) return reply.redirect(`/login?next=${encodeURIComponent(`/register/${id}`)}`, 303);

    const csrf = escapeHtml(csrfToken(context, check.session, `register:${id}`));
    return sendPage(
      reply,
      200,
      'Connect this machine?',
      machineHtml(login) +
        `<p>Confirm only if you just ran <code>tailscale up</code> on this machine. It will join the tailnet as user ` +
        `<strong>${escapeHtml(check.user.name)}</strong>.</p>` +
        `<form method="post" action="/register/${escapeHtml(id)}"><input type="hidden" name="csrf" value="${csrf}">` +
        '<button>Connect this machine</button></form>' +
        '<p>Not you? <a href="/logout">Sign out</a>.</p>',
    );
  });

  app.post<{ Params: { id: string }; Body: { csrf: string } }>(
    '/register/:id',
    {
      schema: {
        params: idParams,
        body: { type: 'object', properties: { csrf: { type: 'string', maxLength: 200 } }, required: ['csrf'] },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const signInAgain = `<a href="/register/${escapeHtml(id)}">Open the login page again</a>.`;
      if (context.oidc === undefined) {
        return sendErrorPage(reply, 404, 'Sign-in is not configured', 'An administrator approves this machine with wonder nodes approve.');
      }
      const check = sessionFromCookie(request, context);
      if (check?.ok !== true) return sendErrorPage(reply, 401, 'Not signed in', 'Your session has ended before you confirmed.', signInAgain);
      if (!csrfMatches(context, check.session, `register:${id}`, request.body.csrf)) {
        request.log.warn({ loginId: id, userId: check.user.id }, 'machine confirmation rejected: CSRF token does not match');
        return sendErrorPage(reply, 403, 'Form expired', 'This confirmation form was not shown to your current session.', signInAgain);
      }
      const login = context.pendingLogins.find(id);
      if (login === undefined) return sendLoginNotFound(reply);
      if (login.approvedUserId !== undefined) return sendErrorPage(reply, 409, 'Machine already approved', 'This machine was already approved.');

      context.pendingLogins.approve(id, check.user.id);
      request.log.info({ loginId: id, userId: check.user.id, user: check.user.name, nodeKey: login.input.nodeKey.short() }, 'interactive login approved through sign-in');
      return sendPage(
        reply,
        200,
        'Machine connected',
        `<p>${escapeHtml(hostnameOf(login))} joins the tailnet as <strong>${escapeHtml(check.user.name)}</strong>. You can close this page.</p>`,
      );
    },
  );
}

function hostnameOf(login: PendingLogin): string {
  return typeof login.input.hostinfo.Hostname === 'string' && login.input.hostinfo.Hostname !== '' ? login.input.hostinfo.Hostname : 'unknown host';
}

/** Renders the machine's host name, operating system and node key (`tailscale status --json` shows it as Self.PublicKey). */
function machineHtml(login: PendingLogin): string {
  const os = typeof login.input.hostinfo.OS === 'string' ? ` (${escapeHtml(login.input.hostinfo.OS)})` : '';
  return (
    `<p>Machine <strong>${escapeHtml(hostnameOf(login))}</strong>${os} is waiting to join.</p>` +
    `<p>Node key fingerprint: <code>${escapeHtml(login.input.nodeKey.short())}</code><br>` +
    `Node key: <code>${escapeHtml(login.input.nodeKey.toString())}</code></p>`
  );
}

function sendLoginNotFound(reply: FastifyReply): FastifyReply {
  return sendErrorPage(reply, 404, 'Login not found', 'This login link is unknown or expired.', 'Run <code>tailscale up</code> again for a new one.');
}
