// The result backend contract: where task states and results are stored and waited on. Implemented by
// backend/memory (embedded default), backend/redis and backend/rpc; every implementation passes
// src/testing/backend-conformance.ts against its real server.
import type { ResultRecord } from "../protocol/result.ts";
import type { ConnectOptions } from "../util/wait.ts";

export interface WaitOptions {
  /** Milliseconds; undefined waits forever. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ResultBackend {
  /** Connect, waiting up to `options.timeoutMs` (default connectionTimeoutMs); a failed connect leaves nothing open. */
  connect(options?: ConnectOptions): Promise<void>;
  /** Store the latest state of a task (and announce it to waiters). */
  store(record: ResultRecord): Promise<void>;
  /** Store several records in one round trip where the backend can. */
  storeMany?(records: readonly ResultRecord[]): Promise<void>;
  /** The latest stored record, or null when nothing is stored (state PENDING). */
  get(taskId: string): Promise<ResultRecord | null>;
  /**
   * A result for this task may soon be waited on (the app calls it before publishing a task whose
   * result is kept). Optional: a backend that announces results (Redis pub/sub) may start listening
   * now, so that a waitForReady() which follows does not pay for subscribing first.
   */
  expect?(taskId: string): void;
  /** Resolve with the record once the task reaches a ready state (SUCCESS, FAILURE, REVOKED). */
  waitForReady(taskId: string, options?: WaitOptions): Promise<ResultRecord>;
  /** Drop a stored result. */
  forget(taskId: string): Promise<void>;
  close(): Promise<void>;
}

export interface BackendOptions {
  /** The app's broker URL: the rpc backend replies over the broker's connection. */
  brokerUrl: string;
  /** This client's reply queue (Celery's `reply_to`, the app's oid): where rpc results come back. */
  replyTo: string;
  /** Seconds stored results live; 0 keeps them forever. */
  resultExpiresSeconds: number;
  connectionTimeoutMs: number;
  /**
   * rpc:// rides the broker's connection and gives up with it (brokerConnectionMaxRetries attempts).
   * Stores of their own (Redis) retry without limit, each operation bounded by connectionTimeoutMs.
   * Default Infinity.
   */
  connectionMaxRetries?: number;
  log: (level: "info" | "warn" | "error", message: string) => void;
}

/** Makes a backend for a URL without connecting; a third party's may be async (registerBackend). */
export type BackendFactory = (url: string, options: BackendOptions) => ResultBackend | Promise<ResultBackend>;
