// Turns a call (task name, arguments, call options) into a protocol message and publishes it. The
// message carries its eta in headers as Celery does, so any Celery-compatible worker can take it.
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Broker } from "../broker/broker.ts";
import { encodeTaskMessage } from "../protocol/celery-v2.ts";
import { emptyEmbed, type Signature, type TaskMessage } from "../protocol/message.ts";
import type { MessageSigner } from "../protocol/security.ts";
import type { Config } from "./config.ts";
import { currentTaskRequest } from "./current.ts";
import type { CallOptions } from "./task.ts";
import type { ResolvedTaskOptions } from "./task-options.ts";

export interface Call {
  name: string;
  args: readonly unknown[];
  options: CallOptions;
  /** The task's own options when the task is defined in this process. */
  taskOptions?: ResolvedTaskOptions | undefined;
}

const ORIGIN = `node${process.pid}@${hostname()}`;

const asList = (value: Signature | Signature[] | undefined): Signature[] | null =>
  value === undefined ? null : Array.isArray(value) ? value : [value];

/** The queue a call goes to: the call's, then the task's, then the app's default. */
export function queueFor(call: Call, config: Readonly<Config>): string {
  return call.options.queue ?? call.taskOptions?.queue ?? config.taskDefaultQueue;
}

/** Build the message for a call. Pure but for the clock, ids and the current task's request. */
export function buildMessage(call: Call, config: Readonly<Config>, replyTo: string, now = Date.now()): TaskMessage {
  const { options } = call;
  const id = options.taskId ?? randomUUID();
  const parent = currentTaskRequest();
  const eta = options.eta ?? (options.countdown !== undefined ? new Date(now + options.countdown * 1000) : null);
  const expires = options.expires === undefined ? null : options.expires instanceof Date ? options.expires : new Date(now + options.expires * 1000);
  const embed = emptyEmbed();
  embed.callbacks = asList(options.link);
  embed.errbacks = asList(options.linkError);
  return {
    id,
    task: call.name,
    args: [...call.args],
    kwargs: options.kwargs ?? {},
    embed,
    eta,
    expires,
    retries: 0,
    rootId: parent?.rootId ?? parent?.id ?? id,
    parentId: parent?.id ?? null,
    groupId: null,
    groupIndex: null,
    timeLimit: [options.timeLimit ?? null, options.softTimeLimit ?? null],
    priority: options.priority ?? call.taskOptions?.priority ?? null,
    ignoreResult: options.ignoreResult ?? call.taskOptions?.ignoreResult ?? config.taskIgnoreResult,
    shadow: null,
    origin: ORIGIN,
    argsrepr: null,
    kwargsrepr: null,
    replyTo,
    correlationId: id,
    headers: options.headers ?? {},
    serializer: options.serializer ?? call.taskOptions?.serializer ?? config.taskSerializer,
  };
}

/** Publishes in flight at once when a broker has no publishMany (e.g. AMQP confirms, awaited together). */
const PUBLISH_WINDOW = 256;

/**
 * Encode (signed when `signer` is given) and publish messages to one queue: in one batch when the
 * broker has publishMany, else in windows of concurrent publishes, started in order, so a confirming
 * broker confirms them together instead of one round trip each.
 */
export async function publishMessages(broker: Broker, queue: string, messages: readonly TaskMessage[], signer: MessageSigner | null = null): Promise<void> {
  const wires = messages.map((message) => encodeTaskMessage(message, { signer }));
  if (broker.publishMany) return broker.publishMany(queue, wires);
  for (let start = 0; start < wires.length; start += PUBLISH_WINDOW) {
    await Promise.all(wires.slice(start, start + PUBLISH_WINDOW).map((wire) => broker.publish(queue, wire)));
  }
}

/** Encode (signed when `signer` is given) and publish a message to its queue. */
export async function publishMessage(broker: Broker, queue: string, message: TaskMessage, signer: MessageSigner | null = null): Promise<void> {
  await broker.publish(queue, encodeTaskMessage(message, { signer }));
}
