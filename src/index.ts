// Celeriac's public surface. Importing it does no I/O and opens no connection.
export { App, createApp, type AppOptions } from "./app/app.ts";
export { AsyncResult, type GetOptions } from "./app/result.ts";
export type { Task, TaskContext, TaskRequest, CallOptions, RetryOptions } from "./app/task.ts";
export type { TaskOptions } from "./app/task-options.ts";
export type { Config } from "./app/config.ts";
export type { CeleriacEvents } from "./app/events.ts";
export { currentTaskRequest } from "./app/current.ts";
export {
  CeleriacError,
  ConfigError,
  ConnectionError,
  ConnectionRefusedPermanently,
  Ignore,
  MaxRetriesExceededError,
  NotRegistered,
  ProtocolError,
  Reject,
  Retry,
  SoftTimeLimitExceeded,
  TaskFailedError,
  TaskRevokedError,
  TimeLimitExceeded,
  TimeoutError,
  WorkerHookError,
  WorkerLostError,
  type RefusalReason,
} from "./app/errors.ts";
export type { WorkerHook, WorkerHookOptions, WorkerInfo, WorkerStopInfo } from "./app/worker-hooks.ts";
export { Worker, createWorker, type WorkerOptions, type WorkerStats } from "./worker/worker.ts";
export type { Broker, DeadLetter, DeadLetterStore, Delivery, RejectOptions, RejectReason } from "./broker/broker.ts";
export type { ResultBackend } from "./backend/backend.ts";
export type { ResultRecord, TaskState } from "./protocol/result.ts";
export type { Signature } from "./protocol/message.ts";
