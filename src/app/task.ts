// A task definition: the function, its resolved options, and the typed ways to call it. Argument
// and result types are inferred from the function, so `add.delay("a", 2)` does not compile when
// `add` takes numbers.
import type { Signature } from "../protocol/message.ts";
import type { TaskState } from "../protocol/result.ts";
import type { AsyncResult } from "./result.ts";
import type { ResolvedTaskOptions } from "./task-options.ts";

/** What a running task knows about the message that started it. */
export interface TaskRequest {
  id: string;
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  retries: number;
  eta: Date | null;
  expires: Date | null;
  headers: Record<string, unknown>;
  parentId: string | null;
  rootId: string | null;
  groupId: string | null;
  hostname: string;
  queue: string;
  isEager: boolean;
}

export interface RetryOptions {
  /** Seconds until the retry; default: the task's defaultRetryDelay. */
  countdown?: number;
  eta?: Date;
  /** The error that caused the retry; stored with the RETRY state and raised when retries run out. */
  exc?: unknown;
  /** Overrides the task's maxRetries for this retry. */
  maxRetries?: number | null;
}

/**
 * The context a bound task (`bind: true`) receives first.
 * Example: `app.task("resize", async (ctx, url: string) => { if (ctx.signal.aborted) ...; }, { bind: true })`.
 */
export interface TaskContext {
  request: TaskRequest;
  /** Fires at the soft time limit (reason SoftTimeLimitExceeded) and when the worker is force-stopped. */
  signal: AbortSignal;
  /** Throw to retry: `throw ctx.retry({ countdown: 5, exc: error })` (it also throws by itself). */
  retry(options?: RetryOptions): never;
  /** Store a custom state with meta, e.g. `await ctx.updateState("PROGRESS", { done: 3, total: 10 })`. */
  updateState(state: TaskState, meta?: unknown): Promise<void>;
  /** Shorthand for `updateState("PROGRESS", meta)`. */
  progress(meta: unknown): Promise<void>;
}

export interface CallOptions {
  /** Seconds from now before the task may run. */
  countdown?: number;
  /** Instant before which the task may not run. */
  eta?: Date;
  /** Seconds from now, or an instant, after which the task is discarded as REVOKED. */
  expires?: number | Date;
  /** Read as Celery reads it on the broker in use (Redis and memory: 0 first; AMQP: 9 first). */
  priority?: number;
  queue?: string;
  /** Extra message headers, readable as `ctx.request.headers`. */
  headers?: Record<string, unknown>;
  taskId?: string;
  ignoreResult?: boolean;
  serializer?: "json" | "msgpack";
  /** Keyword arguments (for tasks written in Python, or bound by parameter name). */
  kwargs?: Record<string, unknown>;
  /** Run after success with the result prepended to its args. */
  link?: Signature | Signature[];
  /** Run after failure with the failed task's id. */
  linkError?: Signature | Signature[];
  /** Seconds; override the task's limits for this call. */
  timeLimit?: number;
  softTimeLimit?: number;
}

export type TaskFunction<A extends unknown[], R> = (...args: A) => R | Promise<R>;
export type BoundTaskFunction<A extends unknown[], R> = (ctx: TaskContext, ...args: A) => R | Promise<R>;

/** A defined task: call it through the broker, or build a signature for links and workflows. */
export interface Task<A extends unknown[] = unknown[], R = unknown> {
  readonly name: string;
  readonly options: Readonly<ResolvedTaskOptions>;
  /** Send the task with positional arguments. Example: `await add.delay(2, 3)`. */
  delay(...args: A): Promise<AsyncResult<R>>;
  /** Send the task with options. Example: `await add.applyAsync([2, 3], { countdown: 10 })`. */
  applyAsync(args: A, options?: CallOptions): Promise<AsyncResult<R>>;
  /**
   * Send many calls at once, one per element of `argsList`, with the same options: every message is
   * encoded first, then published in one batch where the broker can (Redis: one pipeline of LPUSHes),
   * in order. The messages are the ones `applyAsync` would send, so any Celery worker consumes them.
   * `taskId` is refused for more than one call (ids must differ).
   * Example: `const results = await add.applyMany([[1, 2], [3, 4]]); await results[0].get();`
   */
  applyMany(argsList: readonly A[], options?: CallOptions): Promise<AsyncResult<R>[]>;
  /** A signature of this task with (some of) its arguments, for link/linkError. */
  s(...args: unknown[]): Signature;
  /** An immutable signature: the parent's result is not prepended. */
  si(...args: unknown[]): Signature;
  /** The function as defined, run with the given context (used by workers and eager mode): its value, or a promise of it. */
  run(ctx: TaskContext, args: unknown[]): R | PromiseLike<R>;
  /** The function is declared `async`: its request (currentTaskRequest) is kept across its awaits. */
  readonly isAsync: boolean;
}

export type AnyTask = Task<never[], unknown>;
