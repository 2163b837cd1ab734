// The queues and exchanges we declare on RabbitMQ, matching what Celery declares by default
// (fixture amqp/topology.json): a durable queue, a durable direct exchange of the same name, bound with
// routing key = queue name. Declaring a name with other flags or arguments fails with 406, so the
// defaults here must stay Celery's: no x-arguments unless an option asks for them.
import type { Channel } from "amqplib";
import { ConfigError } from "../../util/errors.ts";
import type { AmqpTransportOptions } from "./transport-options.ts";

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
      `queue "${queue}" already exists on RabbitMQ with other settings (${message}); use the same brokerTransportOptions (maxPriority, queueType, deliveryLimit, deadLetterExchange) as the code that declared it (Celery declares durable queues without arguments) or delete the queue`,
    );
  }
  return error instanceof Error ? error : new Error(message);
}
