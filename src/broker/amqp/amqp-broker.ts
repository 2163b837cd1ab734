// The RabbitMQ broker (`amqp://`, `amqps://`, `pyamqp://`): Celery's topology and message properties,
// publisher confirms, delays parked in the broker, and recovery of topology and consumers after a
// reconnect. Channels are fixed whatever the concurrency: declarations, publishing, one per consume()
// call (consumer.ts), control. Settings come from the app's brokerTransportOptions (transport-options.ts).
import type { Channel } from "amqplib";
import type { Broker, BrokerCapabilities, BrokerOptions, ConnectOptions, ConsumeOptions, Consumer, ControlMessage, DeliveryHandler, PublishOptions } from "../broker.ts";
import type { WireMessage } from "../../protocol/message.ts";
import { toAmqpProperties } from "../../protocol/amqp-properties.ts";
import type { SetupStep } from "../../connection/amqp.ts";
import { openAmqpSession, type AmqpSession } from "../../connection/amqp-session.ts";
import { ConnectionError } from "../../util/errors.ts";
import { bindDelayDestination, declareDelayTopology, delayRoutingKey, entryExchange, type DelayTopologyOptions } from "./delay.ts";
import { ControlSubscription, encodeControl, PIDBOX_EXCHANGE } from "./control.ts";
import { declareDeadLetter, declareTaskQueue, explainDeclareError } from "./topology.ts";
import { QueueConsumer } from "./consumer.ts";
import { AmqpDeadLetters } from "./dead-letters.ts";
import { parseTransportOptions, type AmqpTransportOptions } from "./transport-options.ts";

export class AmqpBroker implements Broker {
  readonly capabilities: BrokerCapabilities;
  /** The validated brokerTransportOptions, defaults filled in. */
  readonly transport: Readonly<AmqpTransportOptions>;
  private session: AmqpSession | null = null;
  private adminChannel: Channel | null = null;
  private adminOpening: Promise<Channel> | null = null;
  private removeSetup: (() => void) | null = null;
  private stopWatching: (() => void) | null = null;
  private readonly declared = new Set<string>();
  private readonly delayBound = new Set<string>();
  private delayDeclared = false;
  private readonly consumers = new Set<QueueConsumer>();
  private control: ControlSubscription | null = null;
  /** Dead letters, published explicitly to `celeriac.dead-letter` (see dead-letters.ts). */
  readonly deadLetters: AmqpDeadLetters;

  constructor(
    private readonly url: string,
    private readonly options: BrokerOptions,
  ) {
    this.transport = parseTransportOptions(options.transportOptions);
    this.capabilities = { nativeDelay: true, priorities: this.transport.maxPriority !== null, confirms: true, control: true, deadLetters: true };
    this.deadLetters = new AmqpDeadLetters({
      admin: () => this.admin(),
      channel: async () => (await this.requireSession().connection.ready()).createChannel(),
      publisher: () => this.requireSession().publisher,
      publish: (queue, message) => this.publish(queue, message),
      queueType: this.transport.queueType,
    });
  }

  private get delayOptions(): DelayTopologyOptions {
    return { namespace: this.transport.delayNamespace, queueType: this.transport.queueType };
  }

  async connect(wait: ConnectOptions = {}): Promise<void> {
    if (this.session) return;
    const session = await openAmqpSession(this.url, {
      heartbeatSeconds: this.options.heartbeatSeconds,
      connectionTimeoutMs: this.options.connectionTimeoutMs,
      maxRetries: this.options.connectionMaxRetries,
      log: this.options.log,
      ...(this.transport.connectionName !== null ? { connectionName: this.transport.connectionName } : {}),
    }, wait);
    this.session = session;
    try {
      this.removeSetup = await session.connection.addSetup(this.restore);
      const admin = await this.admin();
      await declareDeadLetter(admin, this.transport);
    } catch (error) {
      await this.close();
      throw error;
    }
    if (this.options.onConnectionLost) this.stopWatching = session.connection.onFailure(this.options.onConnectionLost);
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
    const publisher = this.requireSession().publisher;
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
    const connection = this.requireSession().connection;
    const model = await connection.ready();
    const consumer = new QueueConsumer(connection, queues, handler, {
      prefetch: Math.max(1, options.prefetch),
      globalPrefetch: this.transport.queueType === "classic",
      log: this.options.log,
      bury: (queue, message, reason) => this.deadLetters.bury(queue, message, reason),
      republish: this.transport.queueType === "classic" ? (queue, message) => this.publish(queue, message) : null,
    });
    this.consumers.add(consumer);
    try {
      await consumer.start(await model.createChannel());
    } catch (error) {
      this.consumers.delete(consumer);
      throw error;
    }
    return {
      cancel: async () => {
        this.consumers.delete(consumer);
        await consumer.cancel();
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
    await this.requireSession().publisher.publish({ exchange: PIDBOX_EXCHANGE, routingKey: "", mandatory: false }, encodeControl(message), {
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
      const model = await this.requireSession().connection.ready();
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
    const session = this.session;
    if (!session) return;
    this.session = null;
    this.removeSetup?.();
    this.stopWatching?.();
    for (const consumer of this.consumers) await consumer.close();
    this.consumers.clear();
    await this.control?.stop();
    this.control = null;
    await this.adminChannel?.close().catch(() => undefined);
    this.adminChannel = null;
    await session.close();
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
    for (const consumer of this.consumers) if (consumer.active) await consumer.start(await model.createChannel());
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

  private async admin(): Promise<Channel> {
    if (this.adminChannel) return this.adminChannel;
    const connection = this.requireSession().connection;
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

  private requireSession(): AmqpSession {
    if (!this.session) throw new ConnectionError("the AMQP broker is not connected; call connect() first");
    return this.session;
  }
}

/**
 * BrokerFactory for amqp://, amqps:// and pyamqp://. Example:
 * `createAmqpBroker("amqp://guest:guest@localhost:5672//", { ...options, transportOptions: { maxPriority: 10 } })`.
 */
export function createAmqpBroker(url: string, options: BrokerOptions): AmqpBroker {
  return new AmqpBroker(url, options);
}
