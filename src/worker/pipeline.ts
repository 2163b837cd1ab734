// The worker's path from one delivery to its settled outcome, top to bottom: decode, resolve the
// task, discard revoked or expired ones, wait for the eta and the rate limit, take a pool slot,
// acknowledge early unless acksLate, run, settle. Bad input is rejected with a reason; a message never
// crashes the worker.
import type { App } from "../app/app.ts";
import { invokeTask } from "../app/invoke.ts";
import type { AnyTask } from "../app/task.ts";
import type { Delivery } from "../broker/broker.ts";
import { decodeTaskMessage } from "../protocol/celery-v2.ts";
import type { TaskMessage } from "../protocol/message.ts";
import { CeleriacError } from "../util/errors.ts";
import type { EtaScheduler } from "./eta.ts";
import type { AsyncPool } from "./pool/async-pool.ts";
import type { RateLimiter } from "./rate-limit.ts";
import type { RevokedSet } from "./revoked.ts";
import { settle, settleRevoked, type SettleContext } from "./settle.ts";

export interface PipelineParts {
  app: App;
  settleContext: SettleContext;
  pool: AsyncPool;
  eta: EtaScheduler;
  rateLimiter: RateLimiter;
  revoked: RevokedSet;
  /** Aborts when the worker stops taking work: waiting deliveries go back to the queue. */
  stopping: AbortSignal;
  /** Aborts when the worker must stop at once: running tasks' signals fire. */
  forceStop: AbortSignal;
}

/** Handle one delivery to the end. Resolves when it is settled; never rejects. */
export async function handleDelivery(parts: PipelineParts, delivery: Delivery): Promise<void> {
  const { app } = parts;
  let message: TaskMessage;
  try {
    message = decodeTaskMessage(delivery.message, { accept: app.config.acceptContent, maxBytes: app.config.messageMaxBytes });
  } catch (error) {
    const id = typeof delivery.message.headers["id"] === "string" ? delivery.message.headers["id"] : null;
    const name = typeof delivery.message.headers["task"] === "string" ? delivery.message.headers["task"] : null;
    return reject(parts, delivery, id, name, error);
  }

  let task: AnyTask;
  try {
    task = app.getTask(message.task);
  } catch (error) {
    return reject(parts, delivery, message.id, message.task, error);
  }
  app.events.emit("task:received", { id: message.id, name: message.task, queue: delivery.queue, eta: message.eta, retries: message.retries });

  // Each step awaits only when it has something to wait for: most tasks have no eta, no rate limit and
  // find a free slot, and every needless await is a microtask per task on the hot path.
  try {
    if (await discardedBeforeRun(parts, delivery, message, task)) return;
    if (message.eta && message.eta.getTime() > Date.now()) {
      if ((await parts.eta.waitOrPark(delivery, message.eta, parts.stopping)) === "parked") return;
      if (await discardedBeforeRun(parts, delivery, message, task)) return;
    }
    if (task.options.rateLimit) await parts.rateLimiter.acquire(task, parts.stopping);
    const release = parts.pool.tryAcquire() ?? (await parts.pool.acquire());
    try {
      await run(parts, delivery, message, task);
    } finally {
      release();
    }
  } catch (error) {
    if (parts.stopping.aborted) {
      // Stopping before the task started: give the message back untouched.
      await delivery.reject({ requeue: true }).catch(() => {});
      return;
    }
    app.events.emit("worker:error", { message: `could not settle task ${message.task}[${message.id}]`, error });
    await delivery.reject({ requeue: true }).catch(() => {});
  }
}

async function run(parts: PipelineParts, delivery: Delivery, message: TaskMessage, task: AnyTask): Promise<void> {
  const { app, settleContext } = parts;
  if (parts.stopping.aborted) throw parts.stopping.reason;
  const acksLate = task.options.acksLate ?? app.config.taskAcksLate;
  // Acks early are not awaited: the broker batches acks, and waiting for the batch would delay every
  // task by a flush. A crash before the ack lands redelivers the task, as acksLate would.
  if (!acksLate) delivery.ack().catch((error: unknown) => app.events.emit("worker:error", { message: `could not acknowledge ${message.task}[${message.id}]`, error }));
  const backend = settleContext.backend;
  const ignoreResult = message.ignoreResult || (task.options.ignoreResult ?? app.config.taskIgnoreResult);
  const storeState = async (state: string, meta: unknown): Promise<void> => {
    if (backend && !ignoreResult) {
      await backend.store({ taskId: message.id, state, value: meta, error: null, traceback: null, children: [], dateDone: null, parentId: message.parentId, groupId: message.groupId, replyTo: message.replyTo });
    }
  };
  if (task.options.trackStarted ?? app.config.taskTrackStarted) {
    await storeState("STARTED", { pid: process.pid, hostname: settleContext.hostname });
  }
  app.events.emit("task:started", { id: message.id, name: message.task });
  const outcome = await invokeTask(task, message, {
    hostname: settleContext.hostname,
    queue: delivery.queue,
    isEager: false,
    defaultTimeLimit: app.config.taskTimeLimit,
    defaultSoftTimeLimit: app.config.taskSoftTimeLimit,
    stopSignal: parts.forceStop,
    updateState: async (state, meta) => {
      await storeState(state, meta);
      app.events.emit("task:progress", { id: message.id, name: message.task, state, meta });
    },
  });
  await settle(settleContext, { delivery, message, task, acked: !acksLate }, outcome);
}

/** Settle as REVOKED a task that was revoked or has expired; false (synchronously cheap) otherwise. */
function discardedBeforeRun(parts: PipelineParts, delivery: Delivery, message: TaskMessage, task: AnyTask): boolean | Promise<boolean> {
  const reason = parts.revoked.has(message.id) ? "revoked" : message.expires && message.expires.getTime() <= Date.now() ? "expired" : null;
  if (!reason) return false;
  return discard(parts, delivery, message, task, reason);
}

async function discard(parts: PipelineParts, delivery: Delivery, message: TaskMessage, task: AnyTask, reason: string): Promise<boolean> {
  const ignoreResult = message.ignoreResult || (task.options.ignoreResult ?? parts.app.config.taskIgnoreResult);
  await settleRevoked(parts.settleContext, delivery, message, reason, ignoreResult);
  return true;
}

/** Reject a message that cannot run (malformed, not allowed, unknown task): logged, counted, dropped or dead-lettered. */
async function reject(parts: PipelineParts, delivery: Delivery, id: string | null, name: string | null, error: unknown): Promise<void> {
  const code = error instanceof CeleriacError ? error.code : "MALFORMED_MESSAGE";
  const reason = error instanceof Error ? error.message : String(error);
  parts.app.events.emit("task:rejected", { id, name, code, reason, requeued: false });
  await delivery.reject({ requeue: false }).catch((rejectError: unknown) => {
    parts.app.events.emit("worker:error", { message: "could not reject a message", error: rejectError });
  });
}
