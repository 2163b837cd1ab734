// RabbitMQ dead letters, published explicitly: a message a worker gives up with a reason is published
// (with confirms) to the durable direct exchange `celeriac.dead-letter`, routed by its queue's name to
// the durable queue `celeriac.dead-letter.<queue>`, with the reason in headers, and only then acked.
// Not `x-dead-letter-exchange`: Celery declares task queues without arguments, and RabbitMQ refuses
// (406) a second declaration with other arguments, so one side's workers would fail to start.
import type { Channel, GetMessage } from "amqplib";
import type { DeadLetter, DeadLetterStore, RejectReason } from "../broker.ts";
import type { WireMessage } from "../../protocol/message.ts";
import { fromAmqpMessage, isDeathHeader, toAmqpProperties } from "../../protocol/amqp-properties.ts";
import type { ConfirmPublisher } from "../../connection/amqp-publisher.ts";
import { dropDeliveryCount } from "./delivery-count.ts";
import { CeleriacError } from "../../util/errors.ts";

export const DEAD_LETTER_EXCHANGE = "celeriac.dead-letter";

/** The queue holding `queue`'s dead letters. */
export function deadLetterQueue(queue: string): string {
  return `${DEAD_LETTER_EXCHANGE}.${queue}`;
}

/** Headers a dead letter carries besides its own; removed again when it is redriven. */
const HEADERS = { queue: "x-celeriac-dead-letter-queue", code: "x-celeriac-dead-letter-code", reason: "x-celeriac-dead-letter-reason", at: "x-celeriac-dead-letter-at" } as const;
const OWN_HEADERS: ReadonlySet<string> = new Set(Object.values(HEADERS));

/** What the dead letters need from their broker. */
export interface DeadLetterHost {
  /** The broker's declaration channel. */
  admin(): Promise<Channel>;
  /** A fresh channel, which the caller closes. */
  channel(): Promise<Channel>;
  publisher(): ConfirmPublisher;
  /** The broker's publish, to put a redriven message back on its queue. */
  publish(queue: string, message: WireMessage): Promise<void>;
  queueType: "classic" | "quorum";
}

export class AmqpDeadLetters implements DeadLetterStore {
  private readonly declared = new Set<string>();

  constructor(private readonly host: DeadLetterHost) {}

  /**
   * Publishes `message`, as received from `queue`, to the queue's dead letters; resolves once RabbitMQ
   * has confirmed it, so the caller may then ack the original. Its `expiration` is dropped: it would
   * expire the dead letter (the worker still honours the `expires` header after a redrive).
   */
  async bury(queue: string, message: WireMessage, reason: RejectReason): Promise<void> {
    const headers = { ...message.headers, [HEADERS.queue]: queue, [HEADERS.code]: reason.code, [HEADERS.reason]: reason.message, [HEADERS.at]: Date.now() };
    const properties = toAmqpProperties({ ...message, headers });
    delete properties.expiration;
    const content = Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength);
    const target = { exchange: DEAD_LETTER_EXCHANGE, routingKey: queue };
    try {
      await this.declare(queue);
      await this.host.publisher().publish(target, content, properties);
    } catch (error) {
      // Declared again next time: the exchange or queue may have been deleted since.
      this.declared.delete(queue);
      if (!(error instanceof CeleriacError && error.code === "PUBLISH_UNROUTABLE")) throw error;
      await this.declare(queue);
      await this.host.publisher().publish(target, content, properties);
    }
  }

  async list(queue: string, limit: number): Promise<DeadLetter[]> {
    return this.withQueue(queue, [], async (channel) => {
      const letters: DeadLetter[] = [];
      while (letters.length < limit) {
        const got = await channel.get(deadLetterQueue(queue));
        if (!got) break;
        letters.push(toDeadLetter(queue, got));
      }
      // Not acked: closing the channel hands them back to the queue, in their places.
      return letters;
    });
  }

  async redrive(queue: string, limit: number): Promise<number> {
    return this.withQueue(queue, 0, async (channel) => {
      // At most what is there now: a message dead-lettered again while this runs is not taken twice.
      const present = (await channel.checkQueue(deadLetterQueue(queue))).messageCount;
      let moved = 0;
      while (moved < Math.min(limit, present)) {
        const got = await channel.get(deadLetterQueue(queue));
        if (!got) break;
        const message = withoutBookkeeping(fromAmqpMessage(got.content, got.properties));
        try {
          await this.host.publish(queue, message);
        } catch (error) {
          channel.nack(got, false, true);
          throw error;
        }
        // Acked only once the queue holds it again (a confirmed publish): nothing is lost in between.
        channel.ack(got);
        moved++;
      }
      return moved;
    });
  }

  async purge(queue: string): Promise<number> {
    return this.withQueue(queue, 0, async (channel) => (await channel.purgeQueue(deadLetterQueue(queue))).messageCount);
  }

  private async declare(queue: string): Promise<void> {
    if (this.declared.has(queue)) return;
    const channel = await this.host.admin();
    const dlq = deadLetterQueue(queue);
    await channel.assertExchange(DEAD_LETTER_EXCHANGE, "direct", { durable: true });
    await channel.assertQueue(dlq, { durable: true, arguments: this.host.queueType === "quorum" ? { "x-queue-type": "quorum" } : {} });
    await channel.bindQueue(dlq, DEAD_LETTER_EXCHANGE, queue);
    this.declared.add(queue);
  }

  /** Runs `fn` on a channel of its own when `queue` has a dead-letter queue, else returns `none`. */
  private async withQueue<T>(queue: string, none: T, fn: (channel: Channel) => Promise<T>): Promise<T> {
    const probe = await this.host.channel();
    probe.on("error", () => undefined);
    try {
      await probe.checkQueue(deadLetterQueue(queue));
    } catch (error) {
      // 404 (which closes the probe's channel): the queue never had a dead letter.
      if (/NOT_FOUND/.test((error as Error).message)) return none;
      throw error;
    } finally {
      await probe.close().catch(() => undefined);
    }
    const channel = await this.host.channel();
    channel.on("error", () => undefined);
    try {
      return await fn(channel);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }
}

function toDeadLetter(queue: string, got: GetMessage): DeadLetter {
  const message = fromAmqpMessage(got.content, got.properties);
  const text = (name: string, fallback: string): string => {
    const value = message.headers[name];
    return typeof value === "string" ? value : fallback;
  };
  const at = message.headers[HEADERS.at];
  return {
    queue: text(HEADERS.queue, queue),
    code: text(HEADERS.code, "DEAD_LETTER_UNREADABLE"),
    reason: text(HEADERS.reason, "a message Celeriac did not dead-letter"),
    at: new Date(typeof at === "number" ? at : 0),
    message: withoutBookkeeping(message),
  };
}

/**
 * The message as its producer sent it: our dead-letter headers, RabbitMQ's x-death ones and the delivery
 * counts (of the dead-letter queue's own redeliveries, as list() hands letters back) removed.
 */
function withoutBookkeeping(message: WireMessage): WireMessage {
  for (const name of Object.keys(message.headers)) if (OWN_HEADERS.has(name) || isDeathHeader(name)) delete message.headers[name];
  dropDeliveryCount(message.headers);
  return message;
}
