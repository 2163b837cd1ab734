// The Redis broker (`redis://`, `rediss://`, `unix://`): messages sit in kombu's layout (queue lists,
// priority sub-lists, JSON envelopes) so Python Celery shares its queues, our claims in a pair of our
// own (celeriac.unacked); with `messageFormat: "compact"` it stores Celeriac's compact messages instead.
// Connections: the process's shared command connection, plus one blocking connection once consuming and
// the shared subscriber for control broadcasts (see connection/redis.ts for the budget).
import type { Redis } from "ioredis";
import type { Broker, BrokerCapabilities, BrokerOptions, ConnectOptions, ConsumeOptions, Consumer, ControlMessage, DeliveryHandler, PublishOptions } from "../broker.ts";
import type { WireMessage } from "../../protocol/message.ts";
import { fromKombuEnvelope, toKombuEnvelope } from "../../protocol/kombu-envelope.ts";
import { PRIORITY_STEPS } from "../../protocol/priority.ts";
import { type RedisLease, type RedisTarget, bounded, closeClient, createRedisClient, leaseCommandClient, parseRedisUrl, readyOrRelease, watchFailure, whenReady } from "../../connection/redis.ts";
import { type SubscriberHub, leaseSubscriberHub } from "../../connection/redis-pubsub.ts";
import { ConnectionError } from "../../util/errors.ts";
import { KEYS, bindingMember, queueKey, runScript } from "./scripts.ts";
import { type ConsumerHost, type FetchedItem, type InflightList, RedisConsumer } from "./consumer.ts";
import { Maintenance } from "./maintenance.ts";
import { warnIfNotPersistent } from "./persistence.ts";
import { RedisDeadLetters } from "./dead-letters.ts";
import { AckBatch, CLAIM_KEYS, blockingFetchClaimed, fetchClaimed } from "./claims.ts";
import { encodeStored, newDeliveryTag } from "./format.ts";
import { type RedisTransportOptions, parseRedisTransportOptions } from "./transport-options.ts";

/** Envelopes per LPUSH in publishMany: bounds one command's size (and Redis's time in it). */
const PUBLISH_MANY_CHUNK = 1000;

export class RedisBroker implements Broker, ConsumerHost {
  readonly capabilities: BrokerCapabilities = { nativeDelay: true, priorities: true, confirms: true, control: true, deadLetters: true };
  private readonly target: RedisTarget;
  private lease: RedisLease | null = null;
  private blocking: Redis | null = null;
  private blockingId: number | null = null;
  private hub: SubscriberHub | null = null;
  private readonly consumers = new Set<RedisConsumer>();
  private readonly declared = new Set<string>();
  /** Delivery tags handed out and not yet settled: kept alive, and restored at close. */
  readonly inflight = new Set<string>();
  private readonly acks: AckBatch;
  private maintenance: Maintenance | null = null;
  /** brokerTransportOptions, checked; `format` is how this broker stores what it publishes. */
  private readonly transport: Readonly<RedisTransportOptions>;
  readonly format: RedisTransportOptions["messageFormat"];
  readonly deadLetters: RedisDeadLetters;

  constructor(url: string, private readonly options: BrokerOptions) {
    this.target = parseRedisUrl(url);
    this.transport = parseRedisTransportOptions(options.transportOptions);
    this.format = this.transport.messageFormat;
    this.deadLetters = new RedisDeadLetters(() => this.client, this.transport.deadLetterLimit, options.connectionTimeoutMs);
    this.acks = new AckBatch(() => this.client, options.connectionTimeoutMs);
  }

  /**
   * `operation` (a command already sent), failing with a ConnectionError when Redis has not answered
   * within brokerConnectionTimeout: a lost, stalled or half-open connection never leaves a caller waiting.
   */
  private within<T>(operation: Promise<T>, what: string): Promise<T> {
    return bounded(operation, Date.now() + this.options.connectionTimeoutMs, what);
  }

  private get client(): Redis {
    if (!this.lease) throw new ConnectionError(`redis broker ${this.target.display}: not connected (call connect() first)`);
    return this.lease.client;
  }

  async connect(wait: ConnectOptions = {}): Promise<void> {
    const lease = (this.lease ??= leaseCommandClient(this.target, this.options, this.options.onConnectionLost));
    await readyOrRelease(lease, wait.timeoutMs ?? this.options.connectionTimeoutMs, `connect to ${this.target.display}`, wait.signal).catch((error: unknown) => {
      if (this.lease === lease) this.lease = null;
      throw error;
    });
  }

  async declareQueue(queue: string): Promise<void> {
    await this.within(this.client.sadd(KEYS.binding(queue), bindingMember(queue)), `declare "${queue}"`);
    this.declared.add(queue);
  }

