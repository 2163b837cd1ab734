// The RabbitMQ broker (`amqp://`, `amqps://`): Celery's topology and message properties, publisher
// confirms, delays parked in the broker, and recovery of topology and consumers after a reconnect.
// Channels are fixed whatever the concurrency: declarations, publishing, one per consume() call, control.
import type { Channel, ConsumeMessage } from "amqplib";
import type { Broker, BrokerCapabilities, BrokerOptions, ConsumeOptions, Consumer, ControlMessage, Delivery, DeliveryHandler, PublishOptions } from "../broker.ts";
import type { WireMessage } from "../../protocol/message.ts";
import { fromAmqpMessage, isDeathHeader, toAmqpProperties } from "../../protocol/amqp-properties.ts";
import { leaseAmqpConnection, type AmqpConnectionLease, type SetupStep } from "../../connection/amqp.ts";
import { ConfirmPublisher } from "../../connection/amqp-publisher.ts";
import { ConnectionError } from "../../util/errors.ts";
import { bindDelayDestination, declareDelayTopology, delayRoutingKey, entryExchange, type DelayTopologyOptions } from "./delay.ts";
import { ControlSubscription, encodeControl, PIDBOX_EXCHANGE } from "./control.ts";
import { DEFAULT_TRANSPORT_OPTIONS, declareDeadLetter, declareTaskQueue, explainDeclareError, validateTransportOptions, type AmqpTransportOptions } from "./topology.ts";

/** BrokerOptions plus the RabbitMQ settings (each defaults as in DEFAULT_TRANSPORT_OPTIONS). */
export interface AmqpBrokerOptions extends BrokerOptions {
  amqp?: Partial<AmqpTransportOptions>;
  /** Connection name shown by RabbitMQ (`client_properties.connection_name`). Default "celeriac pid <pid>". */
  connectionName?: string;
}

interface ConsumerState {
  queues: readonly string[];
  handler: DeliveryHandler;
  prefetch: number;
  channel: Channel | null;
  active: boolean;
  unsettled: number;
}

export class AmqpBroker implements Broker {
  readonly capabilities: BrokerCapabilities;
  readonly transport: AmqpTransportOptions;
  private lease: AmqpConnectionLease | null = null;
  private publisher: ConfirmPublisher | null = null;
  private adminChannel: Channel | null = null;
  private adminOpening: Promise<Channel> | null = null;
  private removeSetup: (() => void) | null = null;
  private readonly declared = new Set<string>();
  private readonly delayBound = new Set<string>();
  private delayDeclared = false;
  private readonly consumers = new Set<ConsumerState>();
  private control: ControlSubscription | null = null;

  constructor(
    private readonly url: string,
    private readonly options: AmqpBrokerOptions,
  ) {
    this.transport = validateTransportOptions({ ...DEFAULT_TRANSPORT_OPTIONS, ...options.amqp });
    this.capabilities = { nativeDelay: true, priorities: this.transport.maxPriority !== null, confirms: true, control: true };
  }

  private get delayOptions(): DelayTopologyOptions {
    return { namespace: this.transport.delayNamespace, queueType: this.transport.queueType };
  }

  async connect(): Promise<void> {
    if (this.lease) return;
    const lease = leaseAmqpConnection(this.url, {
      heartbeatSeconds: this.options.heartbeatSeconds,
      connectionTimeoutMs: this.options.connectionTimeoutMs,
      maxRetries: this.options.connectionMaxRetries,
      log: this.options.log,
      ...(this.options.connectionName ? { connectionName: this.options.connectionName } : {}),
    });
    try {
      await lease.connection.open();
    } catch (error) {
      await lease.release();
      throw error;
    }
    this.lease = lease;
    this.publisher = new ConfirmPublisher(lease.connection, this.options.connectionTimeoutMs, this.options.log);
    this.removeSetup = await lease.connection.addSetup(this.restore);
    const admin = await this.admin();
    await declareDeadLetter(admin, this.transport);
  }

  async declareQueue(queue: string): Promise<void> {
    const channel = await this.admin();
    try {
      await declareTaskQueue(channel, queue, this.transport);
    } catch (error) {
      throw explainDeclareError(queue, error);
    }
    this.declared.add(queue);
  }

