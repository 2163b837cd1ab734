// Celery's rpc:// result backend: a worker sends each state as a message to the caller's reply queue
// (exchange "", routing key = the task's reply_to, correlation_id = task id, delivery_mode 1; fixture
// amqp/rpc-replies.json), and the caller consumes its own reply queue. Results reach only the client
// that sent the task; there is no store to query, so chords and cross-process reads are unsupported.
import { EventEmitter } from "node:events";
import { randomUUID } from "node:crypto";
import type { Channel, ConsumeMessage } from "amqplib";
import type { BackendFactory, BackendOptions, ResultBackend, WaitOptions } from "../backend.ts";
import { isReady, type ResultRecord } from "../../protocol/result.ts";
import { decodeResultMeta, encodeResultMeta } from "../../protocol/result-meta.ts";
import { decodeBody, encodeBody } from "../../protocol/codecs.ts";
import type { SetupStep } from "../../connection/amqp.ts";
import { openAmqpSession, type AmqpSession } from "../../connection/amqp-session.ts";
import type { ConfirmPublisher } from "../../connection/amqp-publisher.ts";
import { ConfigError, ConnectionError } from "../../util/errors.ts";
import { waitForEvent, type ConnectOptions } from "../../util/wait.ts";
import { schemeOf } from "../../util/url.ts";

/** Latest states kept for this client; the oldest is dropped beyond this (Celery keeps an LRU too). */
export const RPC_CACHE_LIMIT = 10_000;
/** Celery's reply queue lifetime without a consumer (`result_expires`, x-expires in topology.json). */
const REPLY_QUEUE_EXPIRES_MS = 86_400_000;
const SYNC_PREFIX = "celeriac.rpc.sync.";
const MAX_REPLY_BYTES = 16 * 1024 * 1024;

/** The rpc reply body: Celery's five keys first, then what else the record has (Python ignores extras). */
export function rpcReplyBody(record: ResultRecord): Record<string, unknown> {
  const meta = encodeResultMeta(record);
  const { status, result, traceback, children, task_id: _taskId, ...rest } = meta;
  return { task_id: record.taskId, status, result, traceback, children, ...rest };
}

export class RpcBackend implements ResultBackend {
  private session: AmqpSession | null = null;
  private channel: Channel | null = null;
  private removeSetup: (() => void) | null = null;
  private readonly latest = new Map<string, ResultRecord>();
  private readonly events = new EventEmitter();

  constructor(private readonly options: BackendOptions) {
    this.events.setMaxListeners(0);
    const scheme = schemeOf(options.brokerUrl);
    if (scheme !== "amqp:" && scheme !== "amqps:" && scheme !== "pyamqp:") {
      throw new ConfigError(`resultBackend rpc:// sends results over the broker and needs an amqp://, amqps:// or pyamqp:// brokerUrl, got ${scheme}//`);
    }
    if (!options.replyTo) throw new ConfigError("resultBackend rpc:// needs a replyTo queue name (the app's oid)");
  }

