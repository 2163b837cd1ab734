// Maps a ResultRecord to and from the result meta dict Celery's backends store and publish
// ({status, result, traceback, children, date_done, ..., task_id}), and turns thrown JS values into
// bounded failure records that a Python client can re-raise.

import type { ResultRecord, TaskErrorInfo } from "./result.ts";
import { ERROR_STATES } from "./result.ts";
import { ProtocolError } from "../util/errors.ts";
import {
  ERROR_MESSAGE_MAX_BYTES,
  ERROR_TYPE_MAX_CHARS,
  TRACEBACK_MAX_BYTES,
  truncateUtf8,
} from "../util/limits.ts";
import { describe, isRecord } from "./guards.ts";
import { formatIsoNaiveUtc, parseIsoDate } from "./iso-time.ts";
import { pyRepr, reprArgs } from "./pyrepr.ts";

/** `exc_module` for error types Python does not know: see `moduleFor`. */
export const CELERIAC_EXCEPTIONS_MODULE = "celeriac.exceptions";

/**
 * Celery's result meta, keys in the order Celery 5.2.6 writes them (backends/base.py
 * `_get_result_meta`): an error as `{exc_type, exc_message, exc_module}`, children in `as_tuple`
 * form `[[id, null], null]`, `date_done` as naive UTC `isoformat()` with 6-digit fraction.
 *
 * @example encodeResultMeta(record)
 * // { status: "SUCCESS", result: 5, traceback: null, children: [], date_done: "2026-11-21T19:27:35.369000", task_id: "…" }
 */
export function encodeResultMeta(record: ResultRecord): Record<string, unknown> {
  const meta: Record<string, unknown> = {
    status: record.state,
    result: record.error === null ? record.value : errorToWire(record.error),
    traceback: record.traceback,
    children: record.children.map((id) => [[id, null], null]),
    date_done: record.dateDone === null ? null : formatIsoNaiveUtc(record.dateDone),
  };
  if (record.groupId) meta.group_id = record.groupId;
  if (record.parentId) meta.parent_id = record.parentId;
  const ext = record.extended;
  if (ext !== undefined) {
    meta.name = ext.name;
    meta.args = ext.args;
    meta.kwargs = ext.kwargs;
    meta.worker = ext.worker;
    meta.retries = ext.retries;
    meta.queue = ext.queue;
  }
  meta.task_id = record.taskId;
  return meta;
}

/**
 * Reads result meta written by Celery or by us. Tolerant: naive `date_done` is UTC, `exc_message` may
 * be a list or a string, children may be AsyncResult or GroupResult tuples (a group contributes its
 * member ids) or plain ids, missing fields take empty values. Throws MALFORMED_MESSAGE only when
 * `meta` is not an object with a string `status`, or carries no task id and `taskId` is not given.
 *
 * @param taskId id to use when the meta has no `task_id` (old Celery versions); default none
 * @example decodeResultMeta(JSON.parse(raw)).state // "SUCCESS"
 */
export function decodeResultMeta(meta: unknown, taskId?: string): ResultRecord {
  if (!isRecord(meta)) throw malformed(`result meta must be an object, got ${describe(meta)}`);
  const state = meta.status;
  if (typeof state !== "string" || state === "") {
    throw malformed(`result meta status must be a non-empty string, got ${describe(state)}`);
  }
  const id = typeof meta.task_id === "string" ? meta.task_id : taskId;
  if (id === undefined) throw malformed("result meta has no task_id");

  let value: unknown = meta.result ?? null;
  let error: TaskErrorInfo | null = null;
  if (ERROR_STATES.has(state)) {
    if (isRecord(value) && typeof value.exc_type === "string") {
      error = errorFromWire(value);
      value = null;
    } else if (state !== "RETRY") {
      // FAILURE/REVOKED without an exception dict (a foreign writer): still report an error.
      error = { type: "Exception", message: value === null ? "" : pyStr(value), module: "builtins" };
      value = null;
    }
  }
  const record: ResultRecord = {
    taskId: id,
    state,
    value,
    error,
    traceback: typeof meta.traceback === "string" ? meta.traceback : null,
    children: childIds(meta.children),
    dateDone: typeof meta.date_done === "string" ? parseIsoDate(meta.date_done) : null,
  };
  if (typeof meta.group_id === "string") record.groupId = meta.group_id;
  if (typeof meta.parent_id === "string") record.parentId = meta.parent_id;
  if (EXTENDED_KEYS.some((key) => key in meta)) {
    record.extended = {
      name: typeof meta.name === "string" ? meta.name : "",
      args: Array.isArray(meta.args) ? meta.args : [],
      kwargs: isRecord(meta.kwargs) ? meta.kwargs : {},
      worker: typeof meta.worker === "string" ? meta.worker : "",
      retries: typeof meta.retries === "number" ? meta.retries : 0,
      queue: typeof meta.queue === "string" ? meta.queue : "",
    };
  }
  return record;
}

