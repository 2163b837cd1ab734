// The request of the task running in this async context, so a task that sends another task passes
// on its parent and root ids without anyone threading them through (Celery's current_task).
import { AsyncLocalStorage } from "node:async_hooks";
import type { TaskRequest } from "./task.ts";

// Holds the running task's context, whose request is built only when somebody reads it.
export const currentRequest = new AsyncLocalStorage<{ readonly request: TaskRequest }>();

/** The request of the task running now, or undefined outside a task. */
export function currentTaskRequest(): TaskRequest | undefined {
  return currentRequest.getStore()?.request;
}
