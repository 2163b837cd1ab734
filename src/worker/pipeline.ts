// The worker's path from one delivery to its settled outcome, top to bottom: decode, resolve the
// task, discard revoked or expired ones, wait for the eta and the rate limit, take a pool slot,
// acknowledge early unless acksLate, run, settle. Bad input is rejected with a reason (and dead-lettered);
// a message never crashes the worker. A message delivered too often is dead-lettered, and one whose
// outcome could not be settled goes back after a backoff (redelivery.ts).
import type { App } from "../app/app.ts";
import { invokeTask } from "../app/invoke.ts";
import type { RunningTasks } from "../app/running-tasks.ts";
import type { AnyTask } from "../app/task.ts";
import type { Delivery } from "../broker/broker.ts";
import { decodeTaskMessage } from "../protocol/celery-v2.ts";
import type { TaskMessage } from "../protocol/message.ts";
import type { EtaScheduler } from "./eta.ts";
import type { AsyncPool } from "./pool/async-pool.ts";
import type { RateLimiter } from "./rate-limit.ts";
import { giveBackUnsettled, overDeliveryLimit } from "./redelivery.ts";
import type { RevokedSet } from "./revoked.ts";
import { ignoresResult, settle, settleRevoked, settleUnrunnable, type SettleContext, type Settling } from "./settle.ts";

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
  /** The running async tasks, which a forced stop ends from outside. */
  running: RunningTasks;
  /** Acknowledge a delivery without waiting for it (acks early); a failure is reported, not thrown. */
  ackEarly(delivery: Delivery): void;
  /** Forget a stale delivery that was not started: not acked, not rejected; counted per loss. */
  dropStale(delivery: Delivery): void;
}

/**
 * Handle one delivery to the end. Returns nothing when it was settled synchronously (the common case: a
 * synchronous task with nothing to wait for), else a promise that resolves once it is settled. Never
 * throws or rejects.
 */
export function handleDelivery(parts: PipelineParts, delivery: Delivery): Promise<void> | undefined {
  const { app } = parts;
  let message: TaskMessage;
  try {
    message = decodeTaskMessage(delivery.message, { accept: app.config.acceptContent, maxBytes: app.config.messageMaxBytes, verifier: app.security?.verifier });
  } catch (error) {
    return settleUnrunnable(parts.settleContext, delivery, null, error);
  }

  // Requeued or restored too often (its settle kept failing, its worker kept dying): not run again.
  const over = overDeliveryLimit(app.config, delivery);
  if (over) return settleUnrunnable(parts.settleContext, delivery, message, over);

  let task: AnyTask;
  try {
    task = app.getTask(message.task);
  } catch (error) {
    return settleUnrunnable(parts.settleContext, delivery, message, error);
  }
  parts.settleContext.stats.received++;
  if (app.events.hasListeners("task:received")) {
    app.events.emit("task:received", { id: message.id, name: message.task, queue: delivery.queue, eta: message.eta, retries: message.retries });
  }

  // Most tasks have no eta and no rate limit, are neither revoked nor expired and find a free slot:
  // they run at once, without a promise; anything that has to wait takes the async path.
  if (isDiscarded(parts, message) || (message.eta && message.eta.getTime() > Date.now()) || task.options.rateLimit) {
    return guarded(parts, delivery, message, waitThenRun(parts, delivery, message, task));
  }
  const release = parts.pool.tryAcquire();
  if (!release) return guarded(parts, delivery, message, waitThenRun(parts, delivery, message, task));
  let running: Promise<void> | undefined;
  try {
    running = run(parts, delivery, message, task);
  } catch (error) {
    release();
    return recover(parts, delivery, message, error);
  }
  if (!running) {
    release();
    return undefined;
  }
  return guarded(parts, delivery, message, running.finally(release));
}

/** The async path: discard, wait for the eta, the rate limit and a slot, then run. */
async function waitThenRun(parts: PipelineParts, delivery: Delivery, message: TaskMessage, task: AnyTask): Promise<void> {
  if (isDiscarded(parts, message)) return discard(parts, delivery, message, task);
  if (message.eta && message.eta.getTime() > Date.now()) {
    if ((await parts.eta.waitOrPark(delivery, message.eta, parts.stopping)) === "parked") return;
    if (isDiscarded(parts, message)) return discard(parts, delivery, message, task);
  }
  if (task.options.rateLimit) await parts.rateLimiter.acquire(task, parts.stopping);
  const release = parts.pool.tryAcquire() ?? (await parts.pool.acquire());
  try {
    // Revoked while it waited for a slot: Celery checks again as a request starts, so do we.
    if (isDiscarded(parts, message)) return await discard(parts, delivery, message, task);
    await run(parts, delivery, message, task);
  } finally {
    release();
  }
}

