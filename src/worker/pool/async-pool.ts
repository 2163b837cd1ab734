// The async pool: runs up to `concurrency` tasks at once on this process's event loop. Callers wait
// for a slot in arrival order; waiting can be abandoned when the worker stops.
import { Deque } from "../../util/deque.ts";

export class AsyncPool {
  private running = 0;
  private readonly waiting = new Deque<{ grant: () => void }>();

  constructor(readonly concurrency: number) {}

  get active(): number {
    return this.running;
  }

  /** Resolves with a release function once a slot is free; rejects if `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.running < this.concurrency) {
      this.running++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve(this.releaser());
        },
      };
      const onAbort = (): void => {
        waiter.grant = () => this.handOn();
        reject(signal?.reason);
      };
      if (signal?.aborted) return reject(signal.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  /** Resolves once no task is running. */
  async drained(): Promise<void> {
    while (this.running > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.handOn();
    };
  }

  // A freed slot goes straight to the next waiter (running stays the same), else it is returned.
  private handOn(): void {
    const next = this.waiting.shift();
    if (next) next.grant();
    else this.running--;
  }
}
