// The typed event map every observer subscribes to (logs, metrics, Celery events, the dashboard):
// the worker and the producer only emit `scope:action` events, they never log or count directly.
import { EventEmitter } from "node:events";
import type { TaskErrorInfo } from "../protocol/result.ts";

export interface TaskEventBase {
  id: string;
  name: string;
}

/** Which of Node's process events an escaped error arrived through. */
export type StrayErrorOrigin = "uncaughtException" | "unhandledRejection";

export interface CeleriacEvents {
  "task:sent": TaskEventBase & { queue: string; eta: Date | null };
  "task:received": TaskEventBase & { queue: string; eta: Date | null; retries: number };
  "task:started": TaskEventBase;
  "task:succeeded": TaskEventBase & { runtimeMs: number };
  "task:retried": TaskEventBase & { runtimeMs: number; countdownSeconds: number; retries: number; error: TaskErrorInfo | null };
  "task:failed": TaskEventBase & { runtimeMs: number; error: TaskErrorInfo; timedOut: boolean };
  "task:revoked": TaskEventBase & { reason: string };
  /** A message that was not run: malformed, not allowed, unknown task, or a task's Reject. */
  "task:rejected": { id: string | null; name: string | null; code: string; reason: string; requeued: boolean };
  "task:progress": TaskEventBase & { state: string; meta: unknown };
  "worker:ready": { hostname: string; queues: string[]; concurrency: number };
  "worker:stopping": { hostname: string; reason: string };
  "worker:stopped": { hostname: string; returnedToQueue: number };
  "worker:error": { message: string; error: unknown };
  /**
   * An error escaped a task (an unhandled rejection, a throw in a timer or callback) or came from
   * outside any. `failedTask`: the running task it escaped from was ended as a FAILURE with it.
   * `stopping`: it was one too many unattributed ones, and the worker is stopping.
   */
  "worker:stray-error": { hostname: string; origin: StrayErrorOrigin; error: unknown; task: TaskEventBase | null; failedTask: boolean; stopping: boolean };
  /**
   * The broker connection (or channel) was lost while the worker held deliveries from it; the broker
   * has them back and delivers them again. `dropped` had not started and did not run; `unacknowledged`
   * were settled after the loss, so an acksLate task among them runs again (at-least-once). Emitted
   * once per loss, when the last of its deliveries is dropped or settled.
   */
  "worker:deliveries-lost": { hostname: string; dropped: number; unacknowledged: number };
  /** A connected broker's connection is lost for good (retries spent, or refused on reconnecting). */
  "connection:lost": { url: string; error: Error };
}

export type CeleriacEventName = keyof CeleriacEvents;

/** An EventEmitter whose event names and payloads are checked against CeleriacEvents. */
export class TypedEvents {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  on<E extends CeleriacEventName>(event: E, listener: (payload: CeleriacEvents[E]) => void): () => void {
    this.emitter.on(event, listener);
    return () => this.emitter.off(event, listener);
  }

  emit<E extends CeleriacEventName>(event: E, payload: CeleriacEvents[E]): void {
    if (this.emitter.listenerCount(event) === 0) return;
    // An observer's bug must never take the worker down with it.
    try {
      this.emitter.emit(event, payload);
    } catch (error) {
      if (event !== "worker:error") this.emit("worker:error", { message: `a listener of ${event} threw`, error });
    }
  }

  hasListeners(event: CeleriacEventName): boolean {
    return this.emitter.listenerCount(event) > 0;
  }
}
