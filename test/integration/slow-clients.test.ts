/**
 * Clients that open a connection and never finish their request head. Node checks the
 * headersTimeout only every connectionsCheckingInterval, so these tests measure when the
 * coordinator's HTTP listener and the DERP relay's HTTPS listener really drop such a client.
 */
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type TestCoordinator, startTestCoordinator } from '../helpers/coordinator.js';

/** The request head timeout both listeners state, in milliseconds. */
const HEAD_TIMEOUT_MS = 10_000;
/** Allowed lateness of the drop: the checking interval of 1 s plus scheduling slack. */
const MARGIN_MS = 2_000;

let coordinator: TestCoordinator;

beforeAll(async () => {
  coordinator = await startTestCoordinator();
});
afterAll(async () => {
  await coordinator?.stop();
});

/** Sends half a request head on `socket` once it is connected and resolves with the milliseconds until the server closes it. */
function timeUntilClosed(socket: net.Socket, connectEvent: 'connect' | 'secureConnect'): Promise<number> {
  return new Promise((resolve, reject) => {
    let started = Date.now();
    socket.once(connectEvent, () => {
      started = Date.now();
      socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    });
    socket.on('data', () => {});
    socket.once('error', (error) => {
      if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(error);
    });
    socket.once('close', () => resolve(Date.now() - started));
  });
}

describe('incomplete request heads', () => {
  it(
    'are dropped within the stated timeout',
    async () => {
      const http = net.connect({ host: '127.0.0.1', port: coordinator.address.port });
      const derp = tls.connect({ host: '127.0.0.1', port: coordinator.derpPort!, rejectUnauthorized: false });
      const [httpMs, derpMs] = await Promise.all([timeUntilClosed(http, 'connect'), timeUntilClosed(derp, 'secureConnect')]);

      expect(httpMs).toBeGreaterThanOrEqual(HEAD_TIMEOUT_MS - MARGIN_MS);
      expect(httpMs).toBeLessThanOrEqual(HEAD_TIMEOUT_MS + MARGIN_MS);
      expect(derpMs).toBeGreaterThanOrEqual(HEAD_TIMEOUT_MS - MARGIN_MS);
      expect(derpMs).toBeLessThanOrEqual(HEAD_TIMEOUT_MS + MARGIN_MS);
    },
    HEAD_TIMEOUT_MS + 40_000,
  );
});
