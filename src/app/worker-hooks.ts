// Worker lifecycle hooks registered on the app (Celery's worker_process_init and worker_shutdown
// signals are the model): a task module opens its own resources (a database pool, a client) as a
// worker starts and closes them as it stops. Every worker of the app runs them, each call bounded by
// its timeout, so a hook that hangs cannot keep a worker from starting or its process from exiting.
import { ConfigError } from "../util/errors.ts";
import { WorkerHookError } from "./errors.ts";

/** The worker a hook runs for. */
export interface WorkerInfo {
  hostname: string;
  queues: readonly string[];
}

/** The worker a stop hook runs for, and how it stopped. */
export interface WorkerStopInfo extends WorkerInfo {
  /** Why it stopped: the signal's name, "requested", "broker connection lost"... */
  reason: string;
  /** Running tasks had to be ended at once (a second stop request, or the shutdown timeout passed). */
  forced: boolean;
}

export type WorkerHook<I> = (worker: I) => void | Promise<void>;

export interface WorkerHookOptions {
  /** Seconds the hook may run; past them the worker goes on without it. Default 10. */
  timeout?: number;
}

const DEFAULT_TIMEOUT_SECONDS = 10;

interface Registered<I> {
  fn: WorkerHook<I>;
  timeoutMs: number;
}

/**
 * The hooks of one app, run by its workers. Example:
 * ```ts
 * const off = hooks.onStop(() => pool.end(), { timeout: 5 });
 * await hooks.runStop({ hostname, queues, reason: "SIGTERM", forced: false }, (error) => log(error));
 * ```
 */
export class WorkerHooks {
  private readonly starts: Registered<WorkerInfo>[] = [];
  private readonly stops: Registered<WorkerStopInfo>[] = [];

  /**
   * Run `fn` as each worker starts, before it connects: open the task module's own resources. One that
   * throws or outlives its timeout fails the worker's start. Returns the function that removes it.
   */
  onStart(fn: WorkerHook<WorkerInfo>, options: WorkerHookOptions = {}): () => void {
    return add(this.starts, fn, options);
  }

  /**
   * Run `fn` as each worker stops (on request, at once, or by itself), once its tasks have ended and
   * before it closes its connections: close what a start hook opened. One that fails is reported as
   * `worker:error` and the others still run. Returns the function that removes it.
   */
  onStop(fn: WorkerHook<WorkerStopInfo>, options: WorkerHookOptions = {}): () => void {
    return add(this.stops, fn, options);
  }

  /** Add every hook of `other` (an app's copy, see App.withConfig). */
  addAll(other: WorkerHooks): void {
    this.starts.push(...other.starts);
    this.stops.push(...other.stops);
  }

  /** Run the start hooks in the order they were added; the first to fail rejects with WorkerHookError and the rest do not run. */
  async runStart(worker: WorkerInfo): Promise<void> {
    for (const [index, hook] of [...this.starts].entries()) await runBounded(hook, worker, `start hook ${hookName(hook, index)}`);
  }

  /**
   * Run the stop hooks, the last added first (what started last depends on what started first); one
   * that fails is handed to `report` and the others still run. Never rejects.
   */
  async runStop(worker: WorkerStopInfo, report: (error: WorkerHookError) => void): Promise<void> {
    const hooks = [...this.stops];
    for (let index = hooks.length - 1; index >= 0; index--) {
      const hook = hooks[index] as Registered<WorkerStopInfo>;
      await runBounded(hook, worker, `stop hook ${hookName(hook, index)}`).catch(report);
    }
  }
}

function add<I>(list: Registered<I>[], fn: WorkerHook<I>, options: WorkerHookOptions): () => void {
  if (typeof fn !== "function") throw new ConfigError(`a worker hook must be a function, got ${typeof fn}`);
  const seconds = options.timeout ?? DEFAULT_TIMEOUT_SECONDS;
  if (!Number.isFinite(seconds) || seconds <= 0) throw new ConfigError(`a worker hook's timeout must be a finite number of seconds > 0, got ${seconds}`);
  const hook = { fn, timeoutMs: seconds * 1000 };
  list.push(hook);
  return () => {
    const index = list.indexOf(hook);
    if (index !== -1) list.splice(index, 1);
  };
}

function hookName<I>(hook: Registered<I>, index: number): string {
  return hook.fn.name ? `"${hook.fn.name}"` : `#${index + 1}`;
}

/** Run one hook; rejects with WorkerHookError when it throws or outlives its timeout. */
async function runBounded<I>(hook: Registered<I>, worker: I, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WorkerHookError(`worker ${what} did not finish within ${hook.timeoutMs / 1000} s`)), hook.timeoutMs);
  });
  try {
    // A synchronous throw becomes a rejection like an async one.
    await Promise.race([new Promise<void>((resolve) => resolve(hook.fn(worker))), timedOut]);
  } catch (error) {
    if (error instanceof WorkerHookError) throw error;
    throw new WorkerHookError(`worker ${what} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}
