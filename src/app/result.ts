// AsyncResult: the caller's handle on a sent task. It reads the task's state from the result backend
// and waits for its value without polling where the backend can announce results.
import type { ResultRecord, TaskErrorInfo, TaskState } from "../protocol/result.ts";
import { isReady } from "../protocol/result.ts";
import { CeleriacError } from "../util/errors.ts";
import { TaskFailedError } from "./errors.ts";

/** Where an AsyncResult reads from: the app's result backend, or the eager store in eager mode. */
export interface ResultSource {
  get(taskId: string): Promise<ResultRecord | null>;
  waitForReady(taskId: string, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<ResultRecord>;
  forget(taskId: string): Promise<void>;
  revoke(taskId: string): Promise<void>;
}

export interface GetOptions {
  /** Seconds to wait; undefined waits forever. */
  timeout?: number;
  /** Throw the task's error when it failed. Default true. */
  propagate?: boolean;
  signal?: AbortSignal;
}

/**
 * The handle `delay()` and `applyAsync()` return. With no result backend configured every read fails
 * at once with NO_RESULT_BACKEND, rather than waiting on results nobody stores.
 * Example: `const result = await add.delay(2, 3); const sum = await result.get({ timeout: 10 });`
 */
export class AsyncResult<R = unknown> {
  constructor(
    readonly id: string,
    private readonly source: () => Promise<ResultSource | null>,
  ) {}

  /** The latest stored record, or null while nothing is stored (PENDING). */
  async record(): Promise<ResultRecord | null> {
    return (await this.requireSource()).get(this.id);
  }

  /** PENDING, RECEIVED, STARTED, SUCCESS, FAILURE, RETRY, REVOKED or a custom state such as PROGRESS. */
  async state(): Promise<TaskState> {
    return (await this.record())?.state ?? "PENDING";
  }

  /** Progress or state meta reported by the task (STARTED, PROGRESS, custom states), else the value. */
  async info(): Promise<unknown> {
    const record = await this.record();
    return record?.error ?? record?.value ?? null;
  }

  async ready(): Promise<boolean> {
    return isReady(await this.state());
  }

  async successful(): Promise<boolean> {
    return (await this.state()) === "SUCCESS";
  }

  async failed(): Promise<boolean> {
    return (await this.state()) === "FAILURE";
  }

  /**
   * Wait for the task's value. Throws TaskFailedError when it failed or was revoked (unless
   * `propagate: false`, which returns the error info), TimeoutError after `timeout` seconds.
   */
  get(options: GetOptions & { propagate: false }): Promise<R | TaskErrorInfo>;
  get(options?: GetOptions): Promise<R>;
  async get(options: GetOptions = {}): Promise<R | TaskErrorInfo> {
    const record = await (await this.requireSource()).waitForReady(this.id, {
      ...(options.timeout !== undefined ? { timeoutMs: options.timeout * 1000 } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (record.state === "SUCCESS") return record.value as R;
    const error = record.error ?? { type: "Exception", message: `task ended in state ${record.state}`, module: "builtins" };
    if (options.propagate === false) return error;
    throw new TaskFailedError(this.id, error, record.traceback, record.state);
  }

  /** Ask every worker to discard this task if it has not started. */
  async revoke(): Promise<void> {
    await (await this.requireSource()).revoke(this.id);
  }

  /** Remove the stored result. */
  async forget(): Promise<void> {
    await (await this.requireSource()).forget(this.id);
  }

  private async requireSource(): Promise<ResultSource> {
    const source = await this.source();
    if (!source) throw new CeleriacError("NO_RESULT_BACKEND", `no result backend is configured, so results cannot be read: set resultBackend (e.g. "redis://localhost:6379/1"), CELERIAC_RESULT_BACKEND or --backend`);
    return source;
  }
}
