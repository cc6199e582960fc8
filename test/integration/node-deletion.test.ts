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

async function streamingNode(hostname: string): Promise<FakeNode> {
  const node = new FakeNode(coordinator.serverUrl, coordinator.noisePublicKey, hostname);
  nodes.push(node);
  await node.register({ Auth: { AuthKey: coordinator.tailnet.createPreAuthKey({ userId, reusable: false, ephemeral: false }).text } });
  expect(await node.streamMap()).toBe(200);
  await node.waitForMessage((m) => m.Node !== undefined);
  return node;
}

describe('node deletion', () => {
  it('sends the deleted node an expired self node', async () => {
    const node = await streamingNode('doomed');
    const id = coordinator.tailnet.findNodeByNodeKey(node.nodeKey)!.id;
    const before = Date.now();

    coordinator.tailnet.deleteNode(id);

    const message = await node.waitForMessage((m) => m.Node?.Expired === true);
    expect(message.Node!.ID).toBe(id);
    expect(message.Node!.Key).toBe(node.nodeKey.toString());
    const keyExpiry = Date.parse(message.Node!.KeyExpiry!);
    expect(keyExpiry).toBeGreaterThanOrEqual(before - 1000);
    expect(keyExpiry).toBeLessThanOrEqual(Date.now());
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(node.mapStreamClosed).toBe(true);
  });

  it('logs map requests for unknown keys at debug, rate limited', async () => {
    const node = await streamingNode('retrying');
    coordinator.tailnet.deleteNode(coordinator.tailnet.findNodeByNodeKey(node.nodeKey)!.id);

    for (let i = 0; i < 15; i++) expect(await node.streamMap(), `attempt ${i}`).toBe(401);

    const lines = coordinator.logs.filter((line) => line.msg === 'map request for an unregistered node key');
    expect(lines.length).toBe(10);
    expect(lines.every((line) => line.level === 20)).toBe(true);
  });
});
