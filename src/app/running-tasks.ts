// The tasks of one worker whose functions are running past their call (they returned a promise), so
// that a forced stop can end them from outside, the same way a hard time limit or an escaped error
// ends one (`RequestHolder.failFromOutside`). invoke.ts adds a task as it starts waiting on its
// promise and removes it as it ends; a synchronous task has ended before anyone could stop it.
import type { RequestHolder } from "./current.ts";

/**
 * A worker's running async tasks. Example:
 * ```ts
 * const running = new RunningTasks();
 * invokeTask(task, message, { ...env, running });
 * running.endAll(new WorkerLostError("terminated")); // each ends now, as a failure with that error
 * ```
 */
export class RunningTasks {
  private readonly tasks = new Set<RequestHolder>();

  get size(): number {
    return this.tasks.size;
  }

  add(task: RequestHolder): void {
    this.tasks.add(task);
  }

  delete(task: RequestHolder): void {
    this.tasks.delete(task);
  }

  /** End every running task now with `error` (its signal fires; its function's later outcome is ignored). Returns how many ended. */
  endAll(error: unknown): number {
    let ended = 0;
    // A copy: each one ending removes itself from the set.
    for (const task of [...this.tasks]) if (task.failFromOutside(error)) ended++;
    return ended;
  }
}
