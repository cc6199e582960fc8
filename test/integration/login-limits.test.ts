import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { type TestCoordinator, startTestCoordinator } from '../helpers/coordinator.js';
import { FakeNode } from '../helpers/fake-node.js';

let coordinator: TestCoordinator;
const nodes: FakeNode[] = [];

beforeAll(async () => {
  coordinator = await startTestCoordinator();
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

describe('interactive login limits', () => {
  it('keeps only a cleaned, capped Hostinfo in a pending login', async () => {
    const node = newNode('bulky');
    const hostinfo = { Hostname: 'bulky', OS: 12345, FromTheFuture: 'x'.repeat(900 * 1024), sshHostKeys: ['y'.repeat(20 * 1024)] };
    const first = await node.register({ Hostinfo: hostinfo });
    expect(first.body.AuthURL).toBeDefined();

    const pending = coordinator.pendingLogins.find(first.body.AuthURL!);
    expect(pending?.input.hostinfo).toEqual({ Hostname: 'bulky' });
  });

  it('rejects logins beyond 20 pending from one address', async () => {
    const started = coordinator.pendingLogins.count;
    const firsts: FakeNode[] = [];
    for (let i = started; i < 20; i++) {
      const node = newNode(`waiting-${i}`);
      const response = await node.register();
      expect(response.body.AuthURL, `login ${i}`).toMatch(/\/register\/[0-9a-f]{24}$/);
      firsts.push(node);
    }
    expect(coordinator.pendingLogins.count).toBe(20);

    const rejected = await newNode('one-too-many').register();
    expect(rejected.status).toBe(200);
    expect(rejected.body.AuthURL).toBeUndefined();
    expect(rejected.body.Error).toMatch(/too many interactive logins are pending from your address \(20\)/);
    expect(coordinator.pendingLogins.count).toBe(20);

    const logged = await coordinator.waitForLog((line) => line.msg === 'interactive login rejected: too many pending logins');
    expect(logged.level).toBe(40);
    expect(logged.limit).toBe('address');

    // A machine that already waits keeps its login.
    const again = await firsts[0]!.register();
    expect(again.body.AuthURL).toMatch(/\/register\/[0-9a-f]{24}$/);
  });
});
