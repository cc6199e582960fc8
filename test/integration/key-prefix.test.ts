/**
 * `GET <prefix>/key` on the public listener, which a login URL with a path makes tailscaled
 * fetch, and the log line for other requests without a route.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type TestCoordinator, startTestCoordinator } from '../helpers/coordinator.js';

let coordinator: TestCoordinator;

beforeAll(async () => {
  coordinator = await startTestCoordinator();
});
afterAll(async () => {
  await coordinator?.stop();
});

async function get(path: string, method = 'GET'): Promise<{ status: number; type: string | null; body: string }> {
  const response = await fetch(`${coordinator.serverUrl}${path}`, { method });
  return { status: response.status, type: response.headers.get('content-type'), body: await response.text() };
}

describe('key under a path prefix', () => {
  it.each(['/hs/key', '/a/b/key', '/hs/key?v=131', '//key'])('serves %s like /key', async (path) => {
    const expected = await get(`/key${path.includes('?') ? path.slice(path.indexOf('?')) : ''}`);
    const actual = await get(path);
    expect(actual.status).toBe(200);
    expect(actual.type).toBe(expected.type);
    expect(actual.body).toBe(expected.body);
    expect(JSON.parse(actual.body).publicKey).toBe(coordinator.noisePublicKey.toString());
  });

  it.each(['?v=abc', '?v=-1', '?v=1.5'])('rejects %s like /key', async (query) => {
    const expected = await get(`/key${query}`);
    const actual = await get(`/hs/key${query}`);
    expect(expected.status).toBe(400);
    expect(actual.status).toBe(400);
    expect(actual.body).toBe(expected.body);
  });

  it.each([
    ['POST', '/hs/key'],
    ['GET', '/hs/keys'],
    ['GET', '/hs/key/extra'],
  ])('answers %s %s with 404', async (method, path) => {
    const response = await get(path, method);
    expect(response.status).toBe(404);
    expect(JSON.parse(response.body)).toEqual({ message: `Route ${method}:${path} not found`, error: 'Not Found', statusCode: 404 });
  });
});

describe('requests without a route', () => {
  it('are logged at info with the path, 20 a minute', async () => {
    const isNotFoundLine = (line: Record<string, unknown>) => line.msg === 'no route for request';
    const before = coordinator.logs.filter(isNotFoundLine).length;
    for (let i = 0; i < 30; i++) expect((await get(`/missing/${i}?secret=x`)).status).toBe(404);

    const lines = coordinator.logs.filter(isNotFoundLine).slice(before);
    expect(lines.length).toBe(Math.max(0, 20 - before));
    expect(lines[0]).toMatchObject({ level: 30, method: 'GET', path: '/missing/0', remote: '127.0.0.1' });
    expect(JSON.stringify(lines)).not.toContain('secret');
  });
});
