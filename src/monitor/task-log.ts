// Turns the app's task and worker events into log lines: one per task received, succeeded, retried,
// failed, revoked or rejected, with id, name, runtime and error, and one per error that escaped a task.
// Text for terminals, JSON for machines.
import pino, { type Logger } from "pino";
import pretty from "pino-pretty";
import type { App } from "../app/app.ts";

export type LogFormat = "text" | "json";
export type LogLevel = "debug" | "info" | "warn" | "error";

/** A pino logger writing to `destination` (stderr by default) as readable text or JSON lines. */
export function createLogger(options: { format: LogFormat; level: LogLevel; destination?: NodeJS.WritableStream }): Logger {
  const destination = options.destination ?? process.stderr;
  if (options.format === "json") return pino({ level: options.level, base: { pid: process.pid } }, destination);
  const stream = pretty({ destination, sync: true, colorize: false, ignore: "pid,hostname", translateTime: "SYS:HH:MM:ss.l" });
  return pino({ level: options.level }, stream);
}

const ms = (value: number): number => Math.round(value * 10) / 10;

/** "TypeError: message" for an Error, else what was thrown, bounded. */
function describe(thrown: unknown): string {
  let text: string;
  try {
    text = thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : String(thrown);
  } catch {
    text = Object.prototype.toString.call(thrown); // an object whose toString throws, or none at all
  }
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}

/** Log every task event of `app` to `logger`. Returns a function that stops logging. */
export function logTaskEvents(app: App, logger: Logger): () => void {
  const offs = [
    app.events.on("task:received", (e) => logger.info({ id: e.id, task: e.name, queue: e.queue, eta: e.eta?.toISOString(), retries: e.retries }, `received ${e.name}[${e.id}]${e.eta ? ` eta ${e.eta.toISOString()}` : ""}`)),
    app.events.on("task:succeeded", (e) => logger.info({ id: e.id, task: e.name, runtimeMs: ms(e.runtimeMs) }, `succeeded ${e.name}[${e.id}] in ${ms(e.runtimeMs)} ms`)),
    app.events.on("task:retried", (e) =>
      logger.warn({ id: e.id, task: e.name, runtimeMs: ms(e.runtimeMs), countdown: e.countdownSeconds, retries: e.retries, error: e.error }, `retry ${e.name}[${e.id}] in ${e.countdownSeconds} s (retry ${e.retries})${e.error ? `: ${e.error.type}: ${e.error.message}` : ""}`),
    ),
    app.events.on("task:failed", (e) => logger.error({ id: e.id, task: e.name, runtimeMs: ms(e.runtimeMs), error: e.error, timedOut: e.timedOut }, `failed ${e.name}[${e.id}] after ${ms(e.runtimeMs)} ms: ${e.error.type}: ${e.error.message}`)),
    app.events.on("task:revoked", (e) => logger.warn({ id: e.id, task: e.name, reason: e.reason }, `revoked ${e.name}[${e.id}]: ${e.reason}`)),
    app.events.on("task:rejected", (e) => logger.error({ id: e.id, task: e.name, code: e.code, reason: e.reason, requeued: e.requeued }, `rejected message${e.name ? ` ${e.name}` : ""}${e.id ? `[${e.id}]` : ""}: ${e.code}: ${e.reason}`)),
    app.events.on("worker:error", (e) => logger.error({ err: e.error }, e.message)),
    app.events.on("worker:stray-error", (e) => {
      const fields = { err: e.error, origin: e.origin, id: e.task?.id, task: e.task?.name, failedTask: e.failedTask, stopping: e.stopping };
      const where = !e.task ? "outside any running task" : e.failedTask ? `in ${e.task.name}[${e.task.id}], which fails with it` : `from ${e.task.name}[${e.task.id}] after it had finished`;
      const line = `stray error (${e.origin}) ${where}: ${describe(e.error)}${e.stopping ? "; too many outside tasks: stopping the worker" : ""}`;
      if (e.failedTask) logger.warn(fields, line);
      else logger.error(fields, line);
    }),
    app.events.on("worker:deliveries-lost", (e) =>
      logger.warn({ dropped: e.dropped, unacknowledged: e.unacknowledged }, `broker connection lost: ${e.dropped} message(s) not started were dropped and ${e.unacknowledged} could not be acknowledged; the broker delivers them again`),
    ),
    app.events.on("worker:stopping", (e) => logger.info({ reason: e.reason }, `worker ${e.hostname} stopping (${e.reason})`)),
    app.events.on("worker:stopped", (e) => logger.info({ returnedToQueue: e.returnedToQueue }, `worker ${e.hostname} stopped; ${e.returnedToQueue} message(s) returned to the queue`)),
  ];
  return () => offs.forEach((off) => off());
}
