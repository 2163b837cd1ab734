// Errors a task or its caller meets, and the control signals a task throws to change its outcome
// (Retry, Reject, Ignore). Signals are not failures: the worker reads them, it does not store them.
import { CeleriacError } from "../util/errors.ts";
import type { TaskErrorInfo } from "../protocol/result.ts";

export { CeleriacError, ConfigError, ConnectionError, ConnectionRefusedPermanently, ProtocolError, TimeoutError, type RefusalReason } from "../util/errors.ts";

/** Thrown by `ctx.retry()`: run the task again later. */
export class Retry extends CeleriacError {
  constructor(
    readonly countdownSeconds: number | null,
    readonly eta: Date | null,
    readonly exc: unknown,
    readonly maxRetries: number | null | undefined,
  ) {
    super("RETRY", exc instanceof Error ? `retry requested: ${exc.message}` : "retry requested");
  }
}

/** Throw from a task to reject its message (to the dead-letter destination, or back to the queue). */
export class Reject extends CeleriacError {
  constructor(
    readonly reason: string,
    readonly requeue = false,
  ) {
    super("REJECT", reason);
  }
}

/** Throw from a task to end it with no state stored and the message acknowledged. */
export class Ignore extends CeleriacError {
  constructor(reason = "ignored") {
    super("IGNORE", reason);
  }
}

/** A task ran past its hard time limit; the worker recorded it as failed and freed its slot. */
export class TimeLimitExceeded extends CeleriacError {
  constructor(seconds: number) {
    super("TIME_LIMIT_EXCEEDED", `task exceeded its hard time limit of ${seconds} s`);
  }
}

/** The reason of a task's AbortSignal when its soft time limit passes. */
export class SoftTimeLimitExceeded extends CeleriacError {
  constructor(seconds: number) {
    super("SOFT_TIME_LIMIT_EXCEEDED", `task exceeded its soft time limit of ${seconds} s`);
  }
}

export class MaxRetriesExceededError extends CeleriacError {
  constructor(taskName: string, taskId: string, maxRetries: number) {
    super("MAX_RETRIES_EXCEEDED", `can't retry ${taskName}[${taskId}]: max retries (${maxRetries}) exceeded`);
  }
}

/**
 * The worker stopped at once (a second stop request, or its shutdown timeout passed) while the task
 * ran: its signal fires with this reason and whatever the function does later is ignored. An acksLate
 * message goes back to the queue; an early-acked one is stored as FAILURE with this error, which Celery
 * reads as its own `WorkerLostError`.
 */
export class WorkerLostError extends CeleriacError {
  constructor(reason: string) {
    super("WORKER_LOST", `the worker stopped at once (${reason}) while the task ran`);
  }
}

/** A worker start or stop hook (app.onWorkerStart / onWorkerStop) threw or ran past its timeout. */
export class WorkerHookError extends CeleriacError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("WORKER_HOOK_FAILED", message, options);
  }
}

/**
 * A message was delivered more often than `workerMaxDeliveries` allows (its outcome could not be
 * settled, or its worker died, each time): dead-lettered with this code and stored as FAILURE.
 */
export class TooManyDeliveries extends CeleriacError {
  constructor(message: string) {
    super("TOO_MANY_DELIVERIES", message);
  }
}

/**
 * A link callback, errback or the next chain step of a finished task could not be built or sent (a
 * malformed signature, a queue nobody declared): the task is stored as FAILURE with this error rather
 * than run again, as a redelivery would fail the same way.
 */
export class FollowUpError extends CeleriacError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("FOLLOW_UP_FAILED", message, options);
  }
}

/** A message named a task this worker does not know. */
export class NotRegistered extends CeleriacError {
  constructor(taskName: string, hint: string) {
    super("NOT_REGISTERED", `task "${taskName}" is not registered${hint}`);
  }
}

/** The task was revoked or expired before it ran. */
export class TaskRevokedError extends CeleriacError {
  constructor(reason: string) {
    super("TASK_REVOKED", reason);
  }
}

/**
 * Thrown by `AsyncResult.get()` when the task failed: carries the remote error's type, message and
 * traceback as stored, whichever language ran the task.
 */
export class TaskFailedError extends CeleriacError {
  constructor(
    readonly taskId: string,
    readonly remote: TaskErrorInfo,
    readonly remoteTraceback: string | null,
    readonly state: string,
  ) {
    super("TASK_FAILED", `task ${taskId} ${state === "REVOKED" ? "was revoked" : "failed"}: ${remote.type}: ${remote.message}`);
  }
}
