// The Redis broker's settings, read from the app's `brokerTransportOptions` (BrokerOptions.transportOptions):
// each key checked, unknown keys refused with the nearest known one (the AMQP broker does the same).
import { DEAD_LETTER_LIMIT } from "../broker.ts";
import { parseOptions, type OptionChecks } from "../transport-options.ts";

export type RedisMessageFormat = "celery" | "compact";

/** Redis-specific broker settings. */
export interface RedisTransportOptions {
  /**
   * How this broker stores the messages it publishes. "celery" (default): kombu's JSON envelope, which
   * Python Celery workers consume. "compact": Celeriac's own format at about a third of the memory, for
   * queues only Celeriac workers read (a Python worker cannot decode it). Consumers read both formats
   * whatever this says.
   */
  messageFormat: RedisMessageFormat;
  /**
   * Seconds after which our restore gives back a claim in kombu's shared `unacked` hash: Python
   * workers' claims, which kombu never refreshes (Celeriac's own claims live in `celeriac.unacked` and
   * follow `brokerVisibilityTimeout`). Default 3600, kombu's; set it to the Python workers'
   * `broker_transport_options["visibility_timeout"]`, or a long Python task runs twice.
   */
  kombuVisibilityTimeout: number;
  /**
   * Dead letters kept per queue in `celeriac.dead-letter.<queue>`; beyond it the oldest are dropped.
   * Default 10,000. 0 keeps none: a message rejected with a reason is dropped, as kombu drops it.
   */
  deadLetterLimit: number;
}

export const DEFAULT_REDIS_TRANSPORT_OPTIONS: Readonly<RedisTransportOptions> = Object.freeze({
  messageFormat: "celery",
  kombuVisibilityTimeout: 3600,
  deadLetterLimit: DEAD_LETTER_LIMIT,
});

const CHECKS: OptionChecks<RedisTransportOptions> = {
  messageFormat: { ok: (v) => v === "celery" || v === "compact", expected: '"celery" (Python workers can read it) or "compact" (Celeriac workers only)' },
  kombuVisibilityTimeout: { ok: (v) => typeof v === "number" && Number.isFinite(v) && v > 0, expected: "a number of seconds above 0 (kombu's default: 3600)" },
  deadLetterLimit: { ok: (v) => typeof v === "number" && Number.isInteger(v) && v >= 0, expected: "an integer >= 0 (dead letters kept per queue; 0 keeps none)" },
};

/**
 * Reads and validates the Redis broker's transport options over the defaults. Example:
 * `parseRedisTransportOptions({ messageFormat: "compact" })`; `{ messageFormt: "compact" }` throws
 * naming "messageFormat".
 */
export function parseRedisTransportOptions(raw: Readonly<Record<string, unknown>> | undefined): Readonly<RedisTransportOptions> {
  return Object.freeze(parseOptions(raw, DEFAULT_REDIS_TRANSPORT_OPTIONS, CHECKS, "Redis"));
}
