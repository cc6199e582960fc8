/**
 * `GET /register/:id`: the page an AuthURL opens. Until sign-in through an identity provider
 * exists, it tells the person how an administrator approves the login.
 */
import type { FastifyInstance } from 'fastify';

import type { PendingLogins } from '../control/pending-logins.js';

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function registerLoginPage(app: FastifyInstance, pendingLogins: PendingLogins): void {
  app.get(
    '/register/:id',
    { schema: { params: { type: 'object', properties: { id: { type: 'string', pattern: '^[0-9a-f]{24}$' } }, required: ['id'] } } },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const login = pendingLogins.find(id);
      reply.type('text/html; charset=utf-8');
      if (login === undefined) {
        return reply.code(404).send('<!doctype html><title>Login not found</title><p>This login link is unknown or expired. Run <code>tailscale up</code> again for a new one.</p>\n');
      }
      const hostname = escapeHtml(String(login.input.hostinfo.Hostname ?? 'unknown'));
      const nodeKey = escapeHtml(login.input.nodeKey.toString());
      return reply.send(
        '<!doctype html><title>Approve this machine</title>' +
          `<h1>Machine ${hostname} is waiting to join</h1>` +
          `<p>Node key: <code>${nodeKey}</code></p>` +
          `<p>An administrator approves it with:</p><pre>wonder nodes approve ${escapeHtml(login.id)} --user USER</pre>\n`,
      );
    },
  );
}
