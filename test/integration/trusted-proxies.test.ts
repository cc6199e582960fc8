import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { dialControl } from '../../protocol/ts2021/client.js';
import { X25519PrivateKey } from '../../protocol/x25519.js';
import { loadConfig } from '../../src/config/config.js';
import { type TestCoordinator, startTestCoordinator } from '../helpers/coordinator.js';
import { requestJson } from '../helpers/sign-in.js';

/** Failed joins from one address before it gets 429; see src/auth/failure-limiter.ts. */
const FAILURES_BEFORE_LIMIT = 10;

let behindProxy: TestCoordinator;
let direct: TestCoordinator;

beforeAll(async () => {
  behindProxy = await startTestCoordinator({ overrides: { trusted_proxies: '127.0.0.1' } });
  direct = await startTestCoordinator();
});

afterAll(async () => {
  await behindProxy?.stop();
  await direct?.stop();
});

/** Opens a control connection through a proxy that forwarded `forwardedFor`, and closes it. */
async function dialForwarded(forwardedFor: string): Promise<void> {
  const conn = await dialControl({
    serverUrl: behindProxy.serverUrl,
    machineKey: X25519PrivateKey.generate(),
    serverPublic: behindProxy.noisePublicKey,
    headers: { 'X-Forwarded-For': forwardedFor },
  });
  conn.destroy();
}

function joinFrom(coordinator: TestCoordinator, forwardedFor: string) {
  return requestJson({ url: coordinator.serverUrl }, 'POST', '/api/v1/join', { body: { token: 'wrong-token' }, headers: { 'x-forwarded-for': forwardedFor } });
}

describe('trusted proxies', () => {
  it('counts failed joins under the forwarded address', async () => {
    for (let attempt = 0; attempt < FAILURES_BEFORE_LIMIT; attempt += 1) {
      expect((await joinFrom(behindProxy, '203.0.113.5')).status).toBe(401);
    }

    expect((await joinFrom(behindProxy, '203.0.113.5')).status).toBe(429);
    expect((await joinFrom(behindProxy, '203.0.113.6')).status).toBe(401);
  });

  it('counts failed joins from one IPv6 /64 together', async () => {
    for (let attempt = 1; attempt <= FAILURES_BEFORE_LIMIT; attempt += 1) {
      expect((await joinFrom(behindProxy, `2001:db8:0:1::${attempt}`)).status).toBe(401);
    }

    expect((await joinFrom(behindProxy, '2001:db8:0:1::99')).status).toBe(429);
    expect((await joinFrom(behindProxy, '2001:db8:0:2::1')).status).toBe(401);
  });

  it('ignores X-Forwarded-For from peers that are not trusted', async () => {
    for (let attempt = 0; attempt < FAILURES_BEFORE_LIMIT; attempt += 1) {
      expect((await joinFrom(direct, `198.51.100.${attempt}`)).status).toBe(401);
    }

    expect((await joinFrom(direct, '198.51.100.200')).status).toBe(429);
  });

  it('logs a control connection under its forwarded address', async () => {
    await dialForwarded('2001:db8::7, 127.0.0.1');

    const logged = await behindProxy.waitForLog((line) => line.msg === 'ts2021 handshake complete');
    expect(logged.remote).toBe('[2001:db8::7]');
  });

  it('drops the port a proxy wrote into X-Forwarded-For', async () => {
    await dialForwarded('198.51.100.23:40123');

    const logged = await behindProxy.waitForLog((line) => line.msg === 'ts2021 handshake complete' && line.remote === '198.51.100.23');
    expect(logged.remote).toBe('198.51.100.23');
  });

  it('rejects an entry that is not an address or range, naming it', () => {
    expect(() => loadConfig({ overrides: { trusted_proxies: '10.0.0.0/8,proxy.example' } })).toThrow('"proxy.example" is not an IP address or CIDR range');
  });
});
