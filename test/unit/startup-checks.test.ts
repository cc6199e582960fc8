import { describe, expect, it } from 'vitest';

import { createLogger } from '../../src/log.js';
import { isLoopbackHost, type RelayReachability, warnIfRelayOnLoopback } from '../../src/startup-checks.js';
import { captureLogs } from '../helpers/logs.js';

const loopback = { host: '127.0.0.1', port: 8443 };
const loopbackStun = { host: '127.0.0.1', port: 3478 };
const anywhere = { host: '0.0.0.0', port: 8443 };

/** Runs the check and returns the settings it warned about. */
function warnedSettings(relay: RelayReachability): unknown[] {
  const { logs, destination } = captureLogs();
  warnIfRelayOnLoopback(relay, createLogger({ level: 'debug', destination }));
  expect(logs.every((line) => line.level === 40)).toBe(true);
  return logs.map((line) => line.setting);
}

describe('warnIfRelayOnLoopback', () => {
  it.each<[string, RelayReachability, string[]]>([
    ['the loopback defaults', { hostName: '127.0.0.1', derpListen: loopback, stunListen: loopbackStun }, []],
    ['a remote host on loopback listeners', { hostName: '10.99.0.1', derpListen: loopback, stunListen: loopbackStun }, ['derp.listen_addr', 'stun.listen_addr']],
    ['a remote host with STUN on loopback', { hostName: 'coordinator.example', derpListen: anywhere, stunListen: loopbackStun }, ['stun.listen_addr']],
    ['a remote host without STUN', { hostName: 'coordinator.example', derpListen: anywhere, stunListen: undefined }, []],
    ['localhost', { hostName: 'localhost', derpListen: loopback, stunListen: loopbackStun }, []],
    ['a loopback ipv4 and no ipv6', { hostName: 'coordinator.example', ipv4: '127.0.0.1', ipv6: 'none', derpListen: loopback, stunListen: loopbackStun }, []],
    ['a loopback ipv4 beside a resolved ipv6', { hostName: 'coordinator.example', ipv4: '127.0.0.1', derpListen: loopback, stunListen: undefined }, ['derp.listen_addr']],
    ['a remote IPv6 host on ::1', { hostName: 'fd00::1', derpListen: { host: '::1', port: 8443 }, stunListen: undefined }, ['derp.listen_addr']],
  ])('for %s', (_case, relay, expected) => {
    expect(warnedSettings(relay)).toEqual(expected);
  });

  it('names the host, the listener and the fix', () => {
    const { logs, destination } = captureLogs();
    warnIfRelayOnLoopback({ hostName: '10.99.0.1', derpListen: loopback, stunListen: undefined }, createLogger({ level: 'info', destination }));
    expect(logs).toHaveLength(1);
    expect(logs[0]!.msg).toBe(
      'the DERP map tells clients to dial 10.99.0.1, but derp.listen_addr 127.0.0.1:8443 is a loopback address, so clients on other machines cannot use the DERP relay; ' +
        'set derp.listen_addr to an address they reach, such as 0.0.0.0:8443',
    );
  });
});

describe('isLoopbackHost', () => {
  it.each(['localhost', 'LOCALHOST', 'localhost.', 'box.localhost', '127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1'])('accepts %s', (host) => {
    expect(isLoopbackHost(host)).toBe(true);
  });

  it.each(['0.0.0.0', '::', '10.99.0.1', '128.0.0.1', 'fd7a:115c:a1e0::1', 'coordinator.example', 'localhost.example'])('rejects %s', (host) => {
    expect(isLoopbackHost(host)).toBe(false);
  });
});
