// Maps a Signature (one serialized task call used by chains, chords and callbacks) to and from the
// dict Celery puts in `embed`: {task, args, kwargs, options, subtask_type, immutable}.

import type { Signature } from "./message.ts";
import { ProtocolError } from "../util/errors.ts";
import { describe, isRecord } from "./guards.ts";

/**
 * Builds a plain-task signature.
 *
 * @param args positional arguments; default []
 * @param kwargs keyword arguments; default {}
 * @param options Celery call options such as task_id, queue, countdown; default {}
 * @example signature("interop.add", [10]) // add.s(10): the parent's result is prepended when it runs
 */
export function signature(
  task: string,
  args: unknown[] = [],
  kwargs: Record<string, unknown> = {},
  options: Record<string, unknown> = {},
): Signature {
  return { task, args, kwargs, options, immutable: false, subtaskType: null };
}

/**
 * The wire dict, keys in Celery's order. Arrays and objects are shared with `sig`, not copied.
 *
 * @example signatureToWire(signature("interop.add", [10]))
 * // { task: "interop.add", args: [10], kwargs: {}, options: {}, subtask_type: null, immutable: false }
 */
export function signatureToWire(sig: Signature): Record<string, unknown> {
  return {
    task: sig.task,
    args: sig.args,
    kwargs: sig.kwargs,
    options: sig.options,
    subtask_type: sig.subtaskType,
    immutable: sig.immutable,
  };
}

/**
 * Reads a signature dict tolerantly, as Celery's `Signature.from_dict` does: missing args, kwargs and
 * options default to empty, a missing `immutable` to false; keys beyond the six are ignored (Celery
 * versions add some). Throws ProtocolError MALFORMED_MESSAGE when it is not a signature at all.
 *
 * @param where how to name the value in error messages; default "signature"
 * @example signatureFromWire({ task: "interop.echo" }) // { task: "interop.echo", args: [], kwargs: {}, ... }
 */
export function signatureFromWire(value: unknown, where = "signature"): Signature {
  if (!isRecord(value)) {
    throw malformed(`${where} must be an object, got ${describe(value)}`);
  }
  const task = value.task;
  if (typeof task !== "string" || task === "") {
    throw malformed(`${where}.task must be a non-empty string, got ${describe(task)}`);
  }
  const args = value.args ?? [];
  if (!Array.isArray(args)) throw malformed(`${where}.args must be an array, got ${describe(args)}`);
  const kwargs = value.kwargs ?? {};
  if (!isRecord(kwargs)) throw malformed(`${where}.kwargs must be an object, got ${describe(kwargs)}`);
  const options = value.options ?? {};
  if (!isRecord(options)) throw malformed(`${where}.options must be an object, got ${describe(options)}`);
  const subtaskType = value.subtask_type;
  if (subtaskType !== undefined && subtaskType !== null && typeof subtaskType !== "string") {
    throw malformed(`${where}.subtask_type must be a string or null, got ${describe(subtaskType)}`);
  }
  return {
    task,
    args,
    kwargs,
    options,
    // Python truthiness: Celery only ever sends a bool here.
    immutable: Boolean(value.immutable),
    subtaskType: subtaskType ?? null,
  };
}

function malformed(reason: string): ProtocolError {
  return new ProtocolError("MALFORMED_MESSAGE", reason);
}
