// The app's configuration: one validated, frozen object built once at app creation from code, then
// the environment, then CLI flags (later sources win). Unknown keys fail with the nearest known one.
import { ConfigError } from "../util/errors.ts";
import { didYouMean } from "../util/suggest.ts";
import { maskUrl } from "../util/url.ts";
import type { Serializer } from "../protocol/message.ts";
import type { SecurityOptions } from "./security.ts";

export interface Config {
  /** Broker URL. Default `memory://` (the embedded broker). */
  brokerUrl: string;
  /**
   * Result backend URL, or null to store no results. Default: `memory://` when the broker is `memory://`,
   * else null (results disabled: `AsyncResult.get()` fails at once with NO_RESULT_BACKEND), because an
   * in-process store is invisible to a worker in another process and `get()` would wait forever.
   */
  resultBackend: string | null;
  /** Queue a task goes to when neither the call nor the task names one. Default "celery". */
  taskDefaultQueue: string;
  /** Serializer for new messages. Default "json". */
  taskSerializer: Serializer;
  /** Content types a worker accepts; anything else is rejected unread. Default ["json", "msgpack"]. */
  acceptContent: Serializer[];
  /** Largest message body a worker decodes, in bytes. Default 10 MiB. */
  messageMaxBytes: number;
  /** Seconds results are kept. Default 86400 (one day, as Celery). 0 keeps them forever. */
  resultExpires: number;
  /** Store name, args, kwargs, worker, retries and queue with each result. Default false. */
  resultExtended: boolean;
  /** Run tasks inline in `delay()`, for unit tests. Default false. */
  taskAlwaysEager: boolean;
  /** In eager mode, throw the task's error from `delay()` instead of storing FAILURE. Default false. */
  taskEagerPropagates: boolean;
  /** Acknowledge after the task finishes rather than when it starts. Default false. */
  taskAcksLate: boolean;
  /** Report STARTED when a task starts. Default false. */
  taskTrackStarted: boolean;
  /** Store no results unless a task or call asks. Default false. */
  taskIgnoreResult: boolean;
  /** Hard time limit in seconds for every task; null for none. Default null. */
  taskTimeLimit: number | null;
  /** Soft time limit in seconds (the task's AbortSignal fires); null for none. Default null. */
  taskSoftTimeLimit: number | null;
  /** Tasks run at once per worker. Default 10 (async pool). */
  workerConcurrency: number;
  /** Unstarted messages a worker may hold per unit of concurrency. Default 4. */
  workerPrefetchMultiplier: number;
  /** Seconds a stopping worker waits for running tasks. Default 30. */
  workerShutdownTimeout: number;
  /** Seconds of eta/countdown a worker holds in memory; longer waits are parked in the broker. Default 10. */
  workerEtaHoldSeconds: number;
  /**
   * Deliveries of one message a worker allows (the broker counts them: docs/brokers.md, "Poison
   * messages"): a message delivered more often (requeued after settle failures, restored after worker
   * crashes) is dead-lettered with code TOO_MANY_DELIVERIES and stored as FAILURE. Default 5; Infinity
   * never gives up.
   */
  workerMaxDeliveries: number;
  /**
   * Seconds a worker waits before it requeues a message whose outcome it could not settle (a result
   * store or a follow-up publish that failed), doubled for each earlier delivery, at most 60 s: a failing
   * backend is not hammered in a tight loop. 0 requeues at once. Default 1.
   */
  workerRequeueDelaySeconds: number;
  /**
   * Connection attempts in a row, after the first, before a connection gives up (Celery's
   * broker_connection_max_retries): at a worker's start, and after a connection is lost. Default 100
   * (as Celery): with the backoff caps, about 8 minutes on Redis (5 s) and 50 on RabbitMQ (30 s).
   * Infinity retries forever. A refusal that will not heal (credentials, vhost, db, certificate,
   * maxclients) is never retried.
   */
  brokerConnectionMaxRetries: number;
  /**
   * A worker whose broker is unreachable at start keeps trying for as long as brokerConnectionMaxRetries
   * lasts (Celery's broker_connection_retry_on_startup); false fails after brokerConnectionTimeout.
   * Default true.
   */
  brokerConnectionRetryOnStartup: boolean;
  /**
   * Seconds an operation (a send, a result read, a producer's first connection) waits for a broker
   * connection before it fails with ConnectionError. Default 10.
   */
  brokerConnectionTimeout: number;
  /** Seconds between AMQP heartbeats; 0 relies on TCP keepalive. Default 60. */
  brokerHeartbeat: number;
  /**
   * Seconds before a Redis message a Celeriac worker claimed and neither acknowledged nor refreshed goes
   * to another worker. Default 300: a living worker refreshes its claims every timeout / 3 (at most every
   * 60 s), so this bounds how long a killed worker's tasks wait, not how long a task may run (kombu's 3600
   * applies to Python workers' claims: transport option kombuVisibilityTimeout, docs/brokers.md).
   */
  brokerVisibilityTimeout: number;
  /** Settings only one broker understands (see docs/brokers.md), validated by that broker. Default {}. */
  brokerTransportOptions: Record<string, unknown>;
  /**
   * Message signing (Celery's auth serializer): every message sent is signed with `key`, and a worker
   * runs only messages signed by one of `trustedCerts` (see docs/security.md). Default null (off).
   */
  security: SecurityOptions | null;
}