  async publish(queue: string, message: WireMessage, options: PublishOptions = {}): Promise<void> {
    const client = this.client;
    const deadline = Date.now() + this.options.connectionTimeoutMs;
    if (client.status !== "ready") await whenReady(client, this.options.connectionTimeoutMs, `publish to "${queue}"`);
    const envelope = encodeStored(this.format, queue, message);
    const key = queueKey(queue, message.properties.priority);
    const due = options.notBefore !== undefined && options.notBefore > Date.now();
    if (!due && this.declared.has(queue)) {
      // The common case: one LPUSH, which the auto-pipelined connection batches with this tick's others.
      // Bounded: a connection lost after whenReady() must not leave the publish waiting for the reconnect.
      await bounded(client.lpush(key, envelope), deadline, `publish to "${queue}"`);
      return;
    }
    const pipeline = client.pipeline();
    // kombu producers declare (bind) a queue before their first publish; so do we, once per broker.
    if (!this.declared.has(queue)) pipeline.sadd(KEYS.binding(queue), bindingMember(queue));
    if (due) {
      pipeline.zadd(KEYS.delayed, options.notBefore as number, `${key}\0${envelope}`);
      this.maintenance?.promoteBy(options.notBefore as number);
    } else {
      pipeline.lpush(key, envelope);
    }
    // Bounded: a connection lost after whenReady() must not leave the publish waiting for the reconnect.
    const results = await bounded(pipeline.exec(), deadline, `publish to "${queue}"`);
    for (const [error] of results ?? []) if (error) throw error;
    this.declared.add(queue);
  }

  /**
   * Bulk publish (the benchmark's and applyMany's path): every envelope in one pipeline, one LPUSH per
   * priority list and chunk of PUBLISH_MANY_CHUNK, in the order given, so consumers see them as if
   * published one by one. Stored in the broker's message format: with the default ("celery") a Python
   * worker consumes them as usual.
   */
  async publishMany(queue: string, messages: readonly WireMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const client = this.client;
    const deadline = Date.now() + this.options.connectionTimeoutMs;
    await whenReady(client, this.options.connectionTimeoutMs, `publish to "${queue}"`);
    const byKey = new Map<string, string[]>();
    for (const message of messages) {
      const key = queueKey(queue, message.properties.priority);
      let envelopes = byKey.get(key);
      if (!envelopes) byKey.set(key, (envelopes = []));
      envelopes.push(encodeStored(this.format, queue, message));
    }
    const pipeline = client.pipeline();
    if (!this.declared.has(queue)) pipeline.sadd(KEYS.binding(queue), bindingMember(queue));
    for (const [key, envelopes] of byKey) {
      for (let start = 0; start < envelopes.length; start += PUBLISH_MANY_CHUNK) pipeline.lpush(key, ...envelopes.slice(start, start + PUBLISH_MANY_CHUNK));
    }
    // Bounded: a connection lost after whenReady() must not leave the publish waiting for the reconnect.
    const results = await bounded(pipeline.exec(), deadline, `publish to "${queue}"`);
    for (const [error] of results ?? []) if (error) throw error;
    this.declared.add(queue);
  }

  async consume(queues: readonly string[], handler: DeliveryHandler, options: ConsumeOptions): Promise<Consumer> {
    void this.client; // throws when not connected
    await this.ensureBlocking();
    for (const queue of queues) if (!this.declared.has(queue)) await this.declareQueue(queue);
    if (!this.maintenance) {
      this.maintenance = new Maintenance(this, this.options, this.transport.kombuVisibilityTimeout);
      void warnIfNotPersistent(this.client, this.target.display, this.options.log);
    }
    const consumer = new RedisConsumer(this, queues, handler, Math.max(1, options.prefetch));
    this.consumers.add(consumer);
    return {
      cancel: async () => {
        this.consumers.delete(consumer);
        await consumer.cancel();
      },
    };
  }

  async purge(queue: string): Promise<number> {
    const multi = this.client.multi();
    for (const step of PRIORITY_STEPS) multi.llen(queueKey(queue, step)).del(queueKey(queue, step));
    const results = (await this.within(multi.exec(), `purge "${queue}"`)) ?? [];
    return results.filter((_, i) => i % 2 === 0).reduce((sum, [, n]) => sum + Number(n ?? 0), 0);
  }

  async length(queue: string): Promise<number> {
    const pipeline = this.client.pipeline();
    for (const step of PRIORITY_STEPS) pipeline.llen(queueKey(queue, step));
    const results = (await this.within(pipeline.exec(), `length of "${queue}"`)) ?? [];
    return results.reduce((sum, [, n]) => sum + Number(n ?? 0), 0);
  }

  /** Publishes on kombu's `celery.pidbox` fanout channel, in the envelope a Python worker reads. */
  async broadcast(message: ControlMessage): Promise<void> {
    const body = { method: message.command, arguments: message.arguments, destination: null, pattern: null, matcher: null };
    const wire: WireMessage = {
      body: new TextEncoder().encode(JSON.stringify(body)),
      contentType: "application/json",
      contentEncoding: "utf-8",
      headers: { clock: 0, expires: Date.now() / 1000 + 30 },
      properties: { deliveryMode: 2, priority: 0 },
    };
    const envelope = toKombuEnvelope(wire, { queue: "", exchange: "celery.pidbox", deliveryTag: newDeliveryTag() });
    await this.within(this.client.publish(KEYS.pidbox(this.target.db), envelope), "broadcast");
  }