/** `handling`, with a failure to settle turned into a requeue (never a rejection). */
function guarded(parts: PipelineParts, delivery: Delivery, message: TaskMessage, handling: Promise<void>): Promise<void> {
  return handling.catch((error: unknown) => recover(parts, delivery, message, error));
}

async function recover(parts: PipelineParts, delivery: Delivery, message: TaskMessage, error: unknown): Promise<void> {
  // Stopping (before the task started, or while it settled): give the message back untouched, at once.
  if (parts.stopping.aborted) return delivery.reject({ requeue: true }).catch(() => {});
  parts.app.events.emit("worker:error", { message: `could not settle task ${message.task}[${message.id}] (delivery ${delivery.deliveryCount})`, error });
  // Requeued after a backoff, or dead-lettered on its last allowed delivery: never a tight loop.
  return giveBackUnsettled(parts.settleContext, delivery, message, error, parts.stopping);
}

/** Run the task and settle its outcome: nothing when all of it was synchronous, else a promise. */
function run(parts: PipelineParts, delivery: Delivery, message: TaskMessage, task: AnyTask): Promise<void> | undefined {
  const { app, settleContext } = parts;
  // The last moment before it starts (after any wait for an eta, a rate limit or a slot): if its
  // connection was lost meanwhile, the broker has requeued it and its other copy is the one to run.
  if (delivery.stale) {
    parts.dropStale(delivery);
    return undefined;
  }
  if (parts.stopping.aborted) throw parts.stopping.reason;
  const acksLate = task.options.acksLate ?? app.config.taskAcksLate;
  // Acks early are not awaited: the broker batches acks, and waiting for the batch would delay every
  // task by a flush. A crash before the ack lands redelivers the task, as acksLate would.
  if (!acksLate) parts.ackEarly(delivery);
  const settling: Settling = { delivery, message, task, acked: !acksLate };
  const settled = task.options.trackStarted ?? app.config.taskTrackStarted
    ? storeState(parts, settling, "STARTED", { pid: process.pid, hostname: settleContext.hostname }).then(() => runStarted(parts, settling))
    : runStarted(parts, settling);
  if (acksLate || !settled) return settled;
  // Acknowledged as it started: there is nothing to requeue or dead-letter, so a settle failure (a
  // result store that failed) only loses the outcome, reported once.
  return settled.catch((error: unknown) => {
    app.events.emit("worker:error", { message: `could not settle task ${message.task}[${message.id}], acknowledged already (acks early): its outcome is lost`, error });
  });
}

function runStarted(parts: PipelineParts, s: Settling): Promise<void> | undefined {
  const { app, settleContext } = parts;
  const { message } = s;
  if (app.events.hasListeners("task:started")) app.events.emit("task:started", { id: message.id, name: message.task });
  const outcome = invokeTask(s.task, message, {
    hostname: settleContext.hostname,
    queue: s.delivery.queue,
    isEager: false,
    defaultTimeLimit: app.config.taskTimeLimit,
    defaultSoftTimeLimit: app.config.taskSoftTimeLimit,
    stopSignal: parts.forceStop,
    // Also how the worker knows its tasks' stray errors (worker/stray-errors.ts).
    running: parts.running,
    updateState: async (state, meta) => {
      await storeState(parts, s, state, meta);
      app.events.emit("task:progress", { id: message.id, name: message.task, state, meta });
    },
  });
  if (outcome instanceof Promise) return outcome.then((settled) => settle(settleContext, s, settled));
  return settle(settleContext, s, outcome);
}

/** Store an intermediate state (STARTED, PROGRESS, custom) unless results are off for this task. */
async function storeState(parts: PipelineParts, s: Settling, state: string, meta: unknown): Promise<void> {
  const { backend } = parts.settleContext;
  const { message } = s;
  if (!backend || ignoresResult(parts.app, s)) return;
  await backend.store({ taskId: message.id, state, value: meta, error: null, traceback: null, children: [], dateDone: null, parentId: message.parentId, groupId: message.groupId, replyTo: message.replyTo });
}

function isDiscarded(parts: PipelineParts, message: TaskMessage): boolean {
  return parts.revoked.has(message.id) || (message.expires !== null && message.expires.getTime() <= Date.now());
}

/** Settle as REVOKED a task that was revoked or has expired before it ran. */
async function discard(parts: PipelineParts, delivery: Delivery, message: TaskMessage, task: AnyTask): Promise<void> {
  const reason = parts.revoked.has(message.id) ? "revoked" : "expired";
  await settleRevoked(parts.settleContext, delivery, message, reason, ignoresResult(parts.app, { message, task }));
}
