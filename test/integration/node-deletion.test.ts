import { describe, expect, it } from 'vitest';

import { useControlTestbed } from '../helpers/control-testbed.js';
import type { FakeNode } from '../helpers/fake-node.js';

const bed = useControlTestbed();
const { newNode, authKey } = bed;

async function streamingNode(hostname: string): Promise<FakeNode> {
  const node = newNode(hostname);
  await node.register({ Auth: { AuthKey: authKey() } });
  expect(await node.streamMap()).toBe(200);
  await node.waitForMessage((m) => m.Node !== undefined);
  return node;
}

describe('node deletion', () => {
  it('sends the deleted node an expired self node', async () => {
    const node = await streamingNode('doomed');
    const id = bed.coordinator.tailnet.findNodeByNodeKey(node.nodeKey)!.id;
    const before = Date.now();

    bed.coordinator.tailnet.deleteNode(id);

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
    bed.coordinator.tailnet.deleteNode(bed.coordinator.tailnet.findNodeByNodeKey(node.nodeKey)!.id);

    for (let i = 0; i < 15; i++) expect(await node.streamMap(), `attempt ${i}`).toBe(401);

    const lines = bed.coordinator.logs.filter((line) => line.msg === 'map request for an unregistered node key');
    expect(lines.length).toBe(10);
    expect(lines.every((line) => line.level === 20)).toBe(true);
  });
});