  async onControl(listener: (message: ControlMessage) => void): Promise<() => Promise<void>> {
    this.hub ??= leaseSubscriberHub(this.target, this.options);
    return this.hub.subscribe(KEYS.pidbox(this.target.db), (raw) => {
      try {
        const body = JSON.parse(new TextDecoder().decode(fromKombuEnvelope(raw).wire.body)) as { method?: unknown; arguments?: unknown };
        if (typeof body.method !== "string") throw new Error("no method");
        const args = typeof body.arguments === "object" && body.arguments !== null ? (body.arguments as Record<string, unknown>) : {};
        listener({ command: body.method, arguments: args });
      } catch (error) {
        this.options.log("warn", `redis broker: ignored a malformed control message: ${(error as Error).message}`);
      }
    });
  }

  async close(): Promise<void> {
    await this.maintenance?.stop();
    this.maintenance = null;
    await Promise.all([...this.consumers].map((consumer) => consumer.cancel()));
    this.consumers.clear();
    // Down, the acks would wait for a reconnection: those messages are redelivered after the visibility timeout.
    if (this.lease?.client.status === "ready") await this.acks.flush().catch(() => undefined);
    // kombu's QoS.restore_at_shutdown: what we still hold goes back to the queue for another worker.
    if (this.inflight.size > 0 && this.lease?.client.status === "ready") {
      await this.within(runScript(this.lease.client, "requeue", CLAIM_KEYS, [...this.inflight.keys()]), "restore at close").catch((error: Error) =>
        this.options.log("warn", `redis broker: could not restore ${this.inflight.size} unsettled messages at close: ${error.message}`),
      );
    }
    this.inflight.clear();
    if (this.blocking) await closeClient(this.blocking);
    this.blocking = null;
    await this.hub?.release();
    this.hub = null;
    await this.lease?.release();
    this.lease = null;
  }

  // ---- ConsumerHost: the operations consumers and maintenance run ----

  fetch(keys: readonly string[], max: number, inflight: InflightList): Promise<FetchedItem[]> {
    // On the blocking connection, idle while messages wait (BLMOVE runs only when every list is empty):
    // it writes each command at once, where the auto-pipelined command connection would hold the
    // consumer's next fetch until the current batch has run, and Redis would pop it only then.
    return fetchClaimed(this.blocking ?? this.client, keys, max, inflight);
  }

  async blockingFetch(keys: readonly string[], max: number, inflight: InflightList, timeoutSeconds: number): Promise<FetchedItem[]> {
    return this.blocking ? blockingFetchClaimed(this.blocking, keys, max, inflight, timeoutSeconds) : [];
  }

  async release(inflightKeys: readonly string[]): Promise<void> {
    await this.within(runScript(this.client, "release", [KEYS.inflightRegistry, ...inflightKeys], []), "release in-flight lists");
  }

  async pushBack(key: string, raw: string): Promise<void> {
    await this.within(this.client.rpush(key, raw), "push back");
  }

  /** Acks are batched: every ack issued in one tick goes out as one ZREM + one HDEL (+ a DEL of counters). */
  ack(tag: string, redelivered: boolean): Promise<void> {
    return this.acks.add(tag, redelivered);
  }

  async requeue(tag: string): Promise<void> {
    await this.within(runScript(this.client, "requeue", CLAIM_KEYS, [tag]), "requeue");
  }

  track(tag: string): void {
    this.inflight.add(tag);
  }

  untrack(tag: string): void {
    this.inflight.delete(tag);
  }

  /** Wake a pending BLMOVE at once (CLIENT UNBLOCK from the command connection), for a prompt cancel. */
  async unblock(): Promise<void> {
    if (this.blockingId !== null && this.lease?.client.status === "ready") await this.within(this.client.client("UNBLOCK", this.blockingId), "unblock");
  }

  get timeoutMs(): number {
    return this.options.connectionTimeoutMs;
  }

  get connected(): boolean {
    return (this.blocking ?? this.lease?.client)?.status === "ready";
  }

  log(level: "info" | "warn" | "error", message: string): void {
    this.options.log(level, message);
  }

  get commandClient(): Redis {
    return this.client;
  }

  private async ensureBlocking(): Promise<void> {
    if (this.blocking) return;
    const blocking = createRedisClient(this.target, "blocking", this.options);
    this.blocking = blocking;
    if (this.options.onConnectionLost) watchFailure(blocking, this.options.onConnectionLost);
    // The id changes with every reconnection; CLIENT UNBLOCK needs the current one.
    blocking.on("ready", () => {
      void blocking.client("ID").then((id) => (this.blockingId = Number(id)), () => undefined);
    });
    await whenReady(blocking, this.options.connectionTimeoutMs, `connect to ${this.target.display}`);
    this.blockingId = Number(await this.within(blocking.client("ID"), `connect to ${this.target.display}`));
  }
}

/** Creates a Redis broker. Example: `createRedisBroker("redis://localhost:6379/0", options)`. */
export function createRedisBroker(url: string, options: BrokerOptions): RedisBroker {
  return new RedisBroker(url, options);
}
