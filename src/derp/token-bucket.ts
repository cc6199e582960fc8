/**
 * A token bucket: `ratePerSecond` tokens accrue continuously up to `burst`. The relay uses one
 * per client to limit PeerGone(NotHere) replies, and optionally one to limit the bytes a client
 * may send.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    if (!(ratePerSecond > 0) || !(burst > 0)) throw new RangeError(`TokenBucket: rate ${ratePerSecond} and burst ${burst} must be positive`);
    this.tokens = burst;
    this.updatedAt = now();
  }

  /** Takes one token if one is available and reports whether it did. */
  allow(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /**
   * Takes `count` tokens even when that leaves the bucket in debt, and returns how many
   * milliseconds pass before the balance is back at zero (0 when it never went negative).
   */
  take(count: number): number {
    this.refill();
    this.tokens -= count;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.ratePerSecond) * 1000;
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.ratePerSecond);
    this.updatedAt = now;
  }
}
