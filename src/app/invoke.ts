// Runs one task function for one message and classifies what happened into a closed Outcome. It
// enforces the soft limit (the task's AbortSignal) and the hard limit (the slot is freed even if the
// function never returns), lets an error that escaped a running task or a worker's forced stop end it
// from outside, binds keyword arguments, and decides retries. It never acks or stores: the worker's settle step (or eager
// mode) acts on the Outcome.
import type { TaskMessage } from "../protocol/message.ts";
import type { TaskErrorInfo, TaskState } from "../protocol/result.ts";
import { errorInfoFrom, tracebackFrom } from "../protocol/result-meta.ts";
import { exponentialBackoff } from "../util/backoff.ts";
import { Ignore, MaxRetriesExceededError, Reject, Retry, SoftTimeLimitExceeded, TimeLimitExceeded, WorkerLostError } from "./errors.ts";
import { runWithRequest } from "./current.ts";
import type { RunningTasks } from "./running-tasks.ts";
import type { AnyTask, RetryOptions, TaskContext, TaskRequest } from "./task.ts";

export type Outcome =
  | { kind: "success"; value: unknown; runtimeMs: number }
  | { kind: "retry"; countdownSeconds: number; error: TaskErrorInfo | null; traceback: string | null; runtimeMs: number }
  | { kind: "failure"; error: TaskErrorInfo; traceback: string | null; timedOut: boolean; runtimeMs: number; thrown: unknown }
  | { kind: "reject"; reason: string; requeue: boolean; runtimeMs: number }
  | { kind: "ignore"; runtimeMs: number }
  // Ended by its worker's forced stop (a WorkerLostError): nothing the function did after counts.
  | { kind: "terminated"; error: TaskErrorInfo; traceback: string | null; runtimeMs: number; thrown: unknown };

export interface InvokeEnvironment {
  hostname: string;
  queue: string;
  isEager: boolean;
  /** The app-wide limits, used when neither message nor task sets one (seconds). */
  defaultTimeLimit: number | null;
  defaultSoftTimeLimit: number | null;
  updateState(state: TaskState, meta: unknown): Promise<void>;
  /**
   * A worker's forced stop: aborts the task's signal too, and a task not started yet when it fires does
   * not start (its outcome is "terminated").
   */
  stopSignal?: AbortSignal;
  /**
   * The worker's running tasks: holds the task while its promise is awaited, so a forced stop can end
   * it (RunningTasks.endAll), and tells whose task it is when an error escapes it (one per worker).
   */
  running?: RunningTasks;
}

/**
 * Run `task` for `message`; never throws. The outcome is returned as is when the function returns a
 * plain value and no time limit applies (no promise on the hot path), else as a promise.
 */
export function invokeTask(task: AnyTask, message: TaskMessage, env: InvokeEnvironment): Outcome | Promise<Outcome> {
  const hard = message.timeLimit[0] ?? task.options.timeLimit ?? env.defaultTimeLimit;
  const soft = message.timeLimit[1] ?? task.options.softTimeLimit ?? env.defaultSoftTimeLimit;
  const started = performance.now();
  if (env.stopSignal?.aborted) return classifyError(task, message, env.stopSignal.reason, 0);
  const ctx = new Context(message, env);
  if (hard || soft) {
    // The limits count from the call; a synchronous throw becomes a rejection.
    return awaitOutcome(task, message, ctx, started, hard, soft, () => new Promise((resolve) => resolve(start(task, ctx, message))));
  }
  let result: unknown;
  try {
    result = start(task, ctx, message);
  } catch (error) {
    ctx.dispose();
    return classifyError(task, message, error, performance.now() - started);
  }
  if (!isThenable(result)) {
    ctx.dispose();
    return { kind: "success", value: result, runtimeMs: performance.now() - started };
  }
  return awaitOutcome(task, message, ctx, started, null, null, () => result);
}

/**
 * The outcome of a task that returned a promise: whichever comes first of the promise settling, the
 * hard limit (the slot is freed even if the function never returns) and an error that escaped the task
 * (`Context.failFromOutside`). What the abandoned function does later is ignored.
 */
