// The Redis broker's key names (kombu's, and Celeriac's own under "celeriac.") and its Lua scripts,
// loaded from scripts/*.lua on first use and run with EVALSHA (falling back to EVAL after a restart).
import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";
import { PRIORITY_STEPS, priorityStep } from "../../protocol/priority.ts";
import { RedisScript } from "../../connection/redis-script.ts";

/** kombu's separator between a queue name and its priority step (`Channel.sep`). */
export const PRIORITY_SEP = "\x06\x16";

export const KEYS = {
  /** kombu ack emulation: delivery_tag -> JSON [envelope, exchange, routing_key]. */
  unacked: "unacked",
  /** kombu ack emulation: delivery_tag scored by claim time in epoch seconds. */
  unackedIndex: "unacked_index",
  /** kombu's redis-py Lock around restore_visible. */
  unackedMutex: "unacked_mutex",
  /** Ours: every Celeriac claim, either format, delivery_tag -> list key + "\0" + message (no Python worker reads it). */
  ownUnacked: "celeriac.unacked",
  /** Ours: delivery_tag of our claims scored by claim time in epoch seconds. */
  ownUnackedIndex: "celeriac.unacked_index",
  /**
   * Ours: how often a message was given back (requeued, or restored after the visibility timeout), by
   * its delivery tag; set by requeue.lua, restore-own.lua and restore.lua, read by fetch.lua, deleted on
   * ack and dead-letter, expiring a week after its last redelivery.
   */
  redeliveries: (tag: string) => `celeriac.redeliveries.${tag}`,
  /** Ours: registry of consumers' in-flight lists, in-flight list key -> "<armed at, epoch ms> <source list key>". */
  inflightRegistry: "celeriac.inflight",
  /** Ours: held by the consumer whose recover.lua run counts for everyone's, for about a second. */
  inflightLock: "celeriac.inflight_lock",
  /** Ours: the list a consumer's BLMOVE moves a message into from its `index`-th list, until fetch.lua claims it. */
  inflight: (consumer: string, index: number) => `celeriac.inflight:${consumer}:${index}`,
  /** Ours: messages parked until due, score = epoch ms, member = list key + "\0" + envelope. */
  delayed: "celeriac.delayed",
  /** Ours: a queue's dead letters, newest first, entry = meta JSON + "\n" + message (see dead-letters.ts). */
  deadLetter: (queue: string) => `celeriac.dead-letter.${queue}`,
  /** kombu's routing table for an exchange (Celery queues are bound to an exchange of their own name). */
  binding: (exchange: string) => `_kombu.binding.${exchange}`,
  /** kombu's fanout channel for remote control (fanout_prefix on: "/{db}."). */
  pidbox: (db: number) => `/${db}.celery.pidbox`,
} as const;

/** The list holding `queue`'s messages of this priority (kombu `_q_for_pri`). */
export function queueKey(queue: string, priority: number | null | undefined): string {
  const step = priorityStep(priority);
  return step === 0 ? queue : `${queue}${PRIORITY_SEP}${step}`;
}

/** Every list of these queues in kombu's BRPOP order: all queues' step 0, then step 3, 6, 9. */
export function consumeKeys(queues: readonly string[]): string[] {
  return PRIORITY_STEPS.flatMap((step) => queues.map((queue) => queueKey(queue, step)));
}

/** The member kombu adds to `_kombu.binding.<queue>` when a queue is declared (routing key, pattern, queue). */
export function bindingMember(queue: string): string {
  return [queue, "", queue].join(PRIORITY_SEP);
}

export type ScriptName = "fetch" | "requeue" | "restore" | "restore-own" | "promote" | "recover" | "release" | "dead-letter" | "redrive";

/** The shared Lua functions each script is preceded by. */
const PRELUDES: Partial<Record<ScriptName, string[]>> = {
  requeue: ["restore-common.lua", "claims-common.lua"],
  restore: ["restore-common.lua"],
  "restore-own": ["restore-common.lua", "claims-common.lua"],
  recover: ["inflight-common.lua"],
  release: ["inflight-common.lua"],
};

const loaded = new Map<ScriptName, RedisScript>();

function read(file: string): string {
  return readFileSync(new URL(`./scripts/${file}`, import.meta.url), "utf8");
}

function script(name: ScriptName): RedisScript {
  let found = loaded.get(name);
  if (!found) {
    found = new RedisScript([...(PRELUDES[name] ?? []), `${name}.lua`].map(read).join("\n"));
    loaded.set(name, found);
  }
  return found;
}

/** Runs script `name` with `keys` and `args`. Example: `await runScript(client, "promote", [KEYS.delayed], [now, 100])`. */
export function runScript(client: Redis, name: ScriptName, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  return script(name).run(client, keys, args);
}