export const DEFAULT_CONFIG: Readonly<Config> = Object.freeze<Config>({
  brokerUrl: "memory://",
  // Derived from brokerUrl when no source sets it: see resolveConfig.
  resultBackend: null,
  taskDefaultQueue: "celery",
  taskSerializer: "json",
  acceptContent: ["json", "msgpack"],
  messageMaxBytes: 10 * 1024 * 1024,
  resultExpires: 86_400,
  resultExtended: false,
  taskAlwaysEager: false,
  taskEagerPropagates: false,
  taskAcksLate: false,
  taskTrackStarted: false,
  taskIgnoreResult: false,
  taskTimeLimit: null,
  taskSoftTimeLimit: null,
  workerConcurrency: 10,
  workerPrefetchMultiplier: 4,
  workerShutdownTimeout: 30,
  workerEtaHoldSeconds: 10,
  workerMaxDeliveries: 5,
  workerRequeueDelaySeconds: 1,
  brokerConnectionMaxRetries: 100,
  brokerConnectionRetryOnStartup: true,
  brokerConnectionTimeout: 10,
  brokerHeartbeat: 60,
  brokerVisibilityTimeout: 300,
  brokerTransportOptions: {},
  security: null,
});

const KEYS = Object.keys(DEFAULT_CONFIG) as (keyof Config)[];

/**
 * Environment variables read into the config. CELERY_BROKER_URL, BROKER_URL (Heroku add-ons) and
 * CELERY_RESULT_BACKEND are honoured for people coming from Celery; CELERIAC_* names win.
 */
const ENV_KEYS: [keyof Config, string[]][] = [
  ["brokerUrl", ["CELERIAC_BROKER_URL", "CELERY_BROKER_URL", "BROKER_URL"]],
  ["resultBackend", ["CELERIAC_RESULT_BACKEND", "CELERY_RESULT_BACKEND"]],
];

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<Config> {
  const out: Partial<Config> = {};
  for (const [key, names] of ENV_KEYS) {
    const name = names.find((n) => env[n] !== undefined && env[n] !== "");
    if (name) (out as Record<string, unknown>)[key] = env[name];
  }
  return out;
}

/**
 * Merge config sources (later wins) over the defaults, validate, and freeze.
 * Example: `resolveConfig({ brokerUrl: "redis://localhost" }, configFromEnv(), flags)`.
 */
