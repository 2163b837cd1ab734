// Waiting helpers shared by result backends and the worker: wait for an event or a delay, bounded by a
// timeout and an AbortSignal, always cleaning up listeners and timers.
import type { EventEmitter } from "node:events";
import { TimeoutError } from "./errors.ts";

export interface WaitForEventOptions {
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Named in the timeout error, e.g. "the result of task 42". */
  what: string;
}

/** Resolve with the first argument of the next `event` on `emitter`. */
export function waitForEvent<T>(emitter: EventEmitter, event: string, options: WaitForEventOptions): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const cleanup = (): void => {
      emitter.off(event, onEvent);
      options.signal?.removeEventListener("abort", onAbort);
      if (timer) clearTimeout(timer);
    };
    const onEvent = (value: T): void => {
      cleanup();
      resolve(value);
    };
    const onAbort = (): void => {
      cleanup();
      reject(options.signal?.reason ?? new Error("aborted"));
    };
    if (options.signal?.aborted) return onAbort();
    emitter.on(event, onEvent);
    options.signal?.addEventListener("abort", onAbort, { once: true });
    if (options.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        cleanup();
        reject(new TimeoutError(`timed out after ${options.timeoutMs} ms waiting for ${options.what}`));
      }, options.timeoutMs);
    }
  });
}

/** Sleep for `ms`, rejecting early with the signal's reason when it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** How long a connect() waits for its server. Example: `await broker.connect({ timeoutMs: Infinity, signal })`. */
export interface ConnectOptions {
  /**
   * Milliseconds to wait; Infinity waits as long as the connection retries last (brokerConnectionMaxRetries).
   * Default: the client's connection timeout (brokerConnectionTimeout).
   */
  timeoutMs?: number;
  /** Stops waiting at once, rejecting with the signal's reason (a worker stopped while its broker is down). */
  signal?: AbortSignal;
}
