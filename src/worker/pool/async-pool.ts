// The async pool: runs up to `concurrency` tasks at once on this process's event loop. Callers wait
// for a slot in arrival order; when the worker stops, every waiter is turned away at once.
import { Deque } from "../../util/deque.ts";

interface Waiter {
  grant: (release: () => void) => void;
  refuse: (reason: unknown) => void;
}

export class AsyncPool {
  private running = 0;
  private readonly waiting = new Deque<Waiter>();

  /** `stopping` aborting refuses every waiter (one listener for all, not one per waiter). */
  constructor(
    readonly concurrency: number,
    private readonly stopping?: AbortSignal,
  ) {
    stopping?.addEventListener("abort", () => this.refuseAll(stopping.reason), { once: true });
  }

  get active(): number {
    return this.running;
  }

  /** A release function when a slot is free right now, else null (no promise on the hot path). */
  tryAcquire(): (() => void) | null {
    if (this.stopping?.aborted || this.running >= this.concurrency) return null;
    this.running++;
    return this.releaser();
  }

  /** Resolves with a release function once a slot is free; rejects once the pool is stopping. */
  acquire(): Promise<() => void> {
    if (this.stopping?.aborted) return Promise.reject(this.stopping.reason);
    if (this.running < this.concurrency) {
      this.running++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((grant, refuse) => this.waiting.push({ grant, refuse }));
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // A freed slot goes straight to the next waiter (running stays the same), else it is returned.
      const next = this.waiting.shift();
      if (next) next.grant(this.releaser());
      else this.running--;
    };
  }

  private refuseAll(reason: unknown): void {
    for (let waiter = this.waiting.shift(); waiter; waiter = this.waiting.shift()) waiter.refuse(reason);
  }
}
