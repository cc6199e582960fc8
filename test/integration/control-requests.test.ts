import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { type TestCoordinator, startTestCoordinator } from '../helpers/coordinator.js';
import { FakeNode } from '../helpers/fake-node.js';

let coordinator: TestCoordinator;
let userId: number;
const nodes: FakeNode[] = [];

beforeAll(async () => {
  coordinator = await startTestCoordinator();
  userId = coordinator.tailnet.createUser({ name: 'alice' }).id;
});
afterEach(() => {
  for (const node of nodes.splice(0)) node.close();
});
afterAll(async () => {
  await coordinator?.stop();
});

function newNode(hostname: string): FakeNode {
  const node = new FakeNode(coordinator.serverUrl, coordinator.noisePublicKey, hostname);
  nodes.push(node);
  return node;
}

/** Rejects naming `what` when `promise` has not settled after `timeoutMs`. */
function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not arrive within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe('control request bodies', () => {
  it('answers an oversized body with 413', async () => {
    const node = newNode('oversized');
    const response = await withTimeout(node.post('/machine/register', { NodeKey: node.nodeKey.toString(), Hostinfo: { Padding: 'x'.repeat(1024 * 1024) } }), 5_000, 'the response to an oversized body');

    expect(response.status).toBe(413);
    expect(response.body).toBe('request body exceeds 1048576 bytes\n');
    const logged = await coordinator.waitForLog((line) => line.msg === 'rejected control request');
    expect(logged.status).toBe(413);
    expect(logged.level).toBe(30);

    // The connection stays usable.
    const registered = await node.register({ Auth: { AuthKey: coordinator.tailnet.createPreAuthKey({ userId, reusable: false, ephemeral: false }).text } });
    expect(registered.body.MachineAuthorized).toBe(true);
  });
});