  async connect(wait: ConnectOptions = {}): Promise<void> {
    if (this.session) return;
    // These settings apply only when the backend is the connection's first holder; the app opens its
    // broker first, so the broker's heartbeat, retries and connection name normally win.
    const session = await openAmqpSession(this.options.brokerUrl, {
      heartbeatSeconds: 60,
      connectionTimeoutMs: this.options.connectionTimeoutMs,
      maxRetries: this.options.connectionMaxRetries ?? Infinity,
      log: this.options.log,
    }, wait);
    this.session = session;
    try {
      this.removeSetup = await session.connection.addSetup(this.listen);
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  async store(record: ResultRecord): Promise<void> {
    // Celery's worker replies to request.reply_to; with none (a local store) we reply to ourselves.
    const target = record.replyTo || this.options.replyTo;
    const { body, contentType, contentEncoding } = encodeBody(rpcReplyBody(record), "json");
    await this.requirePublisher().publish(
      // Not mandatory: a caller that went away must not fail the task that answers it (Celery drops it too).
      { exchange: "", routingKey: target, mandatory: false },
      Buffer.from(body.buffer, body.byteOffset, body.byteLength),
      { contentType, contentEncoding, headers: {}, deliveryMode: 1, priority: 0, correlationId: record.taskId },
    );
  }

  async storeMany(records: readonly ResultRecord[]): Promise<void> {
    await Promise.all(records.map((record) => this.store(record)));
  }

  /** The last state this client received, after draining what is already in its reply queue. */
  async get(taskId: string): Promise<ResultRecord | null> {
    await this.drain();
    const record = this.latest.get(taskId);
    return record ? structuredClone(record) : null;
  }

  async waitForReady(taskId: string, options: WaitOptions = {}): Promise<ResultRecord> {
    const current = this.latest.get(taskId);
    if (current && isReady(current.state)) return structuredClone(current);
    return waitForEvent<ResultRecord>(this.events, taskId, { timeoutMs: options.timeoutMs, signal: options.signal, what: `the result of task ${taskId}` });
  }

  async forget(taskId: string): Promise<void> {
    // Drain first, so a reply already on its way cannot bring the result back after forgetting.
    await this.drain();
    this.latest.delete(taskId);
  }

  async close(): Promise<void> {
    const session = this.session;
    if (!session) return;
    this.session = null;
    this.removeSetup?.();
    await this.channel?.close().catch(() => undefined);
    this.channel = null;
    this.events.removeAllListeners();
    await session.close();
  }

  /** (Re)declares the reply queue with Celery's flags and consumes it; runs after every reconnection. */
  private readonly listen: SetupStep = async (model) => {
    const channel = await model.createChannel();
    channel.on("error", (error: Error) => this.options.log("warn", `rpc reply channel error: ${error.message}`));
    await channel.assertQueue(this.options.replyTo, { durable: false, autoDelete: true, expires: REPLY_QUEUE_EXPIRES_MS });
    // no_ack as in Celery's ResultConsumer: a reply is only useful to this process while it runs.
    await channel.consume(this.options.replyTo, (raw) => this.onReply(raw), { noAck: true });
    this.channel = channel;
  };

  private onReply(raw: ConsumeMessage | null): void {
    if (!raw) return;
    const correlationId = typeof raw.properties.correlationId === "string" ? raw.properties.correlationId : undefined;
    if (correlationId?.startsWith(SYNC_PREFIX)) {
      this.events.emit(correlationId);
      return;
    }
    let record: ResultRecord;
    try {
      const meta = decodeBody(raw.content, String(raw.properties.contentType ?? ""), { accept: ["json", "msgpack"], maxBytes: MAX_REPLY_BYTES });
      record = decodeResultMeta(meta, correlationId);
    } catch (error) {
      this.options.log("warn", `dropped a malformed rpc reply (correlation id ${correlationId ?? "none"}): ${(error as Error).message}`);
      return;
    }
    this.latest.delete(record.taskId);
    this.latest.set(record.taskId, record);
    if (this.latest.size > RPC_CACHE_LIMIT) this.latest.delete(this.latest.keys().next().value as string);
    if (isReady(record.state)) this.events.emit(record.taskId, structuredClone(record));
  }

  /**
   * Waits until every reply already queued for us has been consumed, by sending a marker through our
   * own queue (FIFO): the equivalent of Celery's get_task_meta draining the queue with basic.get.
   */
  private async drain(): Promise<void> {
    const marker = `${SYNC_PREFIX}${randomUUID()}`;
    const arrived = waitForEvent<void>(this.events, marker, { timeoutMs: this.options.connectionTimeoutMs, what: "the rpc reply queue to drain" });
    try {
      await this.requirePublisher().publish({ exchange: "", routingKey: this.options.replyTo, mandatory: false }, Buffer.from("{}"), {
        contentType: "application/json",
        contentEncoding: "utf-8",
        headers: {},
        deliveryMode: 1,
        priority: 0,
        correlationId: marker,
      });
    } catch (error) {
      arrived.catch(() => undefined);
      throw error;
    }
    await arrived;
  }

  private requirePublisher(): ConfirmPublisher {
    if (!this.session) throw new ConnectionError("the rpc result backend is not connected; call connect() first");
    return this.session.publisher;
  }
}

/** BackendFactory for `rpc://`: results travel over the app's AMQP broker connection. */
export const createRpcBackend: BackendFactory = (_url, options) => new RpcBackend(options);
