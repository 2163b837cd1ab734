// The messages a finished task sends on: link callbacks and the next chain step after a success,
// errbacks after a failure. A follow-up that cannot be built (a malformed signature) or routed (a queue
// nobody declared) fails with FollowUpError, which settle.ts turns into the task's FAILURE: running the
// task again would fail the same way, forever. A broker that fails to take it (down, timing out)
// propagates as is: a settle failure, requeued after a backoff (pipeline.ts).
import { randomUUID } from "node:crypto";
import { FollowUpError } from "../app/errors.ts";
import { encodeTaskMessage } from "../protocol/celery-v2.ts";
import { describe } from "../protocol/guards.ts";
import { emptyEmbed, type Signature, type TaskMessage, type WireMessage } from "../protocol/message.ts";
import { encodeFailureFrom } from "../protocol/result-meta.ts";
import { signatureFromWire } from "../protocol/signature.ts";
import { CeleriacError } from "../util/errors.ts";
import type { App } from "../app/app.ts";
import type { Broker } from "../broker/broker.ts";

/** What sending follow-ups needs (a worker's SettleContext has it). */
export interface FollowUpContext {
  app: App;
  broker: Broker;
}

/** Whether a successful task has callbacks or a next chain step to send. */
export function hasFollowUps(message: TaskMessage): boolean {
  const { callbacks, chain } = message.embed;
  return (callbacks !== null && callbacks.length > 0) || (chain !== null && chain.length > 0);
}

/**
 * Send link callbacks and the next chain step, with the result prepended to their arguments; returns
 * their ids. Example: `const children = await sendFollowUps(ctx, message, 42)`.
 */
export async function sendFollowUps(ctx: FollowUpContext, message: TaskMessage, value: unknown): Promise<string[]> {
  const sent: string[] = [];
  for (const callback of message.embed.callbacks ?? []) sent.push(await sendSignature(ctx, "link callback", callback, message, [value], null));
  const chain = message.embed.chain;
  if (chain && chain.length > 0) {
    // Celery keeps the chain reversed: the next step is the last element.
    const rest = chain.slice(0, -1);
    sent.push(await sendSignature(ctx, "next chain step", chain[chain.length - 1] as Signature, message, [value], rest.length ? rest : null));
  }
  return sent;
}

/**
 * Send errbacks with the failed task's id as their argument (Celery's one-argument errback form). One
 * that cannot be built or routed is reported and skipped: the task has failed already, and its FAILURE
 * must still be stored. Example: `const children = await sendErrbacks(ctx, message)`.
 */
export async function sendErrbacks(ctx: FollowUpContext, message: TaskMessage): Promise<string[]> {
  const sent: string[] = [];
  for (const errback of message.embed.errbacks ?? []) {
    try {
      sent.push(await sendSignature(ctx, "errback", errback, message, [message.id], null));
    } catch (error) {
      if (!(error instanceof FollowUpError) && !encodeFailureFrom(error)) throw error;
      ctx.app.events.emit("worker:error", { message: `task ${message.task}[${message.id}]: ${(error as Error).message}; errback skipped`, error });
    }
  }
  return sent;
}

async function sendSignature(ctx: FollowUpContext, kind: string, sig: Signature, parent: TaskMessage, prepend: unknown[], chain: Signature[] | null): Promise<string> {
  let built: { id: string; queue: string; wire: WireMessage };
  try {
    built = buildMessage(ctx, sig, parent, prepend, chain);
  } catch (error) {
    // A result that cannot be encoded is kombu's EncodeError, as Celery reports it (settle.ts).
    if (encodeFailureFrom(error)) throw error;
    throw new FollowUpError(`the ${kind} ${describe(sig.task)} of task ${parent.task}[${parent.id}] cannot be built: ${(error as Error).message}`, { cause: error });
  }
  try {
    await ctx.broker.publish(built.queue, built.wire);
  } catch (error) {
    if (!(error instanceof CeleriacError && error.code === "PUBLISH_UNROUTABLE")) throw error;
    throw new FollowUpError(`the ${kind} ${describe(sig.task)} of task ${parent.task}[${parent.id}] cannot be sent to queue "${built.queue}": ${error.message}`, { cause: error });
  }
  return built.id;
}

function buildMessage(ctx: FollowUpContext, sig: Signature, parent: TaskMessage, prepend: unknown[], chain: Signature[] | null): { id: string; queue: string; wire: WireMessage } {
  const options = sig.options;
  const id = typeof options["task_id"] === "string" ? options["task_id"] : randomUUID();
  const queue = typeof options["queue"] === "string" ? options["queue"] : ctx.app.config.taskDefaultQueue;
  const embed = emptyEmbed();
  embed.chain = chain;
  // Nested links travel as wire dicts in the options: read (and checked) like the embed's own.
  embed.callbacks = linkList(options["link"], "options.link");
  embed.errbacks = linkList(options["link_error"], "options.link_error");
  const message: TaskMessage = {
    ...parent,
    id,
    task: sig.task,
    args: sig.immutable ? [...sig.args] : [...prepend, ...sig.args],
    kwargs: sig.kwargs,
    embed,
    eta: null,
    expires: null,
    retries: 0,
    rootId: parent.rootId ?? parent.id,
    parentId: parent.id,
    groupId: typeof options["group_id"] === "string" ? options["group_id"] : null,
    groupIndex: null,
    timeLimit: [null, null],
    priority: typeof options["priority"] === "number" ? options["priority"] : null,
    ignoreResult: false,
    shadow: null,
    headers: {},
    correlationId: id,
  };
  return { id, queue, wire: encodeTaskMessage(message, { signer: ctx.app.security?.signer }) };
}

function linkList(value: unknown, where: string): Signature[] | null {
  if (value === null || value === undefined) return null;
  // Celery accepts one signature as well as a list (Signature.link appends to a list either way).
  const list = Array.isArray(value) ? value : [value];
  return list.map((entry, i) => signatureFromWire(entry, `${where}[${i}]`));
}
