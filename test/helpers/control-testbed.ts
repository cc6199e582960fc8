/**
 * The setup most control-protocol tests share: one coordinator for the file, a user named
 * alice, and FakeNodes that are closed after each test.
 */
import { afterAll, afterEach, beforeAll } from 'vitest';

import { type TestCoordinator, startTestCoordinator } from './coordinator.js';
import { FakeNode } from './fake-node.js';

export interface ControlTestbed {
  /** The file's coordinator, available once `beforeAll` has run. */
  readonly coordinator: TestCoordinator;
  /** The ID of the user alice, who owns every key `authKey` creates. */
  readonly userId: number;
  /** Creates a FakeNode for the coordinator; it is closed after the current test. */
  newNode(hostname: string): FakeNode;
  /** Creates a pre-auth key for alice and returns its text. */
  authKey(options?: { reusable?: boolean; ephemeral?: boolean; expiresAt?: Date }): string;
}

/** Registers the hooks for a file's coordinator and returns accessors to it. */
export function useControlTestbed(options: { overrides?: Record<string, string> } = {}): ControlTestbed {
  let coordinator: TestCoordinator | undefined;
  let userId = 0;
  const nodes: FakeNode[] = [];

  beforeAll(async () => {
    coordinator = await startTestCoordinator(options.overrides === undefined ? {} : { overrides: options.overrides });
    userId = coordinator.tailnet.createUser({ name: 'alice' }).id;
  });
  afterEach(() => {
    for (const node of nodes.splice(0)) node.close();
  });
  afterAll(async () => {
    await coordinator?.stop();
  });

  const bed: ControlTestbed = {
    get coordinator() {
      if (coordinator === undefined) throw new Error('the coordinator starts in beforeAll; use it inside a test');
      return coordinator;
    },
    get userId() {
      return userId;
    },
    newNode(hostname) {
      const node = new FakeNode(bed.coordinator.serverUrl, bed.coordinator.noisePublicKey, hostname);
      nodes.push(node);
      return node;
    },
    authKey(keyOptions = {}) {
      const input: Parameters<TestCoordinator['tailnet']['createPreAuthKey']>[0] = {
        userId,
        reusable: keyOptions.reusable ?? false,
        ephemeral: keyOptions.ephemeral ?? false,
      };
      if (keyOptions.expiresAt !== undefined) input.expiresAt = keyOptions.expiresAt;
      return bed.coordinator.tailnet.createPreAuthKey(input).text;
    },
  };
  return bed;
}
