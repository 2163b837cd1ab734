// The one place that turns a task's Outcome into broker and backend effects: ack or reject, the stored
// result, the re-published retry, and the messages for links and the next chain step. Nothing else in
// the worker acks a message that reached a task.
import type { App } from "../app/app.ts";
import { FollowUpError } from "../app/errors.ts";
import type { Outcome } from "../app/invoke.ts";
import type { AnyTask } from "../app/task.ts";
import type { Broker, Delivery } from "../broker/broker.ts";
import type { ResultBackend } from "../backend/backend.ts";
import { encodeTaskMessage } from "../protocol/celery-v2.ts";
import type { TaskMessage } from "../protocol/message.ts";
import type { ResultRecord, TaskErrorInfo } from "../protocol/result.ts";
import { encodeFailureFrom, errorInfoFrom, tracebackFrom } from "../protocol/result-meta.ts";
import { CeleriacError } from "../util/errors.ts";
import { hasFollowUps, sendErrbacks, sendFollowUps } from "./follow-ups.ts";

export interface SettleContext {
  app: App;
  broker: Broker;
  backend: ResultBackend | null;
  hostname: string;
  /** The worker's counters, counted here and in the pipeline (not through events: one worker's own). */
  stats: WorkerCounters;
}

/** What a worker counts (Worker.stats). */
export interface WorkerCounters {
  received: number;
  succeeded: number;
  failed: number;
  retried: number;
  rejected: number;
  revoked: number;
}

export interface Settling {
  delivery: Delivery;
  message: TaskMessage;
  task: AnyTask;
  /** The message was acknowledged when the task started (acks early). */
  acked: boolean;
}

/**
 * Apply a task's outcome. Never throws for a task's sake; broker/backend errors propagate. Returns
 * nothing when there was nothing to wait for (a success with no result to store, no follow-up to send
 * and the message acknowledged already), else a promise; a plain success waits only for its store.
 */
export function settle(ctx: SettleContext, s: Settling, outcome: Outcome): Promise<void> | undefined {
  if (outcome.kind === "success" && !hasFollowUps(s.message)) {
    const storing = store(ctx, s, { state: "SUCCESS", value: outcome.value, children: [] });
    if (!storing) return succeeded(ctx, s, outcome.runtimeMs);
    return storing.then(
      () => succeeded(ctx, s, outcome.runtimeMs),
      (error: unknown) => failForGood(ctx, s, outcome.runtimeMs, error),
    );
  }
  return settleAsync(ctx, s, outcome);
}

/**
 * A result or follow-up message that cannot be serialized (a circular object, a Map) fails the task
 * with kombu's EncodeError, as Celery's tracer does, and so does a follow-up that cannot be built or
 * routed (FollowUpError): stored, counted and reported once, never retried. Any other error propagates.
 */
function failForGood(ctx: SettleContext, s: Settling, runtimeMs: number, error: unknown): Promise<void> {
  const failure = encodeFailureFrom(error) ?? (error instanceof FollowUpError ? errorInfoFrom(error) : null);
  if (!failure) return Promise.reject(error);
  return settleAsync(ctx, s, { kind: "failure", error: failure, traceback: tracebackFrom(error), timedOut: false, runtimeMs, thrown: error });
}

function succeeded(ctx: SettleContext, s: Settling, runtimeMs: number): Promise<void> | undefined {
  ctx.stats.succeeded++;
  const { events } = ctx.app;
  if (events.hasListeners("task:succeeded")) events.emit("task:succeeded", { id: s.message.id, name: s.message.task, runtimeMs });
  return s.acked ? undefined : s.delivery.ack();
}

async function settleAsync(ctx: SettleContext, s: Settling, outcome: Outcome): Promise<void> {
  const { message } = s;
  const base = { id: message.id, name: message.task };
  switch (outcome.kind) {
    case "success": {
      try {
        const children = await sendFollowUps(ctx, message, outcome.value);
        await store(ctx, s, { state: "SUCCESS", value: outcome.value, children });
      } catch (error) {
        return failForGood(ctx, s, outcome.runtimeMs, error);
      }
      return succeeded(ctx, s, outcome.runtimeMs);
    }
    case "retry": {
      // As Celery: same id, retries + 1, new eta; the original message is then acknowledged.
      const retried: TaskMessage = { ...message, retries: message.retries + 1, eta: new Date(Date.now() + outcome.countdownSeconds * 1000) };
      await ctx.broker.publish(s.delivery.queue, encodeTaskMessage(retried, { signer: ctx.app.security?.signer }));
      await store(ctx, s, { state: "RETRY", value: null, error: outcome.error, traceback: outcome.traceback, children: [message.id], final: false });
      ctx.stats.retried++;
      ctx.app.events.emit("task:retried", { ...base, runtimeMs: outcome.runtimeMs, countdownSeconds: outcome.countdownSeconds, retries: retried.retries, error: outcome.error });
      return finish(s);
    }
    case "failure": {
      const children = await sendErrbacks(ctx, message);
      await store(ctx, s, { state: "FAILURE", value: null, error: outcome.error, traceback: outcome.traceback, children });
      ctx.stats.failed++;
      ctx.app.events.emit("task:failed", { ...base, runtimeMs: outcome.runtimeMs, error: outcome.error, timedOut: outcome.timedOut });
      // Failed and timed-out tasks are acknowledged even with acksLate (Celery's default
      // task_acks_on_failure_or_timeout): redelivering them would only fail again.
      return finish(s);
    }
    case "reject":
      ctx.stats.rejected++;
      ctx.app.events.emit("task:rejected", { id: message.id, name: message.task, code: "TASK_REJECTED", reason: outcome.reason, requeued: outcome.requeue });
      if (!s.acked) await s.delivery.reject({ requeue: outcome.requeue, reason: { code: "TASK_REJECTED", message: outcome.reason } });
      return;
    case "ignore":
      return finish(s);
    case "terminated":
      // Ended by a forced stop while it ran: an acksLate message goes back to the queue to run again;
      // an early-acked one is lost, so it is recorded as failed (as Celery records WorkerLostError).
      if (s.acked) return settleAsync(ctx, s, { ...outcome, kind: "failure", timedOut: false });
      return s.delivery.reject({ requeue: true });
  }
}

