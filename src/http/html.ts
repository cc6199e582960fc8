/** Minimal HTML for the coordinator's few browser pages. Every interpolated value goes through `escapeHtml`. */
import type { FastifyReply } from 'fastify';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Sends a complete page. `body` is trusted HTML; build it with escapeHtml. Pages are never cached, as some show secrets. */
export function sendPage(reply: FastifyReply, status: number, title: string, body: string): FastifyReply {
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
    .header('referrer-policy', 'no-referrer')
    .send(
      '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
        '<meta name="viewport" content="width=device-width, initial-scale=1">' +
        `<title>${escapeHtml(title)}</title>` +
        '<style>body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;line-height:1.5}' +
        'code,pre{background:#f3f3f3;padding:.1rem .3rem;word-break:break-all}button{font-size:1rem;padding:.4rem 1rem}</style>' +
        `</head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>\n`,
    );
}

/** Sends a page that explains a failure. `next` is trusted HTML that says what to do next. */
export function sendErrorPage(reply: FastifyReply, status: number, title: string, message: string, next?: string): FastifyReply {
  const nextHtml = next === undefined ? '' : `<p>${next}</p>`;
  return sendPage(reply, status, title, `<p>${escapeHtml(message)}</p>${nextHtml}`);
}
