// Rate limits as Celery writes them ("10/s", "100/m", "1000/h", or a bare number per second), and a
// token bucket that says how long to wait before the next run is allowed.

export interface RateLimit {
  /** Runs allowed per second. */
  perSecond: number;
  /** The text it was parsed from, for logs. */
  text: string;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600 };

/** Parse "10/s", "100/m", "1000/h" or "5". Example: `parseRateLimit("100/m").perSecond === 100 / 60`. */
export function parseRateLimit(text: string): RateLimit {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*([smh]))?\s*$/.exec(text);
  const count = match ? Number(match[1]) : NaN;
  if (!match || !(count > 0)) throw new Error(`rate limit "${text}" is not of the form "10/s", "100/m" or "1000/h"`);
  return { perSecond: count / (UNITS[match[2] ?? "s"] as number), text };
}

/**
 * A token bucket holding at most one second's worth of runs (at least one), refilled continuously.
 * `take()` returns 0 when a run may start now, else the milliseconds until it may.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly capacity: number;

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
  ) {
    this.capacity = Math.max(1, limit.perSecond);
    this.tokens = this.capacity;
    this.last = now();
  }

  take(): number {
    const now = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.limit.perSecond);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) / this.limit.perSecond) * 1000);
  }
}
