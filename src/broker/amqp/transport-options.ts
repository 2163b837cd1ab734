// The RabbitMQ broker's settings, read from the app's `brokerTransportOptions`
// (BrokerOptions.transportOptions): each key checked for type and range, unknown keys refused with the
// nearest known one, and combinations RabbitMQ would refuse caught at creation, not at the first declare.
import { ConfigError } from "../../util/errors.ts";
import { parseOptions, type OptionChecks } from "../transport-options.ts";

/** RabbitMQ-specific broker settings (Celery's broker_transport_options / task_queues equivalents). */
export interface AmqpTransportOptions {
  /** Declare task queues with x-max-priority (Celery's `task_queue_max_priority`). Default null: none. */
  maxPriority: number | null;
  /**
   * "classic" (Celery's default): single node, priorities, global prefetch; right for one broker node
   * and for queues shared with Python workers that declare them classic. "quorum": replicated (Raft)
   * and poison-safe (deliveryLimit), for a RabbitMQ cluster where losing a node must not lose tasks;
   * no priorities and per-queue prefetch only. Every producer and worker must agree, or RabbitMQ
   * answers 406 (Python: `Queue(..., queue_arguments={"x-queue-type": "quorum"})`).
   */
  queueType: "classic" | "quorum";
  /** Quorum only: x-delivery-limit, after which a message that keeps coming back is dropped or dead-lettered. */
  deliveryLimit: number | null;
  /** Fanout exchange that rejected (requeue: false), expired and over-limit messages go to. Default null. */
  deadLetterExchange: string | null;
  /** Durable queue bound to deadLetterExchange, so dead letters are kept for inspection. Default null. */
  deadLetterQueue: string | null;
  /** Prefix of the delay ladder (see delay.ts). Default "celeriac.delay". */
  delayNamespace: string;
  /**
   * Name RabbitMQ shows for the connection (`client_properties.connection_name`). Default null:
   * "celeriac pid <pid>". The connection is shared per URL, so the first client to open it names it.
   */
  connectionName: string | null;
}

export const DEFAULT_TRANSPORT_OPTIONS: Readonly<AmqpTransportOptions> = Object.freeze({
  maxPriority: null,
  queueType: "classic",
  deliveryLimit: null,
  deadLetterExchange: null,
  deadLetterQueue: null,
  delayNamespace: "celeriac.delay",
  connectionName: null,
});

const nonEmpty = (value: unknown): value is string => typeof value === "string" && value !== "";
const integerIn = (min: number, max: number) => (value: unknown): value is number =>
  typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;

const CHECKS: OptionChecks<AmqpTransportOptions> = {
  maxPriority: { ok: (v) => v === null || integerIn(1, 255)(v), expected: "an integer from 1 to 255 (Celery suggests 10) or null" },
  queueType: { ok: (v) => v === "classic" || v === "quorum", expected: '"classic" or "quorum"' },
  deliveryLimit: { ok: (v) => v === null || integerIn(0, 2 ** 31 - 1)(v), expected: "a non-negative integer or null" },
  deadLetterExchange: { ok: (v) => v === null || nonEmpty(v), expected: "an exchange name or null" },
  deadLetterQueue: { ok: (v) => v === null || nonEmpty(v), expected: "a queue name or null" },
  delayNamespace: { ok: nonEmpty, expected: 'a non-empty name prefix such as "celeriac.delay"' },
  connectionName: { ok: (v) => v === null || nonEmpty(v), expected: "a non-empty string or null" },
};

/**
 * Reads and validates the AMQP broker's transport options over the defaults. Example:
 * `parseTransportOptions({ maxPriority: 10 })`; `{ maxPriorty: 10 }` throws naming "maxPriority".
 */
export function parseTransportOptions(raw: Readonly<Record<string, unknown>> | undefined): Readonly<AmqpTransportOptions> {
  return checkCombinations(parseOptions(raw, DEFAULT_TRANSPORT_OPTIONS, CHECKS, "AMQP"));
}

/** Combinations RabbitMQ would refuse (406 at the first declare), caught at configuration time. */
function checkCombinations(options: AmqpTransportOptions): Readonly<AmqpTransportOptions> {
  if (options.queueType === "quorum" && options.maxPriority !== null) {
    throw new ConfigError("brokerTransportOptions.maxPriority cannot be combined with queueType \"quorum\" (RabbitMQ 3.10 quorum queues have no priorities)");
  }
  if (options.deliveryLimit !== null && options.queueType !== "quorum") {
    throw new ConfigError("brokerTransportOptions.deliveryLimit needs queueType \"quorum\" (x-delivery-limit is a quorum queue feature)");
  }
  if (options.deadLetterQueue !== null && options.deadLetterExchange === null) {
    throw new ConfigError("brokerTransportOptions.deadLetterQueue needs deadLetterExchange (the queue is bound to that exchange)");
  }
  return Object.freeze({ ...options });
}
