// Per-task rate limits, per worker (as Celery's): a task over its limit waits for a token without
// holding a pool slot, so other tasks keep running.
import type { AnyTask } from "../app/task.ts";
import { TokenBucket } from "../util/rate.ts";
import { sleep } from "../util/wait.ts";

export class RateLimiter {
  private readonly buckets = new Map<string, TokenBucket>();

  /** Resolves when `task` may start; rejects if `signal` aborts while waiting. */
  async acquire(task: AnyTask, signal: AbortSignal): Promise<void> {
    const limit = task.options.rateLimit;
    if (!limit) return;
    let bucket = this.buckets.get(task.name);
    if (!bucket) {
      bucket = new TokenBucket(limit);
      this.buckets.set(task.name, bucket);
    }
    for (let wait = bucket.take(); wait > 0; wait = bucket.take()) await sleep(wait, signal);
  }
}