  async publish(queue: string, message: WireMessage, options: PublishOptions = {}): Promise<void> {
    const publisher = this.requirePublisher();
    const properties = toAmqpProperties(message);
    const content = Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength);
    const delayMs = options.notBefore === undefined ? 0 : options.notBefore - Date.now();
    if (delayMs <= 0) {
      // Celery publishes tasks to the default exchange with routing key = queue name (fixtures).
      await publisher.publish({ exchange: "", routingKey: queue }, content, properties);
      return;
    }
    await this.ensureDelayRoute(queue);
    // A per-message TTL would expire the message out of the ladder early; the worker still honours the
    // `expires` header when the message arrives.
    delete properties.expiration;
    await publisher.publish({ exchange: entryExchange(this.delayOptions), routingKey: delayRoutingKey(delayMs, queue) }, content, properties);
  }

  async consume(queues: readonly string[], handler: DeliveryHandler, options: ConsumeOptions): Promise<Consumer> {
    const model = await this.requireLease().connection.ready();
    const state: ConsumerState = { queues, handler, prefetch: Math.max(1, options.prefetch), channel: null, active: true, unsettled: 0 };
    this.consumers.add(state);
    try {
      await this.startConsumer(state, await model.createChannel());
    } catch (error) {
      this.consumers.delete(state);
      throw error;
    }
    return {
      cancel: async () => {
        if (!state.active) return;
        state.active = false;
        this.consumers.delete(state);
        const channel = state.channel;
        if (!channel) return;
        const tags = (channel as Channel & { consumerTags?: string[] }).consumerTags ?? [];
        for (const tag of tags) await channel.cancel(tag).catch(() => undefined);
        // Deliveries already received stay settleable: the channel closes when the last one settles.
        if (state.unsettled === 0) await channel.close().catch(() => undefined);
      },
    };
  }

  async purge(queue: string): Promise<number> {
    const channel = await this.admin();
    return (await channel.purgeQueue(queue)).messageCount;
  }

  async length(queue: string): Promise<number> {
    const channel = await this.admin();
    try {
      return (await channel.checkQueue(queue)).messageCount;
    } catch (error) {
      // 404 NOT_FOUND closes the channel; a queue that does not exist holds nothing.
      if (/NOT_FOUND/.test((error as Error).message)) return 0;
      throw error;
    }
  }

  /** Deletes a queue and its same-named exchange (tests, `celeriac purge --delete`). */
  async deleteQueue(queue: string): Promise<void> {
    const channel = await this.admin();
    await channel.deleteQueue(queue);
    await channel.deleteExchange(queue);
    this.declared.delete(queue);
    this.delayBound.delete(queue);
  }

  /** Runs `fn` on this broker's declaration channel (tests and admin commands). */
  async withAdminChannel<T>(fn: (channel: Channel) => Promise<T>): Promise<T> {
    return fn(await this.admin());
  }

  async broadcast(message: ControlMessage): Promise<void> {
    const admin = await this.admin();
    await admin.assertExchange(PIDBOX_EXCHANGE, "fanout", { durable: false });
    // Same headers as kombu's Mailbox._publish; not mandatory: no listener is not an error.
    await this.requirePublisher().publish({ exchange: PIDBOX_EXCHANGE, routingKey: "", mandatory: false }, encodeControl(message), {
      contentType: "application/json",
      contentEncoding: "utf-8",
      headers: { clock: { "!": "int", value: 1 }, expires: { "!": "int", value: 0 } },
      deliveryMode: 2,
      priority: 0,
    });
  }

  async onControl(listener: (message: ControlMessage) => void): Promise<() => Promise<void>> {
    if (!this.control) {
      const control = new ControlSubscription(this.options.log);
      const model = await this.requireLease().connection.ready();
      await control.start(await model.createChannel());
      this.control = control;
    }
    const control = this.control;
    control.listeners.add(listener);
    return async () => {
      control.listeners.delete(listener);
      if (control.listeners.size === 0 && this.control === control) {
        this.control = null;
        await control.stop();
      }
    };
  }

  async close(): Promise<void> {
    const lease = this.lease;
    if (!lease) return;
    this.lease = null;
    this.removeSetup?.();
    for (const state of this.consumers) {
      state.active = false;
      // Closing the channel hands its unacked deliveries back to the queue (AMQP semantics).
      await state.channel?.close().catch(() => undefined);
    }
    this.consumers.clear();
    await this.control?.stop();
    this.control = null;
    await this.publisher?.close();
    await this.adminChannel?.close().catch(() => undefined);
    this.adminChannel = null;
    await lease.release();
  }

  /** After a reconnection: redeclare what this broker declared, then resume its consumers. */
  private readonly restore: SetupStep = async (model) => {
    this.adminChannel = null;
    if (this.declared.size || this.delayDeclared) {
      const channel = await model.createChannel();
      await declareDeadLetter(channel, this.transport);
      for (const queue of this.declared) await declareTaskQueue(channel, queue, this.transport);
      if (this.delayDeclared) await declareDelayTopology(channel, this.delayOptions);
      for (const queue of this.delayBound) await bindDelayDestination(channel, this.delayOptions, queue);
      await channel.close();
    }
    for (const state of this.consumers) if (state.active) await this.startConsumer(state, await model.createChannel());
    if (this.control) await this.control.start(await model.createChannel());
  };

  private async ensureDelayRoute(queue: string): Promise<void> {
    if (this.delayBound.has(queue)) return;
    const channel = await this.admin();
    if (!this.delayDeclared) {
      await declareDelayTopology(channel, this.delayOptions);
      this.delayDeclared = true;
    }
    await bindDelayDestination(channel, this.delayOptions, queue);
    this.delayBound.add(queue);
  }

  private async startConsumer(state: ConsumerState, channel: Channel): Promise<void> {
    state.channel = channel;
    state.unsettled = 0;
    channel.on("error", (error: Error) => this.options.log("warn", `consumer channel error: ${error.message}`));
    const generation = this.requireLease().connection.generation;
    channel.on("close", () => {
      // A channel closed by the server while the connection lives (e.g. RabbitMQ's consumer timeout, a
      // deleted queue): resume on a new channel. After a connection loss, restore() does it instead.
      setTimeout(() => {
        const lease = this.lease;
        if (!lease || !state.active || state.channel !== channel || lease.connection.generation !== generation || !lease.connection.connected) return;
        this.options.log("warn", `consumer channel for ${state.queues.join(", ")} closed by the server; resuming`);
        lease.connection
          .ready()
          .then(async (model) => this.startConsumer(state, await model.createChannel()))
          .catch((error: Error) => this.options.log("error", `cannot resume consuming: ${error.message}`));
      }, 250).unref();
    });
    // Classic queues: one limit shared by every queue of this consume() call (Celery sets global QoS on
    // RabbitMQ). Quorum queues refuse global QoS, so there the limit applies per queue.
    await channel.prefetch(state.prefetch, this.transport.queueType === "classic");
    const tags: string[] = [];
    for (const queue of state.queues) {
      const reply = await channel.consume(queue, (raw) => this.onMessage(state, channel, queue, raw));
      tags.push(reply.consumerTag);
    }
    (channel as Channel & { consumerTags?: string[] }).consumerTags = tags;
  }

  private onMessage(state: ConsumerState, channel: Channel, queue: string, raw: ConsumeMessage | null): void {
    if (!raw) {
      // basic.cancel from the server: the queue was deleted or its leader moved; we resume on reconnect.
      this.options.log("warn", `RabbitMQ cancelled the consumer of queue "${queue}"`);
      return;
    }
    const message = fromAmqpMessage(raw.content, raw.properties);
    for (const name of Object.keys(message.headers)) if (isDeathHeader(name)) delete message.headers[name];
    state.unsettled++;
    let settled = false;
    const settle = (action: () => void): void => {
      if (settled) return;
      settled = true;
      state.unsettled--;
      if (state.channel !== channel) {
        // The channel died with the connection: RabbitMQ already requeued this message.
        this.options.log("warn", `a delivery from "${queue}" could not be settled: its channel closed (the broker redelivers it)`);
        return;
      }
      try {
        action();
      } catch (error) {
        this.options.log("warn", `settling a delivery from "${queue}" failed: ${(error as Error).message}`);
      }
      if (!state.active && state.unsettled === 0) channel.close().catch(() => undefined);
    };
    const delivery: Delivery = {
      message,
      queue,
      redelivered: raw.fields.redelivered,
      ack: async () => settle(() => channel.ack(raw)),
      reject: async ({ requeue }) => settle(() => channel.nack(raw, false, requeue)),
    };
    try {
      state.handler(delivery);
    } catch (error) {
      this.options.log("error", `delivery handler threw: ${(error as Error).message}`);
    }
  }

  private async admin(): Promise<Channel> {
    if (this.adminChannel) return this.adminChannel;
    const connection = this.requireLease().connection;
    this.adminOpening ??= (async () => {
      const channel = await (await connection.ready()).createChannel();
      // A failed declare or check (404, 406) closes the channel; the next call opens a fresh one.
      channel.on("error", () => undefined);
      channel.on("close", () => {
        if (this.adminChannel === channel) this.adminChannel = null;
      });
      this.adminChannel = channel;
      return channel;
    })().finally(() => (this.adminOpening = null));
    return this.adminOpening;
  }

  private requireLease(): AmqpConnectionLease {
    if (!this.lease) throw new ConnectionError("the AMQP broker is not connected; call connect() first");
    return this.lease;
  }

  private requirePublisher(): ConfirmPublisher {
    this.requireLease();
    return this.publisher as ConfirmPublisher;
  }
}

/** BrokerFactory for amqp:// and amqps://. Example: `createAmqpBroker("amqp://guest:guest@localhost:5672//", options)`. */
export function createAmqpBroker(url: string, options: BrokerOptions): AmqpBroker {
  return new AmqpBroker(url, options);
}
