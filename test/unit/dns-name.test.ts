import { describe, expect, it } from 'vitest';

import { sanitizeHostname, uniqueLabel, validateLabel } from '../../src/tailnet/dns-name.js';

describe('MagicDNS labels', () => {
  const cases: Array<[string, string]> = [
    ['Laptop', 'laptop'],
    ['my_host.example.com', 'my-host'],
    ['--weird--name--', 'weird-name'],
    ['Ünïcode box', 'n-code-box'],
    ['', 'node'],
    ['...', 'node'],
    ['x'.repeat(80), 'x'.repeat(63)],
  ];
  for (const [hostname, label] of cases) {
    it(`sanitizes ${JSON.stringify(hostname.slice(0, 20))}`, () => {
      expect(sanitizeHostname(hostname)).toBe(label);
    });
  }

  it('numbers collisions', () => {
    const taken = new Set(['web', 'web-1']);
    expect(uniqueLabel('web', (l) => taken.has(l))).toBe('web-2');
    expect(uniqueLabel('db', (l) => taken.has(l))).toBe('db');
  });

  it('keeps numbered long labels within 63 characters', () => {
    const long = 'a'.repeat(63);
    expect(uniqueLabel(long, (l) => l === long)).toBe(`${'a'.repeat(61)}-1`);
  });

  it('validates administrator-chosen names', () => {
    expect(validateLabel('db-1')).toBeUndefined();
    expect(validateLabel('-db')).toMatch(/invalid name "-db"/);
    expect(validateLabel('DB')).toMatch(/lower-case/);
  });
});
