import { X509Certificate, createHash } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';

import { DerpDialError, dialDerpTransport } from '../../protocol/derp/client.js';
import { SELF_SIGNED_CERT_FILE, SELF_SIGNED_KEY_FILE, loadOrCreateCertificate } from '../../src/derp/tls-cert.js';
import { type TestRelay, startTestRelay } from '../helpers/derp.js';

let relay: TestRelay | undefined;
const folders: string[] = [];

afterEach(async () => {
  await relay?.stop();
  relay = undefined;
  for (const folder of folders.splice(0)) fs.rmSync(folder, { recursive: true, force: true });
});

function tempDir(): string {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'wonder-derp-cert-'));
  folders.push(folder);
  return folder;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function request(port: number, method: string, urlPath: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const outgoing = https.request({ host: '127.0.0.1', port, method, path: urlPath, headers, rejectUnauthorized: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

describe('DERP HTTP endpoints', () => {
  it.each(['/derp/probe', '/derp/latency-check'])('answers GET and HEAD on %s with an empty 200', async (urlPath) => {
    relay = await startTestRelay();
    for (const method of ['GET', 'HEAD']) {
      const reply = await request(relay.port, method, urlPath);
      expect(reply.status).toBe(200);
      expect(reply.body).toBe('');
      expect(reply.headers['access-control-allow-origin']).toBe('*');
    }
    expect((await request(relay.port, 'POST', urlPath)).status).toBe(405);
  });

  it('echoes a valid captive portal challenge on /generate_204', async () => {
    relay = await startTestRelay();
    const reply = await request(relay.port, 'GET', '/generate_204', { 'X-Tailscale-Challenge': 'ts_127.0.0.1' });
    expect(reply.status).toBe(204);
    expect(reply.headers['x-tailscale-response']).toBe('response ts_127.0.0.1');
    expect(reply.headers['cache-control']).toContain('no-store');

    const bad = await request(relay.port, 'GET', '/generate_204', { 'X-Tailscale-Challenge': 'no spaces allowed' });
    expect(bad.status).toBe(204);
    expect(bad.headers['x-tailscale-response']).toBeUndefined();
    const long = await request(relay.port, 'GET', '/generate_204', { 'X-Tailscale-Challenge': 'a'.repeat(65) });
    expect(long.headers['x-tailscale-response']).toBeUndefined();
  });

  it('answers /bootstrap-dns with JSON', async () => {
    relay = await startTestRelay({ settings: { host_name: 'derp.example.internal', ipv4: '127.0.0.1' } });
    const known = await request(relay.port, 'GET', '/bootstrap-dns?q=derp.example.internal');
    expect(known.status).toBe(200);
    expect(known.headers['content-type']).toBe('application/json');
    expect(JSON.parse(known.body)).toEqual({ 'derp.example.internal': ['127.0.0.1'] });
    const unknown = await request(relay.port, 'GET', '/bootstrap-dns?q=controlplane.tailscale.com');
    expect(JSON.parse(unknown.body)).toEqual({});
  });

  it.each(['__proto__', 'constructor', 'valueof'])('answers /bootstrap-dns?q=%s with {}', async (name) => {
    relay = await startTestRelay({ settings: { host_name: 'derp.example.internal', ipv4: '127.0.0.1' } });
    const reply = await request(relay.port, 'GET', `/bootstrap-dns?q=${name}`);
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('{}');
  });

  it('returns 426 for /derp without an upgrade', async () => {
    relay = await startTestRelay();
    const reply = await request(relay.port, 'GET', '/derp');
    expect(reply.status).toBe(426);
    expect(reply.body).toContain('DERP requires connection upgrade');
  });

  it('rejects an upgrade to another protocol with 426', async () => {
    relay = await startTestRelay();
    const attempt = dialDerpTransport({ host: '127.0.0.1', port: relay.port, upgrade: 'h2c' });
    await expect(attempt).rejects.toBeInstanceOf(DerpDialError);
    await expect(attempt).rejects.toMatchObject({ status: 426 });
  });

  it('negotiates HTTP/1.1 only', async () => {
    relay = await startTestRelay();
    const socket = tls.connect({ host: '127.0.0.1', port: relay.port, ALPNProtocols: ['h2', 'http/1.1'], rejectUnauthorized: false });
    await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    expect(socket.alpnProtocol).toBe('http/1.1');
    socket.destroy();
  });
});

describe('DERP request targets', () => {
  it('answers 400 to an unparseable request target and keeps serving', async () => {
    relay = await startTestRelay();
    for (const extra of ['', 'Upgrade: DERP\r\nConnection: Upgrade\r\n']) {
      const socket = tls.connect({ host: '127.0.0.1', port: relay.port, rejectUnauthorized: false });
      await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
      const parts: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => parts.push(chunk));
      socket.write(`GET //[ HTTP/1.1\r\nHost: x\r\n${extra}\r\n`);
      await new Promise((resolve) => socket.once('close', resolve));
      expect(Buffer.concat(parts).toString()).toMatch(/^HTTP\/1\.1 400 /);
    }
    const probe = tls.connect({ host: '127.0.0.1', port: relay.port, rejectUnauthorized: false });
    await new Promise((resolve, reject) => probe.once('secureConnect', resolve).once('error', reject));
    probe.destroy();
  });
});

describe('DERP TLS certificate', () => {
  it('is self-signed ECDSA P-256, covers the host and is pinned', async () => {
    relay = await startTestRelay();
    const socket = tls.connect({ host: '127.0.0.1', port: relay.port, rejectUnauthorized: false });
    await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    const peer = socket.getPeerCertificate();
    socket.destroy();

    const certificate = new X509Certificate(peer.raw);
    expect(certificate.publicKey.asymmetricKeyType).toBe('ec');
    expect(certificate.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(certificate.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(certificate.verify(certificate.publicKey)).toBe(true);
    expect(relay.pin).toBe(createHash('sha256').update(peer.raw).digest('hex'));
    expect(relay.service.derpMap().Regions['900']?.Nodes[0]?.CertName).toBe(`sha256-raw:${relay.pin}`);
  });

  it('keeps the certificate across restarts and its key private', async () => {
    const dataDir = tempDir();
    relay = await startTestRelay({ dataDir });
    const firstPin = relay.pin;
    await relay.stop();
    expect(fs.statSync(path.join(dataDir, SELF_SIGNED_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(dataDir, 'derp.key')).mode & 0o777).toBe(0o600);

    relay = await startTestRelay({ dataDir });
    expect(relay.pin).toBe(firstPin);
    expect(relay.logs.some((line) => line.msg === 'loaded DERP certificate' && line.origin === 'reused')).toBe(true);
  });

  it('makes a new certificate when the old one nears expiry', async () => {
    const dataDir = tempDir();
    const options = { dataDir, hostName: '127.0.0.1', ipAddresses: [] };
    const first = await loadOrCreateCertificate(options);
    expect(first.origin.kind).toBe('created');
    expect((await loadOrCreateCertificate(options)).certName).toBe(first.certName);

    const nearExpiry = new Date(first.notAfter.getTime() - 10 * 24 * 60 * 60 * 1000);
    const renewed = await loadOrCreateCertificate({ ...options, now: nearExpiry });
    expect(renewed.origin).toMatchObject({ kind: 'created', reason: expect.stringMatching(/expires on/) });
    expect(renewed.certName).not.toBe(first.certName);
  });

  it('makes a new certificate when the host name changes', async () => {
    const dataDir = tempDir();
    const first = await loadOrCreateCertificate({ dataDir, hostName: 'relay-a.example', ipAddresses: ['192.0.2.1'] });
    const moved = await loadOrCreateCertificate({ dataDir, hostName: 'relay-b.example', ipAddresses: ['192.0.2.1'] });
    expect(moved.origin).toMatchObject({ kind: 'created', reason: 'it does not cover the host name relay-b.example' });
    const certificate = new X509Certificate(moved.cert);
    expect(certificate.subjectAltName).toBe('DNS:relay-b.example, IP Address:192.0.2.1');
    expect(moved.certName).not.toBe(first.certName);
  });

  it('uses a configured certificate without a pin', async () => {
    const source = tempDir();
    const made = await loadOrCreateCertificate({ dataDir: source, hostName: '127.0.0.1', ipAddresses: [] });
    const settings = { tls: { cert_path: path.join(source, SELF_SIGNED_CERT_FILE), key_path: path.join(source, SELF_SIGNED_KEY_FILE) } };
    relay = await startTestRelay({ settings });
    const node = relay.service.derpMap().Regions['900']?.Nodes[0];
    expect(node?.CertName).toBeUndefined();
    expect(relay.logs.some((line) => line.msg === 'loaded DERP certificate' && line.origin === 'configured')).toBe(true);

    const socket = tls.connect({ host: '127.0.0.1', port: relay.port, rejectUnauthorized: false });
    await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    expect(createHash('sha256').update(socket.getPeerCertificate().raw).digest('hex')).toBe(made.certName?.replace('sha256-raw:', ''));
    socket.destroy();
  });

  it('rejects a configured key that belongs to another certificate', async () => {
    const one = tempDir();
    const two = tempDir();
    await loadOrCreateCertificate({ dataDir: one, hostName: '127.0.0.1', ipAddresses: [] });
    await loadOrCreateCertificate({ dataDir: two, hostName: '127.0.0.1', ipAddresses: [] });
    const attempt = loadOrCreateCertificate({
      dataDir: tempDir(),
      hostName: '127.0.0.1',
      ipAddresses: [],
      certPath: path.join(one, SELF_SIGNED_CERT_FILE),
      keyPath: path.join(two, SELF_SIGNED_KEY_FILE),
    });
    await expect(attempt).rejects.toThrow(/derp\.tls\.key_path .* does not contain the private key of the certificate/);
  });
});
