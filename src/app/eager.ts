// Eager mode (taskAlwaysEager): `delay()` runs the task inline and returns a ready result, for users'
// unit tests. Retries run again at once, ignoring their countdown, as Celery's eager mode does.
import type { MemoryBackend } from "../backend/memory/memory-backend.ts";
import type { TaskMessage } from "../protocol/message.ts";
import type { ResultRecord } from "../protocol/result.ts";
import { encodeFailureFrom, tracebackFrom } from "../protocol/result-meta.ts";
import type { Config } from "./config.ts";
import { invokeTask } from "./invoke.ts";
import type { AnyTask } from "./task.ts";

export interface EagerEnvironment {
  store: MemoryBackend;
  config: Readonly<Config>;
  hostname: string;
  queue: string;
}

/** Run a message's task to its final state and store that state. Throws the task's error with taskEagerPropagates. */
export async function runEagerly(task: AnyTask, message: TaskMessage, env: EagerEnvironment): Promise<void> {
  const base = { taskId: message.id, children: [], traceback: null, parentId: message.parentId };
  let current = message;
  for (;;) {
    const outcome = await invokeTask(task, current, {
      hostname: env.hostname,
      queue: env.queue,
      isEager: true,
      defaultTimeLimit: env.config.taskTimeLimit,
      defaultSoftTimeLimit: env.config.taskSoftTimeLimit,
      updateState: (state, meta) => env.store.store({ ...base, state, value: meta, error: null, dateDone: null }),
    });
    let record: ResultRecord;
    switch (outcome.kind) {
      case "retry":
        current = { ...current, retries: current.retries + 1 };
        continue;
      case "success":
        record = { ...base, state: "SUCCESS", value: outcome.value, error: null, dateDone: new Date() };
        break;
      case "failure":
      case "terminated": // no worker to stop in eager mode; a failure all the same
        if (env.config.taskEagerPropagates) throw outcome.thrown;
        record = { ...base, state: "FAILURE", value: null, error: outcome.error, traceback: outcome.traceback, dateDone: new Date() };
        break;
      case "reject":
      case "ignore":
        return;
    }
    try {
      await env.store.store(record);
    } catch (error) {
      // A result that cannot be serialized fails the task with EncodeError, as on a worker.
      const failure = encodeFailureFrom(error);
      if (!failure || env.config.taskEagerPropagates) throw error;
      await env.store.store({ ...base, state: "FAILURE", value: null, error: failure, traceback: tracebackFrom(error), dateDone: new Date() });
    }
    return;
  }
}
