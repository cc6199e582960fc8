import { describe, expect, it } from 'vitest';

import { MachinePublic, NodePublic } from '../../protocol/key.js';
import { X25519PrivateKey } from '../../protocol/x25519.js';
import { PendingLoginLimitError, PendingLogins } from '../../src/control/pending-logins.js';
import { sourceAddressKey } from '../../src/source-address.js';
import type { RegisterNodeInput } from '../../src/tailnet/tailnet.js';

function input(): RegisterNodeInput {
  return {
    machineKey: MachinePublic.fromBytes(X25519PrivateKey.generate().publicKey),
    nodeKey: NodePublic.fromBytes(X25519PrivateKey.generate().publicKey),
    hostinfo: {},
    ephemeral: false,
    capVersion: 131,
  };
}

describe('PendingLogins caps', () => {
  it('rejects a login beyond the total cap', () => {
    const logins = new PendingLogins(() => 'http://127.0.0.1', { maxLogins: 3, maxPerAddress: 10 });
    logins.start(input(), '192.0.2.1:1000');
    logins.start(input(), '192.0.2.2:1000');
    logins.start(input(), '192.0.2.3:1000');
    expect(() => logins.start(input(), '192.0.2.4:1000')).toThrow(PendingLoginLimitError);
    expect(logins.count).toBe(3);
  });

  it('rejects a login beyond the per-address cap', () => {
    const logins = new PendingLogins(() => 'http://127.0.0.1', { maxLogins: 100, maxPerAddress: 2 });
    logins.start(input(), '192.0.2.1:1000');
    logins.start(input(), '192.0.2.1:2000');
    expect(() => logins.start(input(), '192.0.2.1:3000')).toThrow(/from your address \(2\)/);
    expect(logins.start(input(), '192.0.2.2:1000').id).toMatch(/^[0-9a-f]{24}$/);
  });

  it('frees a slot when a login completes', () => {
    const logins = new PendingLogins(() => 'http://127.0.0.1', { maxLogins: 100, maxPerAddress: 1 });
    const first = logins.start(input(), '[2001:db8::1]:1000');
    expect(() => logins.start(input(), '[2001:db8::2]:1000')).toThrow(PendingLoginLimitError);
    logins.complete(first);
    logins.complete(first);
    expect(logins.start(input(), '[2001:db8::2]:1000').sourceKey).toBe('2001:db8::/64');
    expect(() => logins.start(input(), '[2001:db8::3]:1000')).toThrow(PendingLoginLimitError);
  });

  it('returns the existing login of a machine without counting it', () => {
    const logins = new PendingLogins(() => 'http://127.0.0.1', { maxLogins: 1, maxPerAddress: 1 });
    const request = input();
    const first = logins.start(request, '192.0.2.1:1000');
    expect(logins.start({ ...request }, '192.0.2.1:2000')).toBe(first);
  });
});

describe('sourceAddressKey', () => {
  it.each([
    ['192.0.2.1:41641', '192.0.2.1'],
    ['[::ffff:192.0.2.1]:41641', '192.0.2.1'],
    ['[2001:db8:1:2:3:4:5:6]:443', '2001:db8:1:2::/64'],
    ['[fe80::1%eth0]:443', 'fe80::/64'],
    ['2001:db8:0:1::25', '2001:db8:0:1::/64'],
    ['::ffff:10.0.0.20', '10.0.0.20'],
    ['10.0.0.20', '10.0.0.20'],
    ['unknown', 'unknown'],
  ])('maps %s to %s', (remote, key) => {
    expect(sourceAddressKey(remote)).toBe(key);
  });
});