function awaitOutcome(task: AnyTask, message: TaskMessage, ctx: Context, started: number, hard: number | null, soft: number | null, run: () => PromiseLike<unknown>): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    const ending = new Ending(task, message, ctx, started, resolve);
    ctx.begin(ending);
    if (soft) ending.softTimer = setTimeout(() => ctx.abort(new SoftTimeLimitExceeded(soft)), soft * 1000);
    if (hard) ending.hardTimer = setTimeout(() => ctx.failFromOutside(new TimeLimitExceeded(hard)), hard * 1000);
    // Promise.resolve: a native promise as is; any other thenable, adopted safely (its then may throw).
    Promise.resolve(run()).then(
      (value) => ending.finish({ kind: "success", value, runtimeMs: performance.now() - started }),
      (error: unknown) => ending.fail(error),
    );
  });
}

// A class, not closures: one is made per async task, and closures bound to names cost more (tsx's
// keepNames wraps each in a defineProperty call).
/** How a task that returned a promise ends, once: settled by its function or from outside. */
class Ending {
  softTimer: NodeJS.Timeout | undefined;
  hardTimer: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    private readonly task: AnyTask,
    private readonly message: TaskMessage,
    private readonly ctx: Context,
    private readonly started: number,
    private readonly resolve: (outcome: Outcome) => void,
  ) {}

  get running(): boolean {
    return !this.ended;
  }

  fail(error: unknown): void {
    this.finish(classifyError(this.task, this.message, error, performance.now() - this.started));
  }

  /** End it from outside: the function may still be running, and its signal tells it to stop. */
  abandon(error: unknown): void {
    this.ctx.abort(error);
    this.fail(error);
  }

  finish(outcome: Outcome): void {
    if (this.ended) return;
    this.ended = true;
    if (this.softTimer) clearTimeout(this.softTimer);
    if (this.hardTimer) clearTimeout(this.hardTimer);
    this.ctx.dispose();
    this.resolve(outcome);
  }
}

/** Tasks whose plain (non-async) function has returned a promise: from then on they run like async ones. */
const seenReturningPromises = new WeakSet<AnyTask>();

/** Bind the arguments and call the function with its request current; throws what the function throws. */
function start(task: AnyTask, ctx: Context, message: TaskMessage): unknown {
  const args = bindArguments(task, message.args, message.kwargs);
  const acrossAwaits = task.isAsync || seenReturningPromises.has(task);
  const result = runWithRequest(ctx, acrossAwaits, () => task.run(ctx, args as never[]));
  if (!acrossAwaits && isThenable(result)) seenReturningPromises.add(task);
  return result;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function";
}

/**
 * The task's AbortSignal, made only when the task reads `ctx.signal`: most tasks never do, and an
 * AbortController plus a listener on the worker's stop signal per task is measurable on the hot path.
 */
class LazyAbort {
  private controller: AbortController | null = null;
  private reason: unknown;
  private aborted = false;
  private readonly onStop = (): void => this.abort(this.stopSignal?.reason);

  constructor(private readonly stopSignal: AbortSignal | undefined) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (!this.aborted && this.stopSignal?.aborted) this.abort(this.stopSignal.reason);
      if (this.aborted) this.controller.abort(this.reason);
      else this.stopSignal?.addEventListener("abort", this.onStop, { once: true });
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }

  dispose(): void {
    this.stopSignal?.removeEventListener("abort", this.onStop);
  }
}

// A class rather than an object literal of closures: one is made per task, so its methods live on the
// prototype and the request is read lazily from the message.
class Context implements TaskContext {
  private requestView: TaskRequest | null = null;
  // Made when the task reads its signal or a time limit fires (see LazyAbort).
  private aborter: LazyAbort | null = null;
  /** How it ends, when its function returned a promise (see awaitOutcome). */
  private ending: Ending | null = null;
  // Ended from outside (hard limit, escaped error) while its function runs on: the FAILURE stored for
  // it must not be overwritten by a state the abandoned function reports later.
  private abandoned = false;

  constructor(
    private readonly message: TaskMessage,
    private readonly env: InvokeEnvironment,
  ) {}

  get request(): TaskRequest {
    const { message, env } = this;
    this.requestView ??= {
      id: message.id,
      task: message.task,
      args: message.args,
      kwargs: message.kwargs,
      retries: message.retries,
      eta: message.eta,
      expires: message.expires,
      headers: message.headers,
      parentId: message.parentId,
      rootId: message.rootId,
      groupId: message.groupId,
      hostname: env.hostname,
      queue: env.queue,
      isEager: env.isEager,
    };
    return this.requestView;
  }

