// A Redis queue's dead letters: messages a consumer gave up with a reason, kept exactly as received
// (kombu envelope or compact message) in `celeriac.dead-letter.<queue>`, a key no kombu code reads,
// newest first and capped; listed, redriven to their queue byte for byte, or purged.
import type { Redis } from "ioredis";
import type { DeadLetter, DeadLetterStore, RejectReason } from "../broker.ts";
import { CeleriacError } from "../../util/errors.ts";
import { bounded } from "../../connection/redis.ts";
import { KEYS, runScript } from "./scripts.ts";
import { decodeStored } from "./format.ts";

/** What an entry says about its message; the entry is this as JSON, "\n", then the message. */
interface EntryMeta {
  queue: string;
  /** The list the message was popped from (its queue or a priority sub-list): redrive pushes it there. */
  key: string;
  code: string;
  reason: string;
  /** Epoch milliseconds. */
  at: number;
}

/** A message a consumer gives up: where it was popped from, the string it popped, and its claim. */
export interface Buried {
  key: string;
  queue: string;
  raw: string;
  /** The tag fetch.lua claimed it under (in celeriac.unacked); undefined for an item never claimed. */
  tag: string | undefined;
}

/** Entries moved per redrive.lua call at most: bounds the script's run time. */
const REDRIVE_CHUNK = 1000;

export class RedisDeadLetters implements DeadLetterStore {
  /**
   * `limit`: entries kept per queue (brokerTransportOptions.deadLetterLimit); 0 keeps none. Each call
   * rejects when Redis has not answered within `timeoutMs` (it may still apply after a reconnect).
   */
  constructor(
    private readonly client: () => Redis,
    private readonly limit: number,
    private readonly timeoutMs: number,
  ) {}

  private within<T>(operation: Promise<T>, what: string): Promise<T> {
    return bounded(operation, Date.now() + this.timeoutMs, what);
  }

  /**
   * Moves `item` to its queue's dead letters and forgets its claim, in one step (dead-letter.lua).
   * Returns false, doing nothing, when this broker keeps no dead letters (the caller drops the item).
   */
  async bury(item: Buried, reason: RejectReason): Promise<boolean> {
    if (this.limit === 0) return false;
    const meta: EntryMeta = { queue: item.queue, key: item.key, code: reason.code, reason: reason.message, at: Date.now() };
    const keys = [KEYS.ownUnacked, KEYS.ownUnackedIndex, KEYS.deadLetter(item.queue)];
    await this.within(runScript(this.client(), "dead-letter", keys, [item.tag ?? "", `${JSON.stringify(meta)}\n${item.raw}`, this.limit]), `dead-letter a message of "${item.queue}"`);
    return true;
  }

  async list(queue: string, limit: number): Promise<DeadLetter[]> {
    if (limit <= 0) return [];
    // Newest first in Redis: the oldest `limit` are the tail, read back to front.
    const entries = await this.within(this.client().lrange(KEYS.deadLetter(queue), Number.isFinite(limit) ? -limit : 0, -1), `list the dead letters of "${queue}"`);
    return entries.reverse().map((entry) => readEntry(queue, entry));
  }

  async redrive(queue: string, limit: number): Promise<number> {
    // At most what is there now: a message dead-lettered again while this runs is not taken twice.
    const wanted = Math.min(limit, await this.within(this.client().llen(KEYS.deadLetter(queue)), `redrive "${queue}"`));
    let moved = 0;
    while (moved < wanted) {
      const chunk = Math.min(REDRIVE_CHUNK, wanted - moved);
      const [count, stopped] = (await this.within(runScript(this.client(), "redrive", [KEYS.deadLetter(queue)], [chunk]), `redrive "${queue}"`)) as [number, number];
      moved += count;
      if (stopped) throw new CeleriacError("DEAD_LETTER_UNREADABLE", `the oldest dead letter of "${queue}" is unreadable (not written by Celeriac?); ${moved} moved before it, it and the rest left in ${KEYS.deadLetter(queue)}`);
      if (count < chunk) break;
    }
    return moved;
  }

  async purge(queue: string): Promise<number> {
    const results = await this.within(this.client().multi().llen(KEYS.deadLetter(queue)).del(KEYS.deadLetter(queue)).exec(), `purge the dead letters of "${queue}"`);
    return Number(results?.[0]?.[1] ?? 0);
  }
}

function readEntry(queue: string, entry: string): DeadLetter {
  const cut = entry.indexOf("\n");
  let meta: Partial<EntryMeta> = {};
  try {
    meta = JSON.parse(entry.slice(0, cut)) as Partial<EntryMeta>;
  } catch {
    // Shown as unreadable below, never thrown: one bad entry must not hide the others.
  }
  let message: DeadLetter["message"] = null;
  try {
    message = decodeStored(entry.slice(cut + 1), queue).wire;
  } catch {
    // Dead-lettered because it could not be decoded: its reason says so.
  }
  return {
    queue: typeof meta.queue === "string" ? meta.queue : queue,
    code: typeof meta.code === "string" ? meta.code : "DEAD_LETTER_UNREADABLE",
    reason: typeof meta.reason === "string" ? meta.reason : "an entry Celeriac did not write",
    at: new Date(typeof meta.at === "number" ? meta.at : 0),
    message,
  };
}
