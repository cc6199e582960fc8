import { describe, expect, it } from 'vitest';

import { FailureLimiter } from '../../../src/auth/failure-limiter.js';

function limiter(clock: { now: number }, maxAddresses = 10) {
  return new FailureLimiter({ burst: 3, refillMs: 1000, maxAddresses, now: () => clock.now });
}

describe('FailureLimiter', () => {
  it('allows the burst, then waits for a refill', () => {
    const clock = { now: 0 };
    const failures = limiter(clock);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      expect(failures.retryAfterMs('a')).toBe(0);
      failures.recordFailure('a');
    }
    expect(failures.retryAfterMs('a')).toBe(1000);
    clock.now = 400;
    expect(failures.retryAfterMs('a')).toBe(600);
    clock.now = 1000;
    expect(failures.retryAfterMs('a')).toBe(0);
  });

  it('keeps addresses apart', () => {
    const clock = { now: 0 };
    const failures = limiter(clock);
    for (let attempt = 0; attempt < 3; attempt += 1) failures.recordFailure('a');
    expect(failures.retryAfterMs('a')).toBeGreaterThan(0);
    expect(failures.retryAfterMs('b')).toBe(0);
  });

  it('forgets the least recent address beyond the limit', () => {
    const clock = { now: 0 };
    const failures = limiter(clock, 2);
    for (let attempt = 0; attempt < 3; attempt += 1) failures.recordFailure('a');
    failures.recordFailure('b');
    failures.recordFailure('c');
    expect(failures.retryAfterMs('a')).toBe(0);
  });
});
