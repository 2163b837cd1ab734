// Keeps a task from taking its worker down. An error that escapes a task (a rejected promise nobody
// awaited, a throw in a timer or callback) reaches Node's process-wide `uncaughtException` or
// `unhandledRejection` event, where Node's default is to exit: the worker's messages would then wait in
// the broker's unacked set until their visibility timeout. Here such an error instead:
//
// 1. ends the async task it escaped from as a FAILURE with that error, when that task is still running
//    (Node hands the handler the AsyncLocalStorage context that created the failing timer or promise);
// 2. otherwise (a synchronous task's leftover timer, a task that has finished, code outside any task)
//    is logged and counted as unattributed: the worker keeps running;
// 3. only a flood of unattributed errors (more than `count` within `seconds`) counts as the process
//    being unsafe: something outside any one task keeps failing, so the worker stops gracefully (no more
//    work, unstarted messages back to the queue) and a supervisor can start a fresh process.
//
// What is thrown does not matter, only how often: a thrown string from a stray timer is no more
// dangerous than an Error, and one unexplained error is not worth losing the tasks in flight.
// The process handlers are installed once, whatever the number of workers, and removed with the last.
import type { App } from "../app/app.ts";
import { strayErrorOwner, type RequestHolder } from "../app/current.ts";
import type { StrayErrorOrigin } from "../app/events.ts";
import { ConfigError } from "../util/errors.ts";

/** One escaped error, as told to the worker it belongs to. */
export interface StrayError {
  error: unknown;
  origin: StrayErrorOrigin;
  /** The task it escaped from, when known: an async task's (a synchronous one has returned by then). */
  task: { id: string; name: string } | null;
  /** That task was still running and has been ended as a FAILURE with this error. */
  failedTask: boolean;
}

/** A worker's receiver of the errors that escape its tasks. */
export interface StrayErrorSink {
  /** The identity its pipeline passes as `InvokeEnvironment.running` (the worker's RunningTasks). */
  readonly runner: object;
  receive(stray: StrayError): void;
}

/** More than `count` unattributed errors within `seconds` stop the worker. */
export interface StrayErrorLimit {
  count: number;
  seconds: number;
}

export const DEFAULT_STRAY_ERROR_LIMIT: Readonly<StrayErrorLimit> = { count: 10, seconds: 60 };

/** `limit` if valid, else a ConfigError naming the option. */
export function checkStrayErrorLimit(limit: StrayErrorLimit): StrayErrorLimit {
  if (!Number.isInteger(limit.count) || limit.count < 0 || !(limit.seconds > 0)) {
    throw new ConfigError(`strayErrorLimit must be { count: an integer >= 0, seconds: a number > 0 }, got ${JSON.stringify(limit)}`);
  }
  return limit;
}

const sinks: StrayErrorSink[] = [];

const onUncaughtException = (error: unknown): void => routeSafely(error, "uncaughtException");
const onUnhandledRejection = (reason: unknown): void => routeSafely(reason, "unhandledRejection");

/**
 * Send the errors that escape tasks to `sink` until the returned function is called. The process
 * handlers come with the first sink and go with the last.
 * @example const stopListening = listenForStrayErrors({ runner, receive: (stray) => log(stray) });
 */
export function listenForStrayErrors(sink: StrayErrorSink): () => void {
  sinks.push(sink);
  if (sinks.length === 1) {
    process.on("uncaughtException", onUncaughtException);
    process.on("unhandledRejection", onUnhandledRejection);
  }
  return () => {
    const index = sinks.indexOf(sink);
    if (index === -1) return;
    sinks.splice(index, 1);
    if (sinks.length === 0) {
      process.off("uncaughtException", onUncaughtException);
      process.off("unhandledRejection", onUnhandledRejection);
    }
  };
}

/**
 * Attribute one escaped error and tell the owning worker (the first one when no running task of a
 * worker owns it). `owner` is the context Node restored for the handler; a parameter for tests.
 */
export function routeStrayError(error: unknown, origin: StrayErrorOrigin, owner: RequestHolder | undefined = strayErrorOwner()): void {
  let task: StrayError["task"] = null;
  let failedTask = false;
  let sink = sinks[0];
  if (owner) {
    failedTask = owner.failFromOutside(error);
    task = { id: owner.request.id, name: owner.request.task };
    sink = sinks.find((s) => s.runner === owner.runner) ?? sink;
  }
  sink?.receive({ error, origin, task, failedTask });
}

function routeSafely(error: unknown, origin: StrayErrorOrigin): void {
  // A throw from inside an uncaughtException handler exits the process (code 7): never let one out.
  try {
    routeStrayError(error, origin);
  } catch (failure) {
    try {
      process.stderr.write(`celeriac: could not handle an error that escaped a task (${origin}): ${String(error)}; because: ${String(failure)}\n`);
    } catch {
      // Nothing is left to report with.
    }
  }
}

/** Counts unattributed errors in a sliding window; more than `limit.count` of them within it is a flood. */
export class StrayErrorBudget {
  private readonly times: number[] = [];

  constructor(
    private readonly limit: StrayErrorLimit,
    private readonly now: () => number = Date.now,
  ) {
    checkStrayErrorLimit(limit);
  }

  /** Record one unattributed error; true when it makes more than `count` within the window. */
  spend(): boolean {
    const now = this.now();
    const since = now - this.limit.seconds * 1000;
    this.times.push(now);
    while (this.times.length > 0 && ((this.times[0] as number) <= since || this.times.length > this.limit.count + 1)) this.times.shift();
    return this.times.length > this.limit.count;
  }
}

export interface StrayErrorGuardOptions {
  app: App;
  hostname: string;
  runner: object;
  stats: { strayErrors: number };
  limit: StrayErrorLimit;
  /** Stop the worker gracefully (called once, on a flood). */
  stop(reason: string): void;
}

/**
 * A worker's handling of escaped errors: count each, stop on a flood of unattributed ones, and emit
 * `worker:stray-error`. Returns the function that stops listening.
 */
export function guardAgainstStrayErrors(options: StrayErrorGuardOptions): () => void {
  const { app, hostname, stats, limit } = options;
  const budget = new StrayErrorBudget(limit);
  let stopping = false;
  return listenForStrayErrors({
    runner: options.runner,
    receive: (stray) => {
      stats.strayErrors++;
      const flood = !stray.failedTask && !stopping && budget.spend();
      if (flood) {
        stopping = true;
        options.stop(`unsafe: more than ${limit.count} errors escaped outside any running task within ${limit.seconds} s`);
      }
      if (app.events.hasListeners("worker:stray-error")) app.events.emit("worker:stray-error", { hostname, ...stray, stopping: flood });
      // Nobody listens (a library user without a logger): say it where Node would have, not nowhere.
      else console.error(`celeriac worker ${hostname}: an error escaped ${stray.task ? `task ${stray.task.name}[${stray.task.id}]` : "outside any running task"} (${stray.origin}):`, stray.error);
    },
  });
}
