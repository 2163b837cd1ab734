// One consume() call on RabbitMQ: a channel of its own consuming every requested queue under one prefetch
// limit, deliveries turned into settle-once Delivery objects that turn stale when their channel closes,
// and the channel reopened when the server closes it (consumer timeout, deleted queue) while the
// connection lives.
import type { Channel, ConsumeMessage } from "amqplib";
import type { Delivery, DeliveryHandler, RejectReason } from "../broker.ts";
import type { WireMessage } from "../../protocol/message.ts";
import type { AmqpConnection } from "../../connection/amqp.ts";
import { fromAmqpMessage, isDeathHeader } from "../../protocol/amqp-properties.ts";
import { takeDeliveryCount, withDeliveryCount } from "./delivery-count.ts";

type Log = (level: "info" | "warn" | "error", message: string) => void;

/** Whether a channel still lives; shared by its deliveries, so `stale` is one property read. */
interface ChannelLife {
  closed: boolean;
}

export interface QueueConsumerOptions {
  /** At most this many unsettled deliveries on the channel. */
  prefetch: number;
  /**
   * Classic queues: one limit shared by every queue of the consume() call (Celery sets global QoS on
   * RabbitMQ). Quorum queues refuse global QoS, so there the limit applies per queue.
   */
  globalPrefetch: boolean;
  log: Log;
  /** Publishes a message given up with a reason to its queue's dead letters; resolves once confirmed. */
  bury: (queue: string, message: WireMessage, reason: RejectReason) => Promise<void>;
  /**
   * Classic queues: publishes a requeued message back to its queue (confirmed), to carry its delivery
   * count (delivery-count.ts). Null for quorum queues, which count requeues themselves.
   */
  republish: ((queue: string, message: WireMessage) => Promise<void>) | null;
}

export class QueueConsumer {
  private channel: Channel | null = null;
  private life: ChannelLife = { closed: false };
  private tags: string[] = [];
  private unsettled = 0;
  /** False once cancelled or closed: no resuming, and the channel closes when the last delivery settles. */
  active = true;

  constructor(
    private readonly connection: AmqpConnection,
    readonly queues: readonly string[],
    private readonly handler: DeliveryHandler,
    private readonly options: QueueConsumerOptions,
  ) {}

  /** Consumes on `channel`; called at consume() and, with a fresh channel, after every reconnection. */
  async start(channel: Channel): Promise<void> {
    this.channel = channel;
    this.unsettled = 0;
    this.tags = [];
    channel.on("error", (error: Error) => this.options.log("warn", `consumer channel error: ${error.message}`));
    const generation = this.connection.generation;
    const life: ChannelLife = { closed: false };
    this.life = life;
    channel.on("close", () => {
      // RabbitMQ requeues a closed channel's unacked deliveries at once (a restarted broker recovers
      // them with its queues): from now on they are the broker's, not ours to start or settle.
      life.closed = true;
      // A channel closed by the server while the connection lives (e.g. RabbitMQ's consumer timeout, a
      // deleted queue): resume on a new channel. After a connection loss, the broker's restore step does it.
      setTimeout(() => {
        if (!this.active || this.channel !== channel || this.connection.generation !== generation || !this.connection.connected) return;
        this.options.log("warn", `consumer channel for ${this.queues.join(", ")} closed by the server; resuming`);
        this.connection
          .ready()
          .then(async (model) => this.start(await model.createChannel()))
          .catch((error: Error) => this.options.log("error", `cannot resume consuming: ${error.message}`));
      }, 250).unref();
    });
    await channel.prefetch(this.options.prefetch, this.options.globalPrefetch);
    for (const queue of this.queues) {
      const reply = await channel.consume(queue, (raw) => this.onMessage(channel, life, queue, raw));
      if (this.channel === channel) this.tags.push(reply.consumerTag);
    }
  }

