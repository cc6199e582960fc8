/**
 * Tailscale's own DERP and STUN client code (Go, tailscale.com v1.92.5, in interop/cmd/derpprobe)
 * against the coordinator's embedded relay. The probe dials with the sha256-raw certificate pin
 * from our DERP map and checks packets both ways, KeepAlives and PeerGone when a peer leaves.
 * It also checks that an unknown key is rejected while verification is on, and STUN.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { NodePublic, PrivateKey } from '../../protocol/key.js';
import { X25519PrivateKey } from '../../protocol/x25519.js';
import { type TestCoordinator, startTestCoordinator } from '../helpers/coordinator.js';
import { derpprobePath } from './binaries.js';

const run = promisify(execFile);
let coordinator: TestCoordinator;

/** Keys the test verifier admits: the stand-in for registered, unexpired nodes. */
const keyA = X25519PrivateKey.generate();
const keyB = X25519PrivateKey.generate();
const admitted = new Set([keyA, keyB].map((key) => NodePublic.fromBytes(key.publicKey).hex()));

const privateText = (key: X25519PrivateKey): string => PrivateKey.fromBytes(key.bytes).reveal();

beforeAll(async () => {
  coordinator = await startTestCoordinator({
    // Short KeepAlives, so the probe receives some within the test.
    overrides: { 'derp.keepalive_interval': '1s' },
    derpClientVerifier: (key) => admitted.has(key.hex()),
  });
});
afterAll(async () => {
  await coordinator?.stop();
});

function regionJson(): string {
  return JSON.stringify(coordinator.derpMap().Regions['900']);
}

describe('Tailscale DERP client against the embedded relay', () => {
  it('exchanges packets both ways, sees KeepAlives and PeerGone', async () => {
    const { stdout } = await run(
      derpprobePath(),
      ['--mode', 'exchange', '--region', regionJson(), '--key-a', privateText(keyA), '--key-b', privateText(keyB), '--count', '100', '--size', '1200', '--keepalives', '2', '--timeout', '30s'],
      { timeout: 60_000 },
    );
    const result = JSON.parse(stdout.trim()) as Record<string, unknown>;
    expect(result.serverKey).toBe(coordinator.derp.relay!.publicKey.toString());
    expect(result.tlsVersion).toBe('TLS 1.3');
    expect(result.receivedByA).toBe(100);
    expect(result.receivedByB).toBe(100);
    expect(result.keepAlivesEach).toBeGreaterThanOrEqual(2);
    expect(result.peerGone).toBe(NodePublic.fromBytes(keyB.publicKey).toString());
    expect(result.peerGoneReason).toBe(0);
  });

  it('relays 64 KiB packets', async () => {
    const { stdout } = await run(
      derpprobePath(),
      ['--mode', 'exchange', '--region', regionJson(), '--key-a', privateText(keyA), '--key-b', privateText(keyB), '--count', '20', '--size', '65536', '--keepalives', '0'],
      { timeout: 60_000 },
    );
    const result = JSON.parse(stdout.trim()) as Record<string, unknown>;
    expect(result.receivedByA).toBe(20);
    expect(result.receivedByB).toBe(20);
  });

  it('rejects an unknown key while verification is on', async () => {
    const stranger = X25519PrivateKey.generate();
    const { stdout } = await run(derpprobePath(), ['--mode', 'reject', '--region', regionJson(), '--key-a', privateText(stranger), '--timeout', '20s'], {
      timeout: 60_000,
    });
    const result = JSON.parse(stdout.trim()) as Record<string, unknown>;
    expect(result.rejected).toBe(true);
    const line = await coordinator.waitForLog((entry) => entry.msg === 'rejected DERP client' && entry.client === NodePublic.fromBytes(stranger.publicKey).short());
    expect(line.failure).toBe('rejected');
  });

  it('fails when the certificate pin does not match', async () => {
    const region = structuredClone(coordinator.derpMap().Regions['900']!);
    region.Nodes[0]!.CertName = `sha256-raw:${'00'.repeat(32)}`;
    await expect(
      run(derpprobePath(), ['--mode', 'exchange', '--region', JSON.stringify(region), '--count', '1', '--keepalives', '0', '--timeout', '10s'], { timeout: 60_000 }),
    ).rejects.toMatchObject({ stderr: expect.stringMatching(/derpprobe: connect: .*cert hash does not match/) });
  });

  it('gets its own address from the STUN server', async () => {
    const { stdout } = await run(derpprobePath(), ['--mode', 'stun', '--stun', `127.0.0.1:${coordinator.stunPort}`, '--timeout', '10s'], { timeout: 30_000 });
    const result = JSON.parse(stdout.trim()) as Record<string, unknown>;
    expect(result.address).toBe(result.local);
    expect(String(result.address)).toMatch(/^127\.0\.0\.1:\d+$/);
  });
});
