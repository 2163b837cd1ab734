// The record a result backend stores for one task, in our own vocabulary. result-meta.ts maps it to
// and from Celery's result meta JSON ({status, result, traceback, children, date_done, task_id}).

/** Celery's task states, plus any custom state a task reports (such as PROGRESS). */
export type TaskState =
  | "PENDING"
  | "RECEIVED"
  | "STARTED"
  | "SUCCESS"
  | "FAILURE"
  | "RETRY"
  | "REVOKED"
  | "PROGRESS"
  | (string & {});

/** States after which nothing more happens to a task. */
export const READY_STATES: ReadonlySet<string> = new Set(["SUCCESS", "FAILURE", "REVOKED"]);
/** States whose stored result is an error. */
export const ERROR_STATES: ReadonlySet<string> = new Set(["FAILURE", "RETRY", "REVOKED"]);

/** A failure as stored: bounded in size (see util/limits). */
export interface TaskErrorInfo {
  /** The error class name, e.g. "ValueError" or "TypeError". */
  type: string;
  message: string;
  /** Python module the type lives in for Celery peers ("builtins" for standard errors). */
  module: string;
  /** The full argument list of a Python exception, when it had more than the message. */
  args?: unknown[];
}

export interface ResultRecord {
  taskId: string;
  state: TaskState;
  /** Return value (SUCCESS) or progress meta (STARTED, PROGRESS, custom states). */
  value: unknown;
  /** Set for FAILURE, REVOKED and (when known) RETRY. */
  error: TaskErrorInfo | null;
  traceback: string | null;
  /** Ids of tasks this one sent (chain steps, callbacks, its own retry). */
  children: string[];
  dateDone: Date | null;
  parentId?: string | null;
  /**
   * Where the task's caller waits for replies (its `reply_to`); rpc-style backends send the record
   * there, stores that keep results by id ignore it. Not stored.
   */
  replyTo?: string | null;
  groupId?: string | null;
  /** Present when `resultExtended` is on. */
  extended?: {
    name: string;
    args: unknown[];
    kwargs: Record<string, unknown>;
    worker: string;
    retries: number;
    queue: string;
  };
}

export function isReady(state: TaskState): boolean {
  return READY_STATES.has(state);
}