  get signal(): AbortSignal {
    this.aborter ??= new LazyAbort(this.env.stopSignal);
    return this.aborter.signal;
  }

  get runner(): object | undefined {
    return this.env.running;
  }

  /** Its function returned a promise: it ends through `ending`, and is running until then. */
  begin(ending: Ending): void {
    this.ending = ending;
    this.env.running?.add(this);
  }

  failFromOutside(error: unknown): boolean {
    if (!this.ending?.running) return false;
    this.abandoned = true;
    this.ending.abandon(error);
    return true;
  }

  /** Fire the task's signal (a time limit); a signal read later starts aborted. */
  abort(reason: unknown): void {
    this.aborter ??= new LazyAbort(this.env.stopSignal);
    this.aborter.abort(reason);
  }

  dispose(): void {
    this.aborter?.dispose();
    if (this.ending) this.env.running?.delete(this);
  }

  retry(options: RetryOptions = {}): never {
    throw new Retry(options.countdown ?? null, options.eta ?? null, options.exc, options.maxRetries);
  }

  updateState(state: TaskState, meta?: unknown): Promise<void> {
    if (this.abandoned) return Promise.resolve();
    return this.env.updateState(state, meta ?? null);
  }

  progress(meta: unknown): Promise<void> {
    return this.updateState("PROGRESS", meta);
  }
}

/** Positional args plus kwargs bound by parameter name, as Python would bind them. */
export function bindArguments(task: AnyTask, args: unknown[], kwargs: Record<string, unknown>): unknown[] {
  const names = Object.keys(kwargs);
  if (names.length === 0) return args;
  const bound = [...args];
  for (const name of names) {
    const index = task.options.params.indexOf(name);
    if (index === -1) throw new TypeError(`${task.name}() got an unexpected keyword argument '${name}'`);
    if (index < args.length) throw new TypeError(`${task.name}() got multiple values for argument '${name}'`);
    bound[index] = kwargs[name];
  }
  return bound;
}

function classifyError(task: AnyTask, message: TaskMessage, error: unknown, runtimeMs: number): Outcome {
  if (error instanceof Retry) {
    return decideRetry(task, message, error.countdownSeconds ?? (error.eta ? Math.max(0, (error.eta.getTime() - Date.now()) / 1000) : task.options.defaultRetryDelay), error.exc, error.maxRetries, runtimeMs);
  }
  if (error instanceof Reject) return { kind: "reject", reason: error.reason, requeue: error.requeue, runtimeMs };
  if (error instanceof Ignore) return { kind: "ignore", runtimeMs };
  if (error instanceof WorkerLostError) return { kind: "terminated", error: errorInfoFrom(error), traceback: tracebackFrom(error), runtimeMs, thrown: error };
  if (task.options.autoretryFor.some((cls) => error instanceof cls)) {
    const { retryBackoff, retryBackoffMax, retryJitter, defaultRetryDelay } = task.options;
    const countdown = retryBackoff > 0 ? exponentialBackoff(retryBackoff, message.retries, retryBackoffMax, retryJitter) : defaultRetryDelay;
    return decideRetry(task, message, countdown, error, undefined, runtimeMs);
  }
  return { kind: "failure", error: errorInfoFrom(error), traceback: tracebackFrom(error), timedOut: error instanceof TimeLimitExceeded, runtimeMs, thrown: error };
}

function decideRetry(task: AnyTask, message: TaskMessage, countdownSeconds: number, exc: unknown, maxRetriesOverride: number | null | undefined, runtimeMs: number): Outcome {
  const maxRetries = maxRetriesOverride === undefined ? task.options.maxRetries : maxRetriesOverride;
  if (maxRetries !== null && message.retries >= maxRetries) {
    // As Celery: out of retries, the task fails with the error that caused the retry, if any.
    const final = exc ?? new MaxRetriesExceededError(task.name, message.id, maxRetries);
    return { kind: "failure", error: errorInfoFrom(final), traceback: tracebackFrom(final), timedOut: false, runtimeMs, thrown: final };
  }
  return {
    kind: "retry",
    countdownSeconds,
    error: exc === undefined ? null : errorInfoFrom(exc),
    traceback: exc === undefined ? null : tracebackFrom(exc),
    runtimeMs,
  };
}