const EXTENDED_KEYS = ["name", "args", "kwargs", "worker", "retries", "queue"] as const;

/**
 * A bounded failure record for a thrown value. The type is chosen so that Celery's
 * `exception_to_python` (backends/base.py) rebuilds something a Python caller can catch:
 * - JS names with a Python twin are mapped: Error -> Exception, RangeError -> ValueError (stack
 *   overflow -> RecursionError), ReferenceError -> NameError, URIError -> ValueError, a Node system
 *   error (has `syscall`) -> OSError; TypeError, SyntaxError, TimeoutError... keep their name.
 * - Names of Python builtin exceptions get module "builtins" and re-raise as that very class;
 *   Celery's own (ChordError, TaskRevokedError, TimeLimitExceeded...) get "celery.exceptions".
 * - Anything else gets "celeriac.exceptions". Celery looks the module up in `sys.modules` (it never
 *   imports it), misses, and creates an Exception subclass of that name: no ImportError, and
 *   `except Exception` catches it. Only Exception subclasses are mapped to builtins, so a JS error
 *   named "SystemExit" cannot make a Python client exit.
 * Sizes: type <= 200 chars, message <= 4 KiB (UTF-8), with a truncation marker.
 *
 * @example errorInfoFrom(new RangeError("bad")) // { type: "ValueError", message: "bad", module: "builtins" }
 */
export function errorInfoFrom(error: unknown): TaskErrorInfo {
  if (!isErrorLike(error)) {
    const message = typeof error === "string" ? error : pyRepr(error, ERROR_MESSAGE_MAX_BYTES);
    return { type: "Exception", message: truncateUtf8(message, ERROR_MESSAGE_MAX_BYTES), module: "builtins" };
  }
  const message = typeof error.message === "string" ? error.message : String(error.message);
  const type = pythonTypeName(error, message);
  return { type, message: truncateUtf8(message, ERROR_MESSAGE_MAX_BYTES), module: moduleFor(type) };
}

/**
 * The failure Celery stores when a result cannot be serialized (kombu's EncodeError, which the
 * backend's encode raises), or null when `error` is no such encoding failure.
 *
 * @example encodeFailureFrom(new ProtocolError("ENCODE_ERROR", "cannot encode as JSON: …"))?.type // "EncodeError"
 */
export function encodeFailureFrom(error: unknown): TaskErrorInfo | null {
  if (!(error instanceof ProtocolError && error.code === "ENCODE_ERROR")) return null;
  return { ...errorInfoFrom(error), type: "EncodeError", module: "kombu.exceptions" };
}

/**
 * The error's stack (followed by up to 4 `cause` stacks), at most 16 KiB; null for thrown non-errors.
 *
 * @example tracebackFrom(new Error("boom")) // "Error: boom\n    at ..."
 */
export function tracebackFrom(error: unknown): string | null {
  if (!isErrorLike(error)) return null;
  let text = stackOf(error);
  const seen = new Set<unknown>([error]);
  let cause = error.cause;
  for (let depth = 0; depth < 4 && isErrorLike(cause) && !seen.has(cause); depth++) {
    if (text.length > TRACEBACK_MAX_BYTES) break; // the rest would be cut anyway
    text += `\nCaused by: ${stackOf(cause)}`;
    seen.add(cause);
    cause = cause.cause;
  }
  return truncateUtf8(text, TRACEBACK_MAX_BYTES);
}

interface ErrorLike {
  name?: unknown;
  message: unknown;
  stack?: unknown;
  cause?: unknown;
  syscall?: unknown;
}

function isErrorLike(value: unknown): value is ErrorLike {
  // Duck-typed so errors from other realms (vm contexts, worker threads) count too.
  return (
    value instanceof Error ||
    (typeof value === "object" && value !== null && "message" in value && typeof value.message === "string" &&
      "name" in value && typeof value.name === "string")
  );
}

function stackOf(error: ErrorLike): string {
  if (typeof error.stack === "string" && error.stack !== "") return error.stack;
  return `${String(error.name ?? "Error")}: ${String(error.message)}`;
}

/** Python builtins that are Exception subclasses (Python 3.11 `dir(builtins)`). */
const PYTHON_BUILTIN_EXCEPTIONS: ReadonlySet<string> = new Set(
  ("ArithmeticError AssertionError AttributeError BlockingIOError BrokenPipeError BufferError " +
    "BytesWarning ChildProcessError ConnectionAbortedError ConnectionError ConnectionRefusedError " +
    "ConnectionResetError DeprecationWarning EOFError EncodingWarning EnvironmentError Exception " +
    "ExceptionGroup FileExistsError FileNotFoundError FloatingPointError FutureWarning IOError " +
    "ImportError ImportWarning IndentationError IndexError InterruptedError IsADirectoryError KeyError " +
    "LookupError MemoryError ModuleNotFoundError NameError NotADirectoryError NotImplementedError " +
    "OSError OverflowError PendingDeprecationWarning PermissionError ProcessLookupError RecursionError " +
    "ReferenceError ResourceWarning RuntimeError RuntimeWarning StopAsyncIteration StopIteration " +
    "SyntaxError SyntaxWarning SystemError TabError TimeoutError TypeError UnboundLocalError " +
    "UnicodeDecodeError UnicodeEncodeError UnicodeError UnicodeTranslateError UnicodeWarning " +
    "UserWarning ValueError Warning ZeroDivisionError").split(" "),
);

