/**
 * A TypeScript stand-in for tailscaled's control client: registers over a real ts2021
 * connection and reads its map stream. Tests and benchmarks use it to drive the coordinator at
 * scale; compatibility with real clients is judged by the interop tests, not by this.
 */
import { once } from 'node:events';
import http2 from 'node:http2';

import { MachinePublic, NodePublic, DiscoPublic } from '../../protocol/key.js';
import { MapMessageReader } from '../../protocol/mapstream/frame.js';
import type { MapResponse } from '../../protocol/tailcfg/map.js';
import type { RegisterResponse } from '../../protocol/tailcfg/register.js';
import { dialControl } from '../../protocol/ts2021/client.js';
import { X25519PrivateKey } from '../../protocol/x25519.js';

export class FakeNode {
  readonly machineKey = X25519PrivateKey.generate();
  nodeKey = NodePublic.fromBytes(X25519PrivateKey.generate().publicKey);
  readonly discoKey = DiscoPublic.fromBytes(X25519PrivateKey.generate().publicKey);
  /** Every map message received on the current stream, in order. */
  readonly messages: MapResponse[] = [];
  private session: http2.ClientHttp2Session | undefined;
  private mapStream: http2.ClientHttp2Stream | undefined;
  private listeners: Array<() => void> = [];

  constructor(
    readonly serverUrl: string,
    readonly serverPublic: MachinePublic,
    readonly hostname: string,
  ) {}

  async connect(): Promise<void> {
    const conn = await dialControl({ serverUrl: this.serverUrl, machineKey: this.machineKey, serverPublic: this.serverPublic });
    this.session = http2.connect('http://control.invalid', { createConnection: () => conn });
    this.session.on('error', () => {});
  }

  /** Sends one request and returns the status and JSON (or text) body. */
  async post(path: string, body: unknown): Promise<{ status: number; body: unknown }> {
    if (this.session === undefined) await this.connect();
    const stream = this.session!.request({ ':method': 'POST', ':path': path });
    stream.end(JSON.stringify(body));
    const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
    const parts: Buffer[] = [];
    for await (const chunk of stream) parts.push(chunk as Buffer);
    const text = Buffer.concat(parts).toString();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Plain-text error bodies stay strings.
    }
    return { status: Number(headers[':status']), body: parsed };
  }

  register(fields: Record<string, unknown> = {}): Promise<{ status: number; body: RegisterResponse }> {
    return this.post('/machine/register', {
      Version: 131,
      NodeKey: this.nodeKey.toString(),
      OldNodeKey: `nodekey:${'0'.repeat(64)}`,
      Expiry: '0001-01-01T00:00:00Z',
      Hostinfo: { Hostname: this.hostname, OS: 'linux' },
      ...fields,
    }) as Promise<{ status: number; body: RegisterResponse }>;
  }

  /** Opens the map stream; messages collect in `messages`. Resolves once the response headers arrive. */
  async streamMap(fields: Record<string, unknown> = {}): Promise<number> {
    if (this.session === undefined) await this.connect();
    this.messages.length = 0;
    const stream = this.session!.request({ ':method': 'POST', ':path': '/machine/map' });
    this.mapStream = stream;
    stream.on('error', () => {});
    stream.end(
      JSON.stringify({
        Version: 131,
        Compress: 'zstd',
        KeepAlive: true,
        NodeKey: this.nodeKey.toString(),
        DiscoKey: this.discoKey.toString(),
        Stream: true,
        Hostinfo: { Hostname: this.hostname, OS: 'linux', NetInfo: { PreferredDERP: 900 } },
        Endpoints: ['127.0.0.1:41641'],
        ...fields,
      }),
    );
    const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
    const status = Number(headers[':status']);
    if (status !== 200) {
      stream.resume();
      return status;
    }
    const reader = new MapMessageReader();
    stream.on('data', (chunk: Buffer) => {
      for (const message of reader.push(chunk)) this.messages.push(message as MapResponse);
      for (const listener of this.listeners.splice(0)) listener();
    });
    return status;
  }

  /** Waits until some received message satisfies `match`. */
  async waitForMessage(match: (message: MapResponse) => boolean, timeoutMs = 5000): Promise<MapResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(match);
      if (found !== undefined) return found;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`${this.hostname}: no matching map message within ${timeoutMs} ms; got ${JSON.stringify(this.messages).slice(0, 500)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.listeners.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  get mapStreamClosed(): boolean {
    return this.mapStream === undefined || this.mapStream.closed;
  }

  close(): void {
    this.session?.destroy();
    this.session = undefined;
  }
}
