/**
 * Shared pieces of the sign-in and join tests: free ports, JSON requests from a chosen
 * loopback source address, and counts of what the coordinator has stored.
 */
import Database from 'better-sqlite3';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

import type { TestBrowser, BrowserResponse } from './browser.js';

/** Returns a loopback port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface JsonResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
}

/**
 * Sends one JSON request over TCP or the admin socket. `localAddress` picks the loopback
 * source address (any of 127.0.0.0/8), which is how tests act as different clients.
 */
export function requestJson(
  target: { url: string; localAddress?: string } | { socketPath: string },
  method: string,
  urlPath: string,
  options: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<JsonResponse> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  if (payload !== undefined) headers['content-type'] = 'application/json';
  let where: http.RequestOptions;
  if ('socketPath' in target) {
    where = { socketPath: target.socketPath };
  } else {
    const url = new URL(target.url);
    where = { host: url.hostname, port: Number(url.port), localAddress: target.localAddress };
  }
  return new Promise((resolve, reject) => {
    const outgoing = http.request({ ...where, path: urlPath, method, headers }, (incoming) => {
      const parts: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => parts.push(chunk));
      incoming.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let body: unknown = text;
        try {
          body = text === '' ? undefined : JSON.parse(text);
        } catch {
          // Not JSON: the body stays text.
        }
        resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body });
      });
    });
    outgoing.on('error', reject);
    outgoing.end(payload);
  });
}

/** Row counts of the tables that sign-in and joins write, read straight from the database file. */
export function storedCounts(dataDir: string): { users: number; sessions: number; joinTokens: number; preAuthKeys: number; nodes: number } {
  const db = new Database(path.join(dataDir, 'wonder.sqlite'), { readonly: true });
  try {
    const count = (table: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { users: count('users'), sessions: count('sessions'), joinTokens: count('join_tokens'), preAuthKeys: count('preauth_keys'), nodes: count('nodes') };
  } finally {
    db.close();
  }
}

/** Extracts the CSRF token of the first form on a page. */
export function csrfFrom(page: BrowserResponse): string {
  const match = /name="csrf" value="([^"]+)"/.exec(page.body);
  if (match === null) throw new Error(`no CSRF field on ${page.url} (HTTP ${page.status}): ${page.body.slice(0, 300)}`);
  return match[1]!;
}

/** Signs in through the provider and returns the page the coordinator finally shows. */
export async function signIn(browser: TestBrowser, serverUrl: string, next = '/account'): Promise<BrowserResponse> {
  return browser.follow(`${serverUrl}/login?next=${encodeURIComponent(next)}`);
}
