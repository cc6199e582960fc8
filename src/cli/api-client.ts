/**
 * A small client for the coordinator's admin API, over the local admin socket or over HTTP(S)
 * with an API key. The CLI never opens the database: the running coordinator owns its state.
 */
import http from 'node:http';
import https from 'node:https';

const API_PREFIX = '/api/v1';
/** The socket of a coordinator started with the default data_dir in the current folder. */
export const DEFAULT_ADMIN_SOCKET = './data/admin.sock';
const REQUEST_TIMEOUT_MS = 30_000;

export type ApiTarget = { kind: 'socket'; socketPath: string } | { kind: 'url'; url: string; apiKey: string };

/** The coordinator rejected a request; `message` is the coordinator's own error text. */
export class ApiRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiRequestError';
  }
}

/** The coordinator could not be reached, or sent something that is not an API response. */
export class ApiConnectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApiConnectionError';
  }
}

export class ApiClient {
  constructor(readonly target: ApiTarget) {}

  /** Names the target in messages: "admin socket ./data/admin.sock" or the server URL. */
  describeTarget(): string {
    return this.target.kind === 'socket' ? `admin socket ${this.target.socketPath}` : this.target.url;
  }

  get<T>(path: string, query: Record<string, string | undefined> = {}): Promise<T> {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value !== undefined) search.set(name, value);
    const suffix = search.size > 0 ? `?${search.toString()}` : '';
    return this.request<T>('GET', `${path}${suffix}`);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }

  private request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload !== undefined) headers['content-type'] = 'application/json';

    let options: http.RequestOptions;
    let transport: typeof http | typeof https = http;
    if (this.target.kind === 'socket') {
      options = { socketPath: this.target.socketPath, path: `${API_PREFIX}${path}` };
    } else {
      const base = new URL(this.target.url);
      transport = base.protocol === 'https:' ? https : http;
      options = { protocol: base.protocol, hostname: base.hostname, port: base.port, path: `${API_PREFIX}${path}` };
      headers.authorization = `Bearer ${this.target.apiKey}`;
    }

    return new Promise<T>((resolve, reject) => {
      const outgoing = transport.request({ ...options, method, headers, timeout: REQUEST_TIMEOUT_MS }, (incoming) => {
        const parts: Buffer[] = [];
        incoming.on('data', (chunk: Buffer) => parts.push(chunk));
        incoming.on('error', (error) => reject(this.connectionError(error)));
        incoming.on('end', () => {
          try {
            resolve(this.parseResponse<T>(incoming.statusCode ?? 0, Buffer.concat(parts).toString('utf8')));
          } catch (error) {
            reject(error);
          }
        });
      });
      outgoing.on('timeout', () => outgoing.destroy(new ApiConnectionError(`request to ${this.describeTarget()} timed out after ${REQUEST_TIMEOUT_MS / 1000} s`)));
      outgoing.on('error', (error) => reject(error instanceof ApiConnectionError ? error : this.connectionError(error)));
      outgoing.end(payload);
    });
  }

  private parseResponse<T>(status: number, text: string): T {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ApiConnectionError(`${this.describeTarget()} sent HTTP ${status} without a JSON body; is this a Wonder coordinator?`);
    }
    if (status >= 200 && status < 300) return parsed as T;
    const message = typeof (parsed as { error?: unknown }).error === 'string' ? (parsed as { error: string }).error : `HTTP ${status}`;
    throw new ApiRequestError(status, message);
  }

  private connectionError(error: Error): ApiConnectionError {
    const code = (error as NodeJS.ErrnoException).code;
    const where = `cannot reach the coordinator at ${this.describeTarget()}`;
    if (this.target.kind === 'socket') {
      if (code === 'ENOENT') return new ApiConnectionError(`${where}: the socket does not exist; start \`wonder serve\`, or name its socket with --socket PATH`);
      if (code === 'ECONNREFUSED') return new ApiConnectionError(`${where}: no coordinator is listening on it; start \`wonder serve\``);
      if (code === 'EACCES') return new ApiConnectionError(`${where}: permission denied; run the command as the user who runs the coordinator`);
    }
    return new ApiConnectionError(`${where}: ${error.message}`);
  }
}

/** A command line that cannot be carried out, such as --server without an API key. */
export class CliUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliUsageError';
  }
}

/** Builds the client from the global options: `--server` with an API key, or else the admin socket. */
export function apiClientFromOptions(options: { socket?: string; server?: string; apiKey?: string }): ApiClient {
  if (options.server === undefined) return new ApiClient({ kind: 'socket', socketPath: options.socket ?? DEFAULT_ADMIN_SOCKET });

  let url: URL;
  try {
    url = new URL(options.server);
  } catch {
    throw new CliUsageError(`invalid --server ${JSON.stringify(options.server)}: expected a URL such as http://127.0.0.1:8080`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliUsageError(`invalid --server ${JSON.stringify(options.server)}: the URL must start with http:// or https://`);
  }
  if (options.apiKey === undefined || options.apiKey === '') {
    throw new CliUsageError('--server needs an API key: pass --api-key KEY or set WONDER_API_KEY (create one with `wonder apikeys create` on the coordinator)');
  }
  return new ApiClient({ kind: 'url', url: options.server.replace(/\/+$/, ''), apiKey: options.apiKey });
}
