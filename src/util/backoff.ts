// Retry delay maths: exponential backoff with an optional full jitter, as Celery's
// `get_exponential_backoff_interval` computes it, plus the reconnect schedule for brokers.

/**
 * Seconds to wait before retry number `retries` (0-based): `min(max, factor * 2^retries)`, then with
 * full jitter a uniform whole number in [0, that]. Example: `exponentialBackoff(1, 3, 600, false) === 8`.
 */
export function exponentialBackoff(factor: number, retries: number, maximum: number, fullJitter: boolean, random: () => number = Math.random): number {
  const countdown = Math.min(maximum, factor * 2 ** retries);
  if (!fullJitter) return Math.max(0, countdown);
  // Celery: random.randrange(countdown + 1), a whole number of seconds from 0 to countdown inclusive.
  return Math.max(0, Math.floor(random() * (Math.floor(countdown) + 1)));
}

/** Milliseconds before reconnect attempt `attempt` (1-based): 100 ms doubling, capped at `capMs`. */
export function reconnectDelayMs(attempt: number, capMs = 10_000): number {
  return Math.min(capMs, 100 * 2 ** Math.max(0, attempt - 1));
}
