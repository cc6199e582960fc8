/**
 * Limits failed attempts per source address with a token bucket each: `burst` failures are
 * allowed at once, then one more every `refillMs`. Only failures take tokens, so a worker
 * fleet that joins with valid tokens from behind one NAT address is never slowed down.
 */
export class FailureLimiter {
  private readonly buckets = new Map<string, { tokens: number; updatedAt: number }>();

  constructor(
    private readonly options: {
      burst: number;
      refillMs: number;
      /** Addresses tracked at once; the least recently failed are forgotten beyond this. */
      maxAddresses: number;
      now?: () => number;
    },
  ) {}

  /** Returns 0 when `address` may make another attempt, or the milliseconds until it may. */
  retryAfterMs(address: string): number {
    const bucket = this.refill(address);
    if (bucket === undefined || bucket.tokens >= 1) return 0;
    return Math.ceil((1 - bucket.tokens) * this.options.refillMs);
  }

  /** Records one failed attempt from `address`. */
  recordFailure(address: string): void {
    const bucket = this.refill(address) ?? { tokens: this.options.burst, updatedAt: this.clock() };
    bucket.tokens = Math.max(0, bucket.tokens - 1);
    // Re-inserting keeps the map ordered from least to most recently failed.
    this.buckets.delete(address);
    this.buckets.set(address, bucket);
    while (this.buckets.size > this.options.maxAddresses) {
      const oldest = this.buckets.keys().next().value as string;
      this.buckets.delete(oldest);
    }
  }

  private refill(address: string): { tokens: number; updatedAt: number } | undefined {
    const bucket = this.buckets.get(address);
    if (bucket === undefined) return undefined;
    const now = this.clock();
    bucket.tokens = Math.min(this.options.burst, bucket.tokens + (now - bucket.updatedAt) / this.options.refillMs);
    bucket.updatedAt = now;
    if (bucket.tokens >= this.options.burst) {
      this.buckets.delete(address);
      return undefined;
    }
    return bucket;
  }

  private clock(): number {
    return this.options.now?.() ?? Date.now();
  }
}
