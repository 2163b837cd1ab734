// The Redis broker's settings, read from the app's `brokerTransportOptions` (BrokerOptions.transportOptions):
// each key checked, unknown keys refused with the nearest known one (the AMQP broker does the same).
import { ConfigError } from "../../util/errors.ts";
import { didYouMean } from "../../util/suggest.ts";

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
}

export const DEFAULT_REDIS_TRANSPORT_OPTIONS: Readonly<RedisTransportOptions> = Object.freeze({ messageFormat: "celery" });

const KNOWN = Object.keys(DEFAULT_REDIS_TRANSPORT_OPTIONS) as (keyof RedisTransportOptions)[];

const CHECKS: { [K in keyof RedisTransportOptions]: { ok: (value: unknown) => boolean; expected: string } } = {
  messageFormat: { ok: (v) => v === "celery" || v === "compact", expected: '"celery" (Python workers can read it) or "compact" (Celeriac workers only)' },
};

/**
 * Reads and validates the Redis broker's transport options over the defaults. Example:
 * `parseRedisTransportOptions({ messageFormat: "compact" })`; `{ messageFormt: "compact" }` throws
 * naming "messageFormat".
 */
export function parseRedisTransportOptions(raw: Readonly<Record<string, unknown>> | undefined): Readonly<RedisTransportOptions> {
  const options: Record<string, unknown> = { ...DEFAULT_REDIS_TRANSPORT_OPTIONS };
  for (const [key, value] of Object.entries(raw ?? {})) {
    if (!(KNOWN as string[]).includes(key)) {
      throw new ConfigError(`brokerTransportOptions: unknown key "${key}" for the Redis broker${didYouMean(key, KNOWN)}; known keys: ${KNOWN.join(", ")}`);
    }
    if (value === undefined) continue;
    const check = CHECKS[key as keyof RedisTransportOptions];
    if (!check.ok(value)) throw new ConfigError(`brokerTransportOptions.${key} is ${JSON.stringify(value) ?? String(value)}; expected ${check.expected}`);
    options[key] = value;
  }
  return Object.freeze(options as unknown as RedisTransportOptions);
}
