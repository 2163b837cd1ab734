// Control broadcast over Celery's own remote-control exchange (kombu pidbox): a non-durable fanout
// exchange "celery.pidbox", and per listener an auto-delete queue "<node>.celery.pidbox" with the
// x-expires / x-message-ttl Celery uses (fixture amqp/topology.json). So a revoke sent by
// `celery control revoke` reaches our workers, and ours reaches Python workers.
import { randomUUID } from "node:crypto";
import type { Channel, ConsumeMessage } from "amqplib";
import type { ControlMessage } from "../broker.ts";

export const PIDBOX_EXCHANGE = "celery.pidbox";

/** kombu Mailbox message body: {method, arguments, destination, pattern, matcher}. */
export function encodeControl(message: ControlMessage): Buffer {
  return Buffer.from(JSON.stringify({ method: message.command, arguments: message.arguments, destination: null, pattern: null, matcher: null }));
}

/** Reads a pidbox message; null (with a reason) when it is not one. */
export function decodeControl(content: Buffer, contentType: unknown): { message: ControlMessage } | { error: string } {
  if (contentType !== "application/json") return { error: `unsupported content type ${String(contentType)}` };
  let body: unknown;
  try {
    body = JSON.parse(content.toString("utf8"));
  } catch (error) {
    return { error: `invalid JSON: ${(error as Error).message}` };
  }
  if (!body || typeof body !== "object") return { error: "body is not an object" };
  const { method, arguments: args } = body as { method?: unknown; arguments?: unknown };
  if (typeof method !== "string") return { error: "no method" };
  const argumentsObject = args && typeof args === "object" && !Array.isArray(args) ? (args as Record<string, unknown>) : {};
  return { message: { command: method, arguments: argumentsObject } };
}

/** One broker's control subscription: a queue bound to the pidbox exchange, fanned out to listeners. */
export class ControlSubscription {
  readonly queue = `celeriac-${randomUUID()}.celery.pidbox`;
  readonly listeners = new Set<(message: ControlMessage) => void>();
  private channel: Channel | null = null;

  constructor(private readonly log: (level: "info" | "warn" | "error", message: string) => void) {}

  /** Declares and consumes on a fresh channel; called at subscribe and after every reconnection. */
  async start(channel: Channel): Promise<void> {
    this.channel = channel;
    channel.on("error", (error: Error) => this.log("warn", `control channel error: ${error.message}`));
    await channel.assertExchange(PIDBOX_EXCHANGE, "fanout", { durable: false });
    await channel.assertQueue(this.queue, { durable: false, autoDelete: true, arguments: { "x-expires": 10_000, "x-message-ttl": 300_000 } });
    await channel.bindQueue(this.queue, PIDBOX_EXCHANGE, "");
    await channel.consume(this.queue, (raw: ConsumeMessage | null) => {
      if (!raw) return;
      const decoded = decodeControl(raw.content, raw.properties.contentType);
      if ("error" in decoded) {
        this.log("warn", `ignored a control message: ${decoded.error}`);
        return;
      }
      for (const listener of this.listeners) {
        try {
          listener(decoded.message);
        } catch (error) {
          this.log("error", `control listener failed: ${(error as Error).message}`);
        }
      }
    }, { noAck: true });
  }

  async stop(): Promise<void> {
    const channel = this.channel;
    this.channel = null;
    if (!channel) return;
    await channel.deleteQueue(this.queue).catch(() => undefined);
    await channel.close().catch(() => undefined);
  }
}
