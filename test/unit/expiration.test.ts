import { describe, expect, it } from 'vitest';

import { MAX_EXPIRATION_MS, parseExpiration } from '../../src/api/expiration.js';

const now = new Date('2030-01-01T00:00:00Z');

describe('parseExpiration', () => {
  it.each([
    ['1h', '2030-01-01T01:00:00.000Z'],
    ['90d', '2030-04-01T00:00:00.000Z'],
    ['1h30m', '2030-01-01T01:30:00.000Z'],
    [' 2h ', '2030-01-01T02:00:00.000Z'],
    ['2030-06-15T12:00:00Z', '2030-06-15T12:00:00.000Z'],
    ['2030-06-15T12:00:00.250+02:00', '2030-06-15T10:00:00.250Z'],
    ['2032-02-29T00:00:00Z', '2032-02-29T00:00:00.000Z'],
  ])('accepts %s', (value, expected) => {
    expect(parseExpiration(value, now).toISOString()).toBe(expected);
  });

  it.each(['', '0', '0s', 'soon', '5 weeks', '-1h', '1y', '2030-06-15', '2030-06-15T12:00:00', '2030-02-31T00:00:00Z', '2031-02-29T00:00:00Z', '2030-01-01T24:00:00Z', '2030-13-01T00:00:00Z'])(
    'rejects %j naming the value',
    (value) => {
      expect(() => parseExpiration(value, now)).toThrow(`invalid expiration ${JSON.stringify(value)}`);
    },
  );

  it.each(['3650d', '87600h', '2039-12-30T00:00:00Z'])('accepts %s, at the maximum', (value) => {
    expect(parseExpiration(value, now).getTime() - now.getTime()).toBeLessThanOrEqual(MAX_EXPIRATION_MS);
  });

  it.each(['3651d', '99999999999d', '9999999999999999h', '2040-01-01T00:00:00Z', '9999-12-31T23:59:59Z'])(
    'rejects %s beyond the maximum',
    (value) => {
      expect(() => parseExpiration(value, now)).toThrow(`invalid expiration ${JSON.stringify(value)}: the maximum is 3650d (10 years) from now`);
    },
  );
});
