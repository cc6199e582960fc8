/** Lets `limit` events through per window and counts the rest. */
export class LogLimiter {
  private windowStart = 0;
  private passed = 0;
  private suppressed = 0;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** Returns how many events were suppressed since the last one let through, or undefined to suppress this one. */
  take(now = Date.now()): number | undefined {
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now;
      this.passed = 0;
    }
    if (this.passed >= this.limit) {
      this.suppressed += 1;
      return undefined;
    }
    this.passed += 1;
    const count = this.suppressed;
    this.suppressed = 0;
    return count;
  }
}
