/**
 * A scripted browser for sign-in tests: fetch with a cookie jar and manual redirects. Cookies
 * are kept per host name, ignoring the port as browsers do (RFC 6265), and sent by path
 * prefix. `hosts` maps host names to addresses, standing in for DNS entries that exist only
 * in the browser's view, such as an identity provider's public name.
 */
export interface StoredCookie {
  name: string;
  value: string;
  host: string;
  path: string;
  expiresAt?: number;
}

export interface BrowserResponse {
  status: number;
  url: string;
  location?: string;
  headers: Headers;
  body: string;
}

export class TestBrowser {
  readonly cookies: StoredCookie[] = [];

  constructor(private readonly hosts: Record<string, string> = {}) {}

  /** Sends one request without following redirects. */
  async request(url: string, init: { method?: string; form?: Record<string, string>; json?: unknown; headers?: Record<string, string> } = {}): Promise<BrowserResponse> {
    const target = new URL(url);
    const headers: Record<string, string> = { accept: 'text/html,application/json', ...init.headers };
    const cookieHeader = this.cookieHeader(target);
    if (cookieHeader !== '') headers.cookie = cookieHeader;
    let body: string | undefined;
    if (init.form !== undefined) {
      body = new URLSearchParams(init.form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else if (init.json !== undefined) {
      body = JSON.stringify(init.json);
      headers['content-type'] = 'application/json';
    }
    const dialed = new URL(target);
    const address = this.hosts[target.hostname];
    if (address !== undefined) dialed.hostname = address;

    const response = await fetch(dialed, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, body, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) this.store(target, line);
    const location = response.headers.get('location') ?? undefined;
    const result: BrowserResponse = { status: response.status, url, headers: response.headers, body: await response.text() };
    if (location !== undefined) result.location = new URL(location, target).href;
    return result;
  }

  /** Requests `url` and follows redirects with GET until a response that is not a redirect, or until `stopAt` matches a redirect target. */
  async follow(url: string, options: { stopAt?: (url: string) => boolean; maxRedirects?: number } = {}): Promise<BrowserResponse> {
    let response = await this.request(url);
    for (let hop = 0; hop < (options.maxRedirects ?? 20); hop += 1) {
      if (response.status < 300 || response.status >= 400 || response.location === undefined) return response;
      if (options.stopAt?.(response.location) === true) return response;
      response = await this.request(response.location);
    }
    throw new Error(`more than ${options.maxRedirects ?? 20} redirects from ${url}`);
  }

  /** Returns the value of the cookie `name` that a request to `url` would send. */
  cookie(url: string, name: string): string | undefined {
    const target = new URL(url);
    return this.matching(target).find((cookie) => cookie.name === name)?.value;
  }

  private cookieHeader(target: URL): string {
    return this.matching(target)
      .map((cookie) => `${cookie.name}=${cookie.value}`)
      .join('; ');
  }

  private matching(target: URL): StoredCookie[] {
    const now = Date.now();
    return this.cookies.filter(
      (cookie) =>
        cookie.host === target.hostname &&
        (cookie.expiresAt === undefined || cookie.expiresAt > now) &&
        (target.pathname === cookie.path || target.pathname.startsWith(cookie.path.endsWith('/') ? cookie.path : `${cookie.path}/`)),
    );
  }

  private store(target: URL, line: string): void {
    const [pair, ...attributes] = line.split(';').map((part) => part.trim());
    const separator = pair!.indexOf('=');
    const cookie: StoredCookie = { name: pair!.slice(0, separator), value: pair!.slice(separator + 1), host: target.hostname, path: defaultPath(target) };
    for (const attribute of attributes) {
      const [rawName, ...rest] = attribute.split('=');
      const name = rawName!.toLowerCase();
      const value = rest.join('=');
      if (name === 'path' && value.startsWith('/')) cookie.path = value;
      if (name === 'max-age') cookie.expiresAt = Date.now() + Number(value) * 1000;
      if (name === 'expires' && cookie.expiresAt === undefined) cookie.expiresAt = Date.parse(value);
    }
    const index = this.cookies.findIndex((existing) => existing.name === cookie.name && existing.host === cookie.host && existing.path === cookie.path);
    if (index >= 0) this.cookies.splice(index, 1);
    if (cookie.expiresAt === undefined || cookie.expiresAt > Date.now()) this.cookies.push(cookie);
  }
}

function defaultPath(url: URL): string {
  const slash = url.pathname.lastIndexOf('/');
  return slash <= 0 ? '/' : url.pathname.slice(0, slash);
}
