// The request of the task running now, so a task that sends another task passes on its parent and
// root ids without anyone threading them through (Celery's current_task).
//
// Two carriers, because AsyncLocalStorage is not free: once a process has used it, Node runs promise
// hooks for every promise it creates, its own and every library's (~6 % of a worker draining no-op
// tasks). A task whose function is synchronous only needs the request while it runs, so it gets a plain
// variable set around the call; an async task (or one seen returning a promise) needs it across its
// awaits, so it runs inside AsyncLocalStorage.
import { AsyncLocalStorage } from "node:async_hooks";
import type { TaskRequest } from "./task.ts";

/** What the carriers hold: the running task's context, whose request is built only when read. */
export interface RequestHolder {
  readonly request: TaskRequest;
  /** Whoever runs the task (its worker's RunningTasks), told apart by identity; see `InvokeEnvironment.running`. */
  readonly runner: object | undefined;
  /**
   * End the running task as if it had thrown `error` (an error that escaped it, see
   * worker/stray-errors.ts). False when it has ended already or cannot be ended from outside.
   */
  failFromOutside(error: unknown): boolean;
}

const acrossAwaits = new AsyncLocalStorage<RequestHolder>();
let duringCall: RequestHolder | undefined;

/** The request of the task running now, or undefined outside a task. */
export function currentTaskRequest(): TaskRequest | undefined {
  return (duringCall ?? acrossAwaits.getStore())?.request;
}

/**
 * The task an error escaped from, called from a process-wide `uncaughtException` or
 * `unhandledRejection` handler: there Node restores the context that created the failing timer or
 * promise. Only async tasks can be found (a synchronous one has returned before its timers fire).
 */
export function strayErrorOwner(): RequestHolder | undefined {
  return acrossAwaits.getStore();
}

/**
 * Call `fn` with `holder` as the current request: across its awaits when `keepAcrossAwaits`, else only
 * until it returns (for a synchronous task function, that is all of it).
 */
export function runWithRequest<T>(holder: RequestHolder, keepAcrossAwaits: boolean, fn: () => T): T {
  const outer = duringCall;
  // A synchronous task's request is the innermost while it runs, so it is cleared for a nested async
  // one (an eager call), whose own request then comes from AsyncLocalStorage.
  duringCall = keepAcrossAwaits ? undefined : holder;
  try {
    return keepAcrossAwaits ? acrossAwaits.run(holder, fn) : fn();
  } finally {
    duringCall = outer;
  }
}
