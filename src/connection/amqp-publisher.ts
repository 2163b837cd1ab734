// Publishes over a confirm channel: a publish resolves only once RabbitMQ has taken responsibility for
// the message (basic.ack), rejects when it refuses it (basic.nack) or cannot route it (mandatory +
// basic.return), and is retried on the next connection when the connection drops before the confirm.
import type { ConfirmChannel, Message } from "amqplib";
import type { AmqpConnection } from "./amqp.ts";
import type { AmqpPublishProperties } from "../protocol/amqp-properties.ts";
import { CeleriacError, ConnectionError } from "../util/errors.ts";

interface Pending {
  exchange: string;
  routingKey: string;
  content: Buffer;
  returned: boolean;
}

type Outcome = { ok: true } | { ok: false; retry: boolean; error: Error };

export interface PublishTarget {
  exchange: string;
  routingKey: string;
  /** Ask RabbitMQ to return the message when no queue matches, instead of dropping it. Default true. */
  mandatory?: boolean;
}

export class ConfirmPublisher {
  private channel: ConfirmChannel | null = null;
  private opening: Promise<ConfirmChannel> | null = null;
  private readonly pending = new Set<Pending>();
  private drained: Promise<void> | null = null;
  private endDrainWait: (() => void) | null = null;
  private closed = false;

  constructor(
    private readonly connection: AmqpConnection,
    private readonly timeoutMs: number,
    private readonly log: (level: "info" | "warn" | "error", message: string) => void,
  ) {}

  /** Publishes and waits for the broker's confirm. Example: `await p.publish({exchange: "", routingKey: "celery"}, body, props)`. */
  async publish(target: PublishTarget, content: Buffer, properties: AmqpPublishProperties): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    for (let attempt = 1; ; attempt++) {
      if (this.closed) throw new ConnectionError("publisher is closed");
      const channel = await this.ready(Math.max(1, deadline - Date.now()));
      const outcome = await this.attempt(channel, target, content, properties);
      if (outcome.ok) return;
      if (!outcome.retry) throw outcome.error;
      if (Date.now() >= deadline) {
        throw new ConnectionError(`publish to "${target.routingKey}" was not confirmed within ${this.timeoutMs} ms: ${outcome.error.message}`, { cause: outcome.error });
      }
      // At-least-once: the lost publish may have reached the queue, so a retry can duplicate it
      // (kombu's publish retry policy has the same property); task ids make duplicates visible.
      this.log("warn", `publish to "${target.routingKey}" lost with the channel (${outcome.error.message}); retrying (attempt ${attempt + 1})`);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const channel = this.channel;
    this.channel = null;
    if (channel) await channel.close().catch(() => undefined);
  }

  private attempt(channel: ConfirmChannel, target: PublishTarget, content: Buffer, properties: AmqpPublishProperties): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      const entry: Pending = { exchange: target.exchange, routingKey: target.routingKey, content, returned: false };
      this.pending.add(entry);
      const onConfirm = (error: unknown): void => {
        this.pending.delete(entry);
        if (entry.returned) {
          const where = target.exchange === "" ? "the default exchange" : `exchange "${target.exchange}"`;
          resolve({ ok: false, retry: false, error: new CeleriacError("PUBLISH_UNROUTABLE", `RabbitMQ returned the message: no queue is bound to routing key "${target.routingKey}" on ${where} (declare the queue first)`) });
        } else if (!error) {
          resolve({ ok: true });
        } else if (error instanceof Error && error.message === "message nacked") {
          resolve({ ok: false, retry: false, error: new CeleriacError("PUBLISH_NACKED", `RabbitMQ refused the message for "${target.routingKey}" (basic.nack: a queue limit such as x-overflow reject-publish, or an internal error)`) });
        } else {
          resolve({ ok: false, retry: true, error: error instanceof Error ? error : new Error(String(error)) });
        }
      };
      try {
        const { messageId, type, appId, timestamp, ...rest } = properties;
        const options = { ...rest, mandatory: target.mandatory ?? true, ...(messageId ? { messageId } : {}), ...(type ? { type } : {}), ...(appId ? { appId } : {}), ...(timestamp !== undefined ? { timestamp } : {}) };
        const flowing = channel.publish(target.exchange, target.routingKey, content, options, onConfirm);
        if (!flowing && !this.drained) {
          // The socket buffer is full: later publishes wait for 'drain' instead of piling up in memory.
          this.drained = new Promise<void>((done) => {
            this.endDrainWait = done;
            channel.once("drain", () => done());
          }).finally(() => {
            this.drained = null;
            this.endDrainWait = null;
          });
        }
      } catch (error) {
        this.pending.delete(entry);
        resolve({ ok: false, retry: true, error: error instanceof Error ? error : new Error(String(error)) });
      }
    });
  }

  private async ready(timeoutMs: number): Promise<ConfirmChannel> {
    if (this.drained) await this.drained;
    if (this.channel) return this.channel;
    this.opening ??= (async () => {
      const model = await this.connection.ready(timeoutMs);
      const channel = await model.createConfirmChannel();
      channel.on("error", (error: Error) => this.log("warn", `publish channel error: ${error.message}`));
      channel.on("close", () => {
        if (this.channel === channel) this.channel = null;
        // A closed channel never emits 'drain'; let waiting publishes move on to a new channel.
        this.endDrainWait?.();
      });
      // basic.return arrives before the basic.ack of the same message: mark it so the confirm rejects.
      channel.on("return", (message: Message) => {
        for (const entry of this.pending) {
          if (!entry.returned && entry.routingKey === message.fields.routingKey && entry.exchange === message.fields.exchange && entry.content.equals(message.content)) {
            entry.returned = true;
            return;
          }
        }
      });
      this.channel = channel;
      return channel;
    })().finally(() => (this.opening = null));
    return this.opening;
  }
}
