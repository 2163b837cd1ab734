// The queues and exchanges we declare on RabbitMQ, matching what Celery declares by default
// (fixture amqp/topology.json): a durable queue, a durable direct exchange of the same name, bound with
// routing key = queue name. Declaring a name with other flags or arguments fails with 406, so the
// defaults here must stay Celery's: no x-arguments unless an option asks for them.
import type { Channel } from "amqplib";
import { ConfigError } from "../../util/errors.ts";

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
}

export const DEFAULT_TRANSPORT_OPTIONS: AmqpTransportOptions = {
  maxPriority: null,
  queueType: "classic",
  deliveryLimit: null,
  deadLetterExchange: null,
  deadLetterQueue: null,
  delayNamespace: "celeriac.delay",
};

/** Checks option combinations RabbitMQ would refuse, at creation rather than at first declare. */
export function validateTransportOptions(options: AmqpTransportOptions): AmqpTransportOptions {
  if (options.maxPriority !== null && (!Number.isInteger(options.maxPriority) || options.maxPriority < 1 || options.maxPriority > 255)) {
    throw new ConfigError(`amqp.maxPriority must be an integer from 1 to 255 (Celery recommends 10), got ${options.maxPriority}`);
  }
  if (options.queueType === "quorum" && options.maxPriority !== null) {
    throw new ConfigError("amqp.maxPriority cannot be combined with quorum queues (RabbitMQ 3.10 quorum queues have no priorities)");
  }
  if (options.deliveryLimit !== null && options.queueType !== "quorum") {
    throw new ConfigError("amqp.deliveryLimit needs queueType \"quorum\" (x-delivery-limit is a quorum queue feature)");
  }
  if (options.deadLetterQueue !== null && options.deadLetterExchange === null) {
    throw new ConfigError("amqp.deadLetterQueue needs amqp.deadLetterExchange");
  }
  return Object.freeze({ ...options });
}

/** The x-arguments of a task queue under these options (empty by default, as Celery declares). */
export function queueArguments(options: AmqpTransportOptions): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  if (options.maxPriority !== null) args["x-max-priority"] = options.maxPriority;
  if (options.queueType === "quorum") args["x-queue-type"] = "quorum";
  if (options.deliveryLimit !== null) args["x-delivery-limit"] = options.deliveryLimit;
  if (options.deadLetterExchange !== null) args["x-dead-letter-exchange"] = options.deadLetterExchange;
  return args;
}

/** Declares a task queue the way Celery does: queue, same-named direct exchange, binding. */
export async function declareTaskQueue(channel: Channel, queue: string, options: AmqpTransportOptions): Promise<void> {
  await channel.assertQueue(queue, { durable: true, arguments: queueArguments(options) });
  await channel.assertExchange(queue, "direct", { durable: true });
  await channel.bindQueue(queue, queue, queue);
}

/** Declares the dead-letter exchange (and queue) when configured. */
export async function declareDeadLetter(channel: Channel, options: AmqpTransportOptions): Promise<void> {
  if (options.deadLetterExchange === null) return;
  await channel.assertExchange(options.deadLetterExchange, "fanout", { durable: true });
  if (options.deadLetterQueue !== null) {
    await channel.assertQueue(options.deadLetterQueue, { durable: true, arguments: options.queueType === "quorum" ? { "x-queue-type": "quorum" } : {} });
    await channel.bindQueue(options.deadLetterQueue, options.deadLetterExchange, "");
  }
}

/** Turns a channel error on declare into a message that says what to do about it. */
export function explainDeclareError(queue: string, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  if (/PRECONDITION_FAILED/.test(message)) {
    return new ConfigError(
      `queue "${queue}" already exists on RabbitMQ with other settings (${message}); use the same amqp options as the code that declared it (Celery declares durable queues without arguments) or delete the queue`,
    );
  }
  return error instanceof Error ? error : new Error(message);
}
