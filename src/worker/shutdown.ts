// How a worker's running tasks end when it stops (the README's "Run a worker" tells users the same):
//
// 1. warm: the worker takes no more work and gives back what it had not started (worker.ts), then
//    waits for the running tasks, up to its shutdown timeout;
// 2. forced, when that timeout passes or a second stop request comes: each running task is ended from
//    outside with a WorkerLostError, the way invoke.ts ends one at its hard time limit (its signal
//    fires, whatever its function does later is ignored); settle.ts then returns its acksLate message
//    to the queue, or records an early-acked one, which is lost, as FAILURE. After a short grace for
//    those settles, every delivery still unsettled goes back to the queue.
import { WorkerLostError } from "../app/errors.ts";
import type { RunningTasks } from "../app/running-tasks.ts";

/** How long a forced stop waits for the settles it caused (requeues, FAILURE records) before returning the rest. */
export const FORCED_SETTLE_MS = 2000;

export interface DrainParts {
  /** The running async tasks, which a forced stop ends. */
  running: RunningTasks;
  /**
   * Aborted by run() when it forces, after the worker has stopped taking work: tasks not started do
   * not start, and running ones' signals fire.
   */
  forceStop: AbortController;
  /** Return every delivery not settled yet to the queue. */
  returnUnsettled(): Promise<void>;
}

/**
 * The end of a worker's running tasks, warm then forced. Example:
 * ```ts
 * const drain = new Drain({ running, forceStop, returnUnsettled });
 * consume((delivery) => drain.track(handleDelivery(parts, delivery)));
 * // Once consuming has ended: running tasks get 30 s, unless drain.force(reason) cuts it short.
 * await drain.run(30_000);
 * ```
 */
export class Drain {
  private inFlight = 0;
  private whenIdle: (() => void) | null = null;
  private idle: Promise<void> | null = null;
  private wake: () => void = () => {};
  private forceReason: string | null = null;
  private readonly forcing = new Promise<"forced">((resolve) => (this.wake = () => resolve("forced")));

  constructor(private readonly parts: DrainParts) {}

  /**
   * Count a delivery in hand until `handling` settles. A count, not a set of promises: only the last
   * one matters, and most deliveries are settled before handleDelivery returns (no promise then).
   */
  track(handling: Promise<void> | undefined): void {
    if (!handling) return;
    this.inFlight++;
    void handling.finally(() => {
      if (--this.inFlight > 0) return;
      const wake = this.whenIdle;
      this.whenIdle = this.idle = null;
      wake?.();
    });
  }

  /** Running tasks are to be ended at once (force(), or the shutdown timeout passed). */
  get forced(): boolean {
    return this.forceReason !== null;
  }

  /**
   * End the running tasks at once: now when run() is waiting for them, else as run() starts. Not
   * before: until the worker has stopped consuming, a message given back would come straight back.
   */
  force(reason: string): void {
    if (this.forceReason !== null) return;
    this.forceReason = reason;
    this.wake();
  }

  /** Wait for the deliveries in hand to be settled, up to `timeoutMs` or a force(); then force the rest. */
  async run(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
    const ended = await Promise.race([this.untilIdle().then(() => "idle" as const), this.forcing, timedOut]);
    clearTimeout(timer);
    if (ended === "idle") return;
    this.force("shutdown timeout");
    const error = new WorkerLostError(this.forceReason ?? "shutdown timeout");
    this.parts.forceStop.abort(error);
    this.parts.running.endAll(error);
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([this.untilIdle(), new Promise<void>((resolve) => (grace = setTimeout(resolve, FORCED_SETTLE_MS)))]);
    clearTimeout(grace);
    await this.parts.returnUnsettled();
  }

  private untilIdle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    this.idle ??= new Promise((resolve) => (this.whenIdle = resolve));
    return this.idle;
  }
}
