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
  FollowUpError,
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
  TooManyDeliveries,
  WorkerHookError,
  WorkerLostError,
  type RefusalReason,
} from "./app/errors.ts";
export type { WorkerHook, WorkerHookOptions, WorkerInfo, WorkerStopInfo } from "./app/worker-hooks.ts";
export { Worker, createWorker, type WorkerOptions, type WorkerStats } from "./worker/worker.ts";
export type { SecurityOptions } from "./app/security.ts";
// Plug-ins: a broker or result backend shipped as its own package (docs/plugins.md); its tests use
// the conformance suites in `celeriac/testing` (src/testing/index.ts).
export { registerBroker } from "./broker/registry.ts";
export { registerBackend } from "./backend/registry.ts";
export type {
  Broker,
  BrokerCapabilities,
  BrokerFactory,
  BrokerOptions,
  ConnectOptions,
  ConsumeOptions,
  Consumer,
  ControlMessage,
  DeadLetter,
  DeadLetterStore,
  Delivery,
  DeliveryHandler,
  PublishOptions,
  RejectOptions,
  RejectReason,
} from "./broker/broker.ts";
export type { BackendFactory, BackendOptions, ResultBackend, WaitOptions } from "./backend/backend.ts";
export type { ResultRecord, TaskErrorInfo, TaskState } from "./protocol/result.ts";
export type { Signature, WireMessage, WireProperties } from "./protocol/message.ts";
