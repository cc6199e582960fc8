import { describe, expect, it } from 'vitest';

import { BoundedQueue } from '../../../src/derp/bounded-queue.js';
import { TokenBucket } from '../../../src/derp/token-bucket.js';

describe('BoundedQueue', () => {
  it('drops the oldest item when full', () => {
    const queue = new BoundedQueue<number>(3);
    expect([1, 2, 3].map((n) => queue.push(n))).toEqual([undefined, undefined, undefined]);
    expect(queue.push(4)).toBe(1);
    expect(queue.length).toBe(3);
    expect(queue.drain()).toEqual([2, 3, 4]);
    expect(queue.shift()).toBeUndefined();
  });

  it('keeps order across wrap-around', () => {
    const queue = new BoundedQueue<number>(2);
    const out: number[] = [];
    for (let i = 0; i < 10; i++) {
      queue.push(i);
      if (i % 2 === 1) out.push(queue.shift()!);
    }
    expect(out).toEqual([0, 2, 4, 6, 8]);
    expect(queue.drain()).toEqual([9]);
  });
});

describe('TokenBucket', () => {
  it('allows a burst, then the rate', () => {
    let now = 0;
    const bucket = new TokenBucket(1, 3, () => now);
    expect([bucket.allow(), bucket.allow(), bucket.allow(), bucket.allow()]).toEqual([true, true, true, false]);
    now = 999;
    expect(bucket.allow()).toBe(false);
    now = 1_000;
    expect(bucket.allow()).toBe(true);
  });

  it('returns the wait until a debt is repaid', () => {
    let now = 0;
    const bucket = new TokenBucket(1_000, 500, () => now);
    expect(bucket.take(400)).toBe(0);
    expect(bucket.take(600)).toBe(500);
    now = 500;
    expect(bucket.take(0)).toBe(0);
  });
});