export function resolveConfig(...sources: (Partial<Config> | undefined)[]): Readonly<Config> {
  const merged: Record<string, unknown> = { ...DEFAULT_CONFIG };
  for (const source of sources) {
    if (!source) continue;
    for (const [key, value] of Object.entries(source)) {
      if (!(KEYS as string[]).includes(key)) throw new ConfigError(`unknown config key "${key}"${didYouMean(key, KEYS)}`);
      if (value !== undefined) merged[key] = value;
    }
  }
  if (!sources.some((source) => source?.resultBackend !== undefined)) merged["resultBackend"] = defaultResultBackend(merged["brokerUrl"]);
  validate(merged);
  // Frozen like the rest: the keys it names are read once, when the app is created (app/security.ts).
  if (merged["security"]) merged["security"] = Object.freeze({ ...(merged["security"] as SecurityOptions) });
  return Object.freeze(merged as unknown as Config);
}

/** `memory://` only beside the memory:// broker: anywhere else it would silently keep results no one can read. */
function defaultResultBackend(brokerUrl: unknown): string | null {
  return typeof brokerUrl === "string" && /^memory:/i.test(brokerUrl) ? "memory://" : null;
}

function validate(config: Record<string, unknown>): void {
  const fail = (key: string, expected: string): never => {
    // A bad URL is echoed masked: it may carry a password (user-info or query), and errors get logged.
    const value = config[key];
    const shown = typeof value === "string" ? JSON.stringify(maskUrl(value)) : (JSON.stringify(value) ?? String(value));
    throw new ConfigError(`config "${key}" is ${shown}; expected ${expected}`);
  };
  const url = (key: string, nullable: boolean): void => {
    const value = config[key];
    if (nullable && value === null) return;
    if (typeof value !== "string" || !/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) fail(key, `a URL such as "redis://localhost:6379/0"${nullable ? " or null" : ""}`);
  };
  const number = (key: string, min: number, options: { integer?: boolean; nullable?: boolean } = {}): void => {
    const value = config[key];
    if (options.nullable && value === null) return;
    const ok = typeof value === "number" && !Number.isNaN(value) && value >= min && (!options.integer || Number.isInteger(value) || value === Infinity);
    if (!ok) fail(key, `${options.integer ? "an integer" : "a number"} >= ${min}${options.nullable ? " or null" : ""}`);
  };
  const boolean = (key: string): void => {
    if (typeof config[key] !== "boolean") fail(key, "true or false");
  };
  const serializer = (value: unknown): boolean => value === "json" || value === "msgpack";

  url("brokerUrl", false);
  url("resultBackend", true);
  if (typeof config["taskDefaultQueue"] !== "string" || config["taskDefaultQueue"] === "") fail("taskDefaultQueue", "a non-empty queue name");
  if (!serializer(config["taskSerializer"])) fail("taskSerializer", '"json" or "msgpack"');
  const accept = config["acceptContent"];
  if (!Array.isArray(accept) || accept.length === 0 || !accept.every(serializer)) fail("acceptContent", 'a non-empty list of "json" and "msgpack" (pickle and yaml are never accepted)');
  for (const key of ["resultExtended", "taskAlwaysEager", "taskEagerPropagates", "taskAcksLate", "taskTrackStarted", "taskIgnoreResult", "brokerConnectionRetryOnStartup"]) boolean(key);
  number("messageMaxBytes", 1, { integer: true });
  number("resultExpires", 0);
  number("taskTimeLimit", 0, { nullable: true });
  number("taskSoftTimeLimit", 0, { nullable: true });
  number("workerConcurrency", 1, { integer: true });
  number("workerPrefetchMultiplier", 1, { integer: true });
  number("workerShutdownTimeout", 0);
  number("workerEtaHoldSeconds", 0);
  number("workerMaxDeliveries", 1, { integer: true });
  number("workerRequeueDelaySeconds", 0);
  number("brokerConnectionMaxRetries", 0, { integer: true });
  number("brokerConnectionTimeout", 0);
  number("brokerHeartbeat", 0);
  number("brokerVisibilityTimeout", 1);
  const transport = config["brokerTransportOptions"];
  if (typeof transport !== "object" || transport === null || Array.isArray(transport)) fail("brokerTransportOptions", "an object of broker-specific settings");
  const security = config["security"];
  // Not echoed: it may hold a private key as PEM text.
  if (security !== null && (typeof security !== "object" || Array.isArray(security))) throw new ConfigError('config "security" must be null or { key, cert, trustedCerts, digest? }');
}
