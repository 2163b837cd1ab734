// Task options: what a task declares at definition, its defaults, and their validation. An unknown
// option fails at definition with the nearest known one, so a typo never silently does nothing.
import { ConfigError } from "../util/errors.ts";
import { didYouMean } from "../util/suggest.ts";
import type { Serializer } from "../protocol/message.ts";
import { parseRateLimit, type RateLimit } from "../util/rate.ts";

type ErrorClass = abstract new (...args: never[]) => Error;

export interface TaskOptions {
  /** Queue the task is sent to unless the call names one. Default: the app's taskDefaultQueue. */
  queue?: string;
  /** Retries before the task fails for good; null retries forever. Default 3 (as Celery). */
  maxRetries?: number | null;
  /** Seconds before a retry when no countdown is given. Default 180 (as Celery). */
  defaultRetryDelay?: number;
  /** Errors that retry the task automatically. Default none. */
  autoretryFor?: ErrorClass[];
  /** Exponential backoff for automatic retries: true (factor 1 s) or the factor in seconds. Default false. */
  retryBackoff?: boolean | number;
  /** Cap of the backoff in seconds. Default 600. */
  retryBackoffMax?: number;
  /** Full jitter on the backoff. Default true. */
  retryJitter?: boolean;
  /** Per-worker rate limit: "10/s", "100/m" or "1000/h"; null for none. Default null. */
  rateLimit?: string | null;
  /** Hard time limit in seconds. Default: the app's taskTimeLimit. */
  timeLimit?: number | null;
  /** Soft time limit in seconds: the task's AbortSignal fires. Default: the app's taskSoftTimeLimit. */
  softTimeLimit?: number | null;
  /** Acknowledge after the task finishes. Default: the app's taskAcksLate. */
  acksLate?: boolean;
  /** Store no result. Default: the app's taskIgnoreResult. */
  ignoreResult?: boolean;
  /** Report STARTED when the task starts. Default: the app's taskTrackStarted. */
  trackStarted?: boolean;
  /** Serializer of this task's messages. Default: the app's taskSerializer. */
  serializer?: Serializer;
  /** Default priority of this task's messages. Default none. */
  priority?: number | null;
  /** Parameter names, to bind keyword arguments sent by Python callers. Default: read from the function. */
  params?: string[];
  /** Pass the task context as the function's first argument. Default false. */
  bind?: boolean;
}

export interface ResolvedTaskOptions {
  queue: string | null;
  maxRetries: number | null;
  defaultRetryDelay: number;
  autoretryFor: ErrorClass[];
  retryBackoff: number;
  retryBackoffMax: number;
  retryJitter: boolean;
  rateLimit: RateLimit | null;
  timeLimit: number | null | undefined;
  softTimeLimit: number | null | undefined;
  acksLate: boolean | undefined;
  ignoreResult: boolean | undefined;
  trackStarted: boolean | undefined;
  serializer: Serializer | undefined;
  priority: number | null;
  params: string[];
  bind: boolean;
}

const KNOWN: (keyof TaskOptions)[] = [
  "queue", "maxRetries", "defaultRetryDelay", "autoretryFor", "retryBackoff", "retryBackoffMax", "retryJitter",
  "rateLimit", "timeLimit", "softTimeLimit", "acksLate", "ignoreResult", "trackStarted", "serializer", "priority",
  "params", "bind",
];

/** Validate a task's options and fill in the defaults that do not depend on the app's config. */
export function resolveTaskOptions(taskName: string, options: TaskOptions, fn: (...args: never[]) => unknown): ResolvedTaskOptions {
  const fail = (message: string): never => {
    throw new ConfigError(`task "${taskName}": ${message}`);
  };
  for (const key of Object.keys(options)) {
    if (!(KNOWN as string[]).includes(key)) fail(`unknown option "${key}"${didYouMean(key, KNOWN)}`);
  }
  const nonNegative = (key: keyof TaskOptions): void => {
    const value = options[key];
    if (value !== undefined && value !== null && (typeof value !== "number" || !(value >= 0))) fail(`option "${key}" must be a number >= 0, got ${JSON.stringify(value)}`);
  };
  (["maxRetries", "defaultRetryDelay", "retryBackoffMax", "timeLimit", "softTimeLimit", "priority"] as const).forEach(nonNegative);
  if (options.serializer !== undefined && options.serializer !== "json" && options.serializer !== "msgpack") {
    fail(`option "serializer" must be "json" or "msgpack", got ${JSON.stringify(options.serializer)}`);
  }
  if (options.autoretryFor && !options.autoretryFor.every((cls) => typeof cls === "function")) fail(`option "autoretryFor" must list error classes`);
  const backoff = options.retryBackoff === true ? 1 : options.retryBackoff === false || options.retryBackoff === undefined ? 0 : options.retryBackoff;
  if (typeof backoff !== "number" || backoff < 0) fail(`option "retryBackoff" must be true, false or a factor in seconds`);
  let rateLimit: RateLimit | null = null;
  if (options.rateLimit !== undefined && options.rateLimit !== null) {
    try {
      rateLimit = parseRateLimit(options.rateLimit);
    } catch (error) {
      fail((error as Error).message);
    }
  }
  const bind = options.bind ?? false;
  return {
    queue: options.queue ?? null,
    maxRetries: options.maxRetries === undefined ? 3 : options.maxRetries,
    defaultRetryDelay: options.defaultRetryDelay ?? 180,
    autoretryFor: options.autoretryFor ?? [],
    retryBackoff: backoff,
    retryBackoffMax: options.retryBackoffMax ?? 600,
    retryJitter: options.retryJitter ?? true,
    rateLimit,
    timeLimit: options.timeLimit,
    softTimeLimit: options.softTimeLimit,
    acksLate: options.acksLate,
    ignoreResult: options.ignoreResult,
    trackStarted: options.trackStarted,
    serializer: options.serializer,
    priority: options.priority ?? null,
    params: options.params ?? parameterNames(fn).slice(bind ? 1 : 0),
    bind,
  };
}

/**
 * The names of a function's parameters, read from its source, so kwargs from Python callers bind by
 * name. Destructured or rest parameters get no name (kwargs cannot bind to them).
 */
export function parameterNames(fn: (...args: never[]) => unknown): string[] {
  const source = Function.prototype.toString.call(fn);
  const match = /^(?:async\s*)?(?:function\b[^(]*)?\(([^)]*)\)/.exec(source) ?? /^(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/.exec(source);
  if (!match?.[1]) return [];
  return match[1]
    .split(",")
    .map((part) => part.replace(/\/\*.*?\*\//g, "").replace(/=.*$/s, "").replace(/:.*$/s, "").trim())
    .map((part) => (/^[A-Za-z_$][\w$]*$/.test(part) ? part : ""))
    .filter((name, index, all) => name !== "" || index < all.length - 1);
}