/** celery.exceptions classes a worker reports as failures (all Exception subclasses). */
const CELERY_EXCEPTIONS: ReadonlySet<string> = new Set([
  "ChordError",
  "TaskRevokedError",
  "Retry",
  "Reject",
  "Ignore",
  "MaxRetriesExceededError",
  "SoftTimeLimitExceeded",
  "TimeLimitExceeded",
  "WorkerLostError",
  "Terminated",
  "InvalidTaskError",
  "NotRegistered",
]);

const JS_TO_PYTHON: Readonly<Record<string, string>> = {
  Error: "Exception",
  RangeError: "ValueError",
  ReferenceError: "NameError",
  URIError: "ValueError",
  // Node's SystemError wraps failed system calls (ERR_SYSTEM_ERROR): Python's OSError, not its
  // interpreter-internal SystemError.
  SystemError: "OSError",
};

function pythonTypeName(error: ErrorLike, message: string): string {
  const name = typeof error.name === "string" && error.name !== "" ? error.name : "Error";
  if (name === "Error" && typeof error.syscall === "string") return "OSError";
  if (name === "RangeError" && message.startsWith("Maximum call stack size exceeded")) return "RecursionError";
  const mapped = JS_TO_PYTHON[name] ?? name;
  // Celery splits exc_type on "." and Python's type() rejects NUL: keep identifier characters only.
  let clean = mapped.replace(/[^A-Za-z0-9_]/g, "_").slice(0, ERROR_TYPE_MAX_CHARS);
  if (/^[0-9]/.test(clean)) clean = `_${clean.slice(0, ERROR_TYPE_MAX_CHARS - 1)}`;
  return clean === "" || /^_+$/.test(clean) ? "Exception" : clean;
}

function moduleFor(type: string): string {
  if (PYTHON_BUILTIN_EXCEPTIONS.has(type)) return "builtins";
  if (CELERY_EXCEPTIONS.has(type)) return "celery.exceptions";
  return CELERIAC_EXCEPTIONS_MODULE;
}

function errorToWire(error: TaskErrorInfo): Record<string, unknown> {
  return {
    exc_type: error.type,
    // Celery stores the exception's args; a plain JS error has just its message.
    exc_message: error.args ?? [error.message],
    // Celery reads a missing module as "create the class under celery.backends.base".
    exc_module: error.module === "" ? null : error.module,
  };
}

function errorFromWire(exc: Record<string, unknown>): TaskErrorInfo {
  const type = exc.exc_type as string;
  const module = typeof exc.exc_module === "string" ? exc.exc_module : "";
  const raw = exc.exc_message;
  if (Array.isArray(raw)) {
    // str(exc) in Python: "" for no args, str(arg) for one, the args tuple's repr for several.
    const message = raw.length === 0 ? "" : raw.length === 1 ? pyStr(raw[0]) : reprArgs(raw);
    // Keep `args` only when [message] would not rebuild them.
    const plain = raw.length === 1 && typeof raw[0] === "string";
    return plain ? { type, message, module } : { type, message, module, args: raw };
  }
  return { type, message: raw === null || raw === undefined ? "" : pyStr(raw), module };
}

function pyStr(value: unknown): string {
  return typeof value === "string" ? value : pyRepr(value);
}

/** Task ids from Celery's `children` list (`[[id, parent], null]`, `[[gid, parent], [members]]`, ids). */
function childIds(children: unknown): string[] {
  const out: string[] = [];
  if (Array.isArray(children)) for (const child of children) collectChild(child, out, 0);
  return out;
}

function collectChild(child: unknown, out: string[], depth: number): void {
  if (typeof child === "string") {
    out.push(child);
    return;
  }
  if (!Array.isArray(child) || depth > 16) return;
  const head: unknown = child[0];
  const tail: unknown = child[1];
  if (typeof head === "string") {
    out.push(head); // a bare (id, parent) pair
  } else if (Array.isArray(head) && typeof head[0] === "string") {
    if (Array.isArray(tail)) {
      for (const member of tail) collectChild(member, out, depth + 1); // GroupResult.as_tuple()
    } else {
      out.push(head[0]); // AsyncResult.as_tuple()
    }
  }
}

function malformed(reason: string): ProtocolError {
  return new ProtocolError("MALFORMED_MESSAGE", reason);
}
