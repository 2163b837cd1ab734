// Parks delayed messages in RabbitMQ itself: a fixed ladder of TTL queues, one per power of two of
// milliseconds, chained by dead-lettering (the design of kombu 5.5's native delayed delivery, at 1 ms
// resolution). A message is never held unacked by a consumer while it waits, so a long countdown cannot
// trip RabbitMQ's consumer acknowledgement timeout, and the worker holds nothing in memory for it.
//
// Level L has a queue whose x-message-ttl is 2^L ms and a topic exchange. The routing key spells the
// delay in binary, most significant bit first, followed by the destination queue name:
//   "0.0. … .1.0.1.<queue>"  (DELAY_LEVELS bit words)
// Exchange L routes a message whose bit L is 1 into queue L (it waits 2^L ms, then dead-letters with the
// same routing key into exchange L-1) and a message whose bit L is 0 straight on to exchange L-1. After
// level 0 comes the delivery exchange, which binds each destination queue by its exact name. Every
// queue in the ladder has a single TTL, so its head always expires first and FIFO expiry is exact.
import type { Channel } from "amqplib";
import { ConfigError } from "../../util/errors.ts";

/** 2^36 ms ≈ 2.2 years; longer delays park for the maximum and the worker re-parks on arrival. */
export const DELAY_LEVELS = 36;
export const MAX_DELAY_MS = 2 ** DELAY_LEVELS - 1;

export interface DelayTopologyOptions {
  /** Name prefix of the ladder's queues and exchanges. Default "celeriac.delay". */
  namespace: string;
  /** Quorum ladder queues dead-letter at-least-once (RabbitMQ 3.10+); classic ones at-most-once. */
  queueType: "classic" | "quorum";
}

export function levelName(options: DelayTopologyOptions, level: number): string {
  return `${options.namespace}.${options.queueType === "quorum" ? "q" : "c"}.${level}`;
}

export function deliveryExchange(options: DelayTopologyOptions): string {
  return `${options.namespace}.deliver`;
}

/** Where a delayed publish goes: always the top level's exchange. */
export function entryExchange(options: DelayTopologyOptions): string {
  return levelName(options, DELAY_LEVELS - 1);
}

/** The routing key that parks a message for `delayMs` (rounded up to whole ms, clamped) before `queue`. */
export function delayRoutingKey(delayMs: number, queue: string): string {
  const ms = Math.min(MAX_DELAY_MS, Math.max(0, Math.ceil(delayMs)));
  const bits = ms.toString(2).padStart(DELAY_LEVELS, "0").split("");
  const key = `${bits.join(".")}.${queue}`;
  // AMQP routing keys are short strings (at most 255 bytes).
  if (Buffer.byteLength(key) > 255) throw new ConfigError(`queue name "${queue}" is too long for a delayed publish (max ${255 - 2 * DELAY_LEVELS} bytes)`);
  return key;
}

const wildcards = (count: number): string => "*.".repeat(count);

/** Declares the whole ladder (idempotent). About 150 round trips, done once per connection. */
export async function declareDelayTopology(channel: Channel, options: DelayTopologyOptions): Promise<void> {
  const deliver = deliveryExchange(options);
  await channel.assertExchange(deliver, "topic", { durable: true });
  for (let level = 0; level < DELAY_LEVELS; level++) {
    const name = levelName(options, level);
    const next = level === 0 ? deliver : levelName(options, level - 1);
    const args: Record<string, unknown> = { "x-message-ttl": 2 ** level, "x-dead-letter-exchange": next };
    if (options.queueType === "quorum") {
      // At-least-once dead-lettering needs reject-publish overflow (RabbitMQ docs, quorum queues).
      Object.assign(args, { "x-queue-type": "quorum", "x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish" });
    }
    await channel.assertExchange(name, "topic", { durable: true });
    await channel.assertQueue(name, { durable: true, arguments: args });
    const position = DELAY_LEVELS - 1 - level;
    await channel.bindQueue(name, name, `${wildcards(position)}1.#`);
    if (level > 0) await channel.bindExchange(next, name, `${wildcards(position)}0.#`);
    else await channel.bindExchange(deliver, name, `${wildcards(position)}0.#`);
  }
}

/** Binds a destination queue to the delivery exchange by its exact name (after all bit words). */
export async function bindDelayDestination(channel: Channel, options: DelayTopologyOptions, queue: string): Promise<void> {
  await channel.bindQueue(queue, deliveryExchange(options), `${wildcards(DELAY_LEVELS)}${queue}`);
}

/** Deletes the ladder (tests and `celeriac purge --delays`); parked messages are lost. */
export async function deleteDelayTopology(channel: Channel, options: DelayTopologyOptions): Promise<void> {
  for (let level = 0; level < DELAY_LEVELS; level++) {
    await channel.deleteQueue(levelName(options, level));
    await channel.deleteExchange(levelName(options, level));
  }
  await channel.deleteExchange(deliveryExchange(options));
}