/** Store REVOKED for a task discarded before it ran (revoked or expired), and acknowledge it. */
export async function settleRevoked(ctx: SettleContext, delivery: Delivery, message: TaskMessage, reason: string, ignoreResult: boolean): Promise<void> {
  const error: TaskErrorInfo = { type: "TaskRevokedError", message: reason, module: "celery.exceptions" };
  if (ctx.backend && !ignoreResult) {
    await ctx.backend.store({ taskId: message.id, state: "REVOKED", value: null, error, traceback: null, children: [], dateDone: new Date(), parentId: message.parentId, groupId: message.groupId, replyTo: message.replyTo });
  }
  ctx.stats.revoked++;
  ctx.app.events.emit("task:revoked", { id: message.id, name: message.task, reason });
  await delivery.ack();
}

/**
 * Settle a message that cannot run (malformed, refused, too large, unknown task): counted, reported as
 * `task:rejected`, stored as FAILURE when its id can be read and results are on (as Celery's
 * on_unknown_task stores NotRegistered, so the caller learns it) unless it failed signature checks,
 * and moved to the dead letters with its reason. `message` is null when it did not decode. Never rejects.
 */
export async function settleUnrunnable(ctx: SettleContext, delivery: Delivery, message: TaskMessage | null, error: unknown): Promise<void> {
  const code = error instanceof CeleriacError ? error.code : "MALFORMED_MESSAGE";
  const reason = error instanceof Error ? error.message : String(error);
  const { headers, properties } = delivery.message;
  const id = message?.id ?? (typeof headers["id"] === "string" ? headers["id"] : null);
  const name = message?.task ?? (typeof headers["task"] === "string" ? headers["task"] : null);
  ctx.stats.rejected++;
  ctx.app.events.emit("task:rejected", { id, name, code, reason, requeued: false });
  const ignoreResult = (message ? message.ignoreResult : headers["ignore_result"] === true) || ctx.app.config.taskIgnoreResult;
  // A message that failed verification stores nothing: its id is not authenticated, and storing would
  // let anyone who can write to the queue overwrite the result of any task id with a FAILURE.
  if (id !== null && ctx.backend && !ignoreResult && code !== "SECURITY_ERROR") {
    const failure: ResultRecord = {
      taskId: id,
      state: "FAILURE",
      value: null,
      error: unrunnableError(code, name, reason, error),
      traceback: null,
      children: [],
      dateDone: new Date(),
      parentId: message?.parentId ?? null,
      groupId: message?.groupId ?? null,
      replyTo: message?.replyTo ?? properties.replyTo ?? null,
    };
    await ctx.backend.store(failure).catch((storeError: unknown) => {
      ctx.app.events.emit("worker:error", { message: `could not store the failure of rejected task ${name ?? "?"}[${id}]`, error: storeError });
    });
  }
  await delivery.reject({ requeue: false, reason: { code, message: reason } }).catch((rejectError: unknown) => {
    ctx.app.events.emit("worker:error", { message: `could not dead-letter message ${id ?? "(no id)"}; the broker keeps it for redelivery`, error: rejectError });
  });
}

/**
 * What Celery's worker would report: NotRegistered (task name as its argument), ContentDisallowed, else
 * InvalidTaskError; a message delivered too often has no Celery counterpart and keeps its own type.
 */
function unrunnableError(code: string, name: string | null, reason: string, error: unknown): TaskErrorInfo {
  if (code === "NOT_REGISTERED") return { type: "NotRegistered", message: name ?? reason, module: "celery.exceptions" };
  if (code === "CONTENT_TYPE_NOT_ALLOWED") return { type: "ContentDisallowed", message: reason, module: "kombu.exceptions" };
  if (code === "TOO_MANY_DELIVERIES") return errorInfoFrom(error);
  return { type: "InvalidTaskError", message: reason, module: "celery.exceptions" };
}

/** Whether results are off for this message (the message's flag, else the task's option, else the app's). */
export function ignoresResult(app: App, s: Pick<Settling, "message" | "task">): boolean {
  return s.message.ignoreResult || (s.task.options.ignoreResult ?? app.config.taskIgnoreResult);
}

async function finish(s: Settling): Promise<void> {
  if (!s.acked) await s.delivery.ack();
}

interface StoreFields {
  state: string;
  value: unknown;
  error?: TaskErrorInfo | null;
  traceback?: string | null;
  children: string[];
  final?: boolean;
}

function store(ctx: SettleContext, s: Settling, fields: StoreFields): Promise<void> | undefined {
  const { backend, app } = ctx;
  if (!backend || ignoresResult(app, s)) return undefined;
  const record: ResultRecord = {
    taskId: s.message.id,
    state: fields.state,
    value: fields.value,
    error: fields.error ?? null,
    traceback: fields.traceback ?? null,
    children: fields.children,
    dateDone: fields.final === false ? null : new Date(),
    parentId: s.message.parentId,
    groupId: s.message.groupId,
    replyTo: s.message.replyTo,
  };
  if (app.config.resultExtended) {
    record.extended = { name: s.message.task, args: s.message.args, kwargs: s.message.kwargs, worker: ctx.hostname, retries: s.message.retries, queue: s.delivery.queue };
  }
  return backend.store(record);
}