  /** Stops new deliveries; those already received stay settleable and the channel closes after the last. */
  async cancel(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    const channel = this.channel;
    if (!channel) return;
    for (const tag of this.tags) await channel.cancel(tag).catch(() => undefined);
    if (this.unsettled === 0) await channel.close().catch(() => undefined);
  }

  /** Closes the channel now: RabbitMQ hands its unacked deliveries back to the queue (AMQP semantics). */
  async close(): Promise<void> {
    this.active = false;
    // Stale from now, not from the close-ok: a settle in between would throw on the closing channel.
    this.life.closed = true;
    await this.channel?.close().catch(() => undefined);
  }

  private onMessage(channel: Channel, life: ChannelLife, queue: string, raw: ConsumeMessage | null): void {
    if (!raw) {
      // basic.cancel from the server: the queue was deleted or its leader moved; we resume on reconnect.
      this.options.log("warn", `RabbitMQ cancelled the consumer of queue "${queue}"`);
      return;
    }
    const message = fromAmqpMessage(raw.content, raw.properties);
    for (const name of Object.keys(message.headers)) if (isDeathHeader(name)) delete message.headers[name];
    const deliveryCount = takeDeliveryCount(message.headers, raw.fields.redelivered);
    this.unsettled++;
    let settled = false;
    // Claimed at once, settled when done: a dead letter is acked only after its publish is confirmed.
    const claim = (): boolean => {
      if (settled) return false;
      settled = true;
      return true;
    };
    const settle = (action: () => void): void => {
      // A stale delivery: its delivery tag died with the channel and RabbitMQ already requeued the
      // message; whoever holds it counts and reports it (the worker does). Not counted against a new
      // channel, whose count started at zero.
      if (life.closed) return;
      this.unsettled--;
      try {
        action();
      } catch (error) {
        this.options.log("warn", `settling a delivery from "${queue}" failed: ${(error as Error).message}`);
      }
      if (!this.active && this.unsettled === 0) channel.close().catch(() => undefined);
    };
    const delivery: Delivery = {
      message,
      queue,
      // A classic queue's requeue is a fresh publish, which RabbitMQ does not mark: the count does.
      redelivered: deliveryCount > 1,
      deliveryCount,
      get stale() {
        return life.closed;
      },
      ack: async () => {
        if (claim()) settle(() => channel.ack(raw));
      },
      reject: async ({ requeue, reason }) => {
        if (!claim()) return;
        if (requeue && this.options.republish && !life.closed) {
          return this.requeueCounted(queue, withDeliveryCount(message, deliveryCount), () => settle(() => channel.ack(raw)), () => settle(() => channel.nack(raw, false, true)));
        }
        if (requeue || !reason || life.closed) return settle(() => channel.nack(raw, false, requeue));
        try {
          await this.options.bury(queue, message, reason);
        } catch (error) {
          // Not in the dead letters: give it back rather than lose it.
          settle(() => channel.nack(raw, false, true));
          throw error;
        }
        settle(() => channel.ack(raw));
      },
    };
    try {
      this.handler(delivery);
    } catch (error) {
      this.options.log("error", `delivery handler threw: ${(error as Error).message}`);
    }
  }

  /**
   * A classic queue's requeue: the message goes back to the end of its queue as a confirmed re-publish
   * carrying its delivery count, and only then is the original acked (a nack would requeue it with no
   * count, and a poison message would loop unseen). Should the publish fail, a plain nack returns it.
   * A connection lost between the two leaves both copies: at least once, as everywhere.
   */
  private async requeueCounted(queue: string, counted: WireMessage, ack: () => void, nack: () => void): Promise<void> {
    try {
      await (this.options.republish as NonNullable<QueueConsumerOptions["republish"]>)(queue, counted);
    } catch (error) {
      this.options.log("warn", `could not requeue a message to "${queue}" with its delivery count (${(error as Error).message}); requeued uncounted`);
      return nack();
    }
    ack();
  }
}
