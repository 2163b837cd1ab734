// One consumer of the Redis broker: keeps up to `prefetch` deliveries unsettled, fetching in batches with
// fetch.lua while messages wait and blocking in BRPOP (kombu's way) only when every list is empty.
// Reads kombu envelopes and compact messages alike (format.ts), whatever format its broker publishes.
import type { Consumer, Delivery, DeliveryHandler, RejectOptions, RejectReason } from "../broker.ts";
import { PRIORITY_SEP, consumeKeys } from "./scripts.ts";
import type { Buried, RedisDeadLetters } from "./dead-letters.ts";
import { decodeStored } from "./format.ts";
import { isCompact } from "../../protocol/compact-envelope.ts";
import { backoffMs } from "../../connection/redis.ts";
import { sleep } from "../../util/wait.ts";

/** One item fetch.lua popped; `claimed` is false for items that are in neither format. */
export interface FetchedItem {
  key: string;
  raw: string;
  claimed: boolean;
  /** The delivery tag fetch.lua claimed it under ("" when not claimed). */
  tag: string;
}

/** What a consumer needs from its broker (implemented by RedisBroker). */
export interface ConsumerHost {
  /** fetch.lua: pop and claim up to `max`. */
  fetch(keys: readonly string[], max: number): Promise<FetchedItem[]>;
  /** BRPOP on the blocking connection; null on timeout or when unblocked. */
  blockingPop(keys: readonly string[], timeoutSeconds: number): Promise<{ key: string; raw: string } | null>;
  /** Record a BRPOP-ed item as claimed: kombu's unacked/unacked_index, or ours for a compact message. */
  claim(key: string, raw: string, decoded: { deliveryTag: string; exchange: string; routingKey: string; compact: boolean }): Promise<void>;
  /** Put a popped but unclaimed item back at the front of its list. */
  pushBack(key: string, raw: string): Promise<void>;
  /** Forget a claim; `compact` says which claim pair holds it. */
  ack(tag: string, compact: boolean): Promise<void>;
  /** Where a message given up with a reason goes; `bury` returns false when no dead letters are kept. */
  readonly deadLetters: Pick<RedisDeadLetters, "bury">;
  requeue(tag: string): Promise<void>;
  track(tag: string, compact: boolean): void;
  untrack(tag: string): void;
  unblock(): Promise<void>;
  /** Whether the connection fetches and BRPOPs go out on is up (a sent one will be answered). */
  readonly connected: boolean;
  log(level: "info" | "warn" | "error", message: string): void;
}

const ABANDONED = Symbol("abandoned");

/** Messages popped per fetch.lua call at most: bounds the script's run time. */
const MAX_BATCH = 100;

export class RedisConsumer implements Consumer {
  private active = true;
  private unsettled = 0;
  private wake: (() => void) | null = null;
  private readonly keys: string[];
  readonly done: Promise<void>;
  /** Resolved by a cancel while the connection is down: the loop stops waiting on Redis. */
  private abandon: () => void = () => {};
  private readonly abandoned = new Promise<typeof ABANDONED>((resolve) => (this.abandon = () => resolve(ABANDONED)));

  constructor(
    private readonly host: ConsumerHost,
    queues: readonly string[],
    private readonly handler: DeliveryHandler,
    private readonly prefetch: number,
  ) {
    this.keys = consumeKeys(queues);
    this.done = this.loop();
  }

  async cancel(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    this.wake?.();
    // Down, a fetch or BRPOP already sent waits for a reconnection that may never come (ioredis re-sends
    // it then): a stopping worker must not wait for it.
    if (!this.host.connected) this.abandon();
    await this.host.unblock().catch(() => undefined);
    await this.done;
  }

  private async loop(): Promise<void> {
    let failures = 0;
    // A fetch already sent for the next batch: Redis pops it while this process runs the current one.
    let next: { batch: Promise<FetchedItem[]>; size: number } | null = null;
    while (this.active || next) {
      if (!next) {
        const want = this.prefetch - this.unsettled;
        if (want <= 0) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          this.wake = null;
          continue;
        }
        next = this.send(Math.min(want, MAX_BATCH));
      }
      const { batch: sent, size } = next;
      next = null;
      try {
        const batch = await Promise.race([sent, this.abandoned]);
        if (batch === ABANDONED) {
          this.giveBackLate(sent);
          break;
        }
        failures = 0;
        if (batch.length > 0) {
          // A full batch means more is likely waiting: ask for it before running this one, within the
          // prefetch window (this batch counts as unsettled already).
          const room = this.prefetch - this.unsettled - batch.length;
          if (this.active && batch.length === size && room > 0) next = this.send(Math.min(room, MAX_BATCH));
          for (const item of batch) this.dispatch(item);
          continue;
        }
        if (!this.active) break;
        // Every list is empty: wait in BRPOP (1 s, like kombu) instead of polling.
        const popping = this.host.blockingPop(this.keys, 1);
        const popped = await Promise.race([popping, this.abandoned]);
        if (popped === ABANDONED) {
          this.giveBackLate(popping.then((item) => (item ? [{ ...item, claimed: false, tag: "" }] : [])));
          break;
        }
        if (!popped) continue;
        if (!this.active) {
          await this.host.pushBack(popped.key, popped.raw);
          break;
        }
        this.claimAndDispatch(popped.key, popped.raw);
      } catch (error) {
        if (!this.active) continue;
        failures++;
        if (failures === 1) this.host.log("warn", `redis consumer: ${(error as Error).message}; retrying`);
        await Promise.race([sleep(backoffMs(failures, 50, 2000)), this.abandoned]);
      }
    }
  }

  /**
   * An abandoned fetch or BRPOP may still run, should the connection come back before the broker
   * closes it: what it then pops goes back to its queue (claimed by fetch.lua: requeued; else pushed back).
   */
  private giveBackLate(items: Promise<FetchedItem[]>): void {
    void items
      .then(async (late) => {
        for (const item of late) {
          await (item.claimed ? this.host.requeue(item.tag) : this.host.pushBack(item.key, item.raw));
        }
      })
      .catch(() => undefined);
  }

  private send(size: number): { batch: Promise<FetchedItem[]>; size: number } {
    const batch = this.host.fetch(this.keys, size);
    // Awaited in the next turn of the loop; until then a failure must not count as unhandled.
    batch.catch(() => undefined);
    return { batch, size };
  }

  /**
   * A BRPOP-ed message: its claim is sent, and it is dispatched without waiting for the reply (one round
   * trip less per message when the queue runs dry, which is every message at low load). Its ack or
   * requeue can only follow the claim: they go out later on the same connection, which keeps order.
   */
  private claimAndDispatch(key: string, raw: string): void {
    const decoded = this.decodeOrDrop(key, raw, null);
    if (!decoded) return;
    this.host.claim(key, raw, decoded).catch((error: Error) => {
      this.host.log("error", `redis consumer: could not record the claim of a message from "${queueOf(key)}" (it runs, but would be lost if this worker died before acking it): ${error.message}`);
    });
    this.deliver(key, raw, decoded);
  }

  /** An item fetch.lua popped: claimed there, unless it is in neither format. */
  private dispatch(item: FetchedItem): void {
    const decoded = item.claimed ? this.decodeOrDrop(item.key, item.raw, item.tag) : this.drop(item.key, item.raw, new Error("neither a kombu envelope (no properties.delivery_tag) nor a compact message"), null);
    if (decoded) this.deliver(item.key, item.raw, decoded);
  }

  /** `claimedTag`: the tag fetch.lua claimed the item under, null when it is not claimed yet (BRPOP). */
  private decodeOrDrop(key: string, raw: string, claimedTag: string | null): Decoded | null {
    try {
      return decodeStored(raw, queueOf(key));
    } catch (error) {
      return this.drop(key, raw, error, claimedTag);
    }
  }

  /**
   * Never crash on a malformed message (a Python 5.2 worker would): log it and move it to the dead
   * letters, forgetting the claim fetch.lua made by the tag it used (the text may name others), or it
   * would be restored forever.
   */
  private drop(key: string, raw: string, error: unknown, claimedTag: string | null): null {
    const queue = queueOf(key);
    const reason = `malformed message: ${(error as Error).message}`;
    this.host.log("error", `redis consumer: rejected a malformed message from "${queue}" (${reason}): ${JSON.stringify(raw.slice(0, 200))}`);
    const tag = claimedTag ?? undefined;
    const compact = isCompact(raw);
    this.host.deadLetters
      .bury({ key, queue, raw, tag, compact }, { code: "MALFORMED_MESSAGE", message: reason })
      .then((kept) => (kept || !tag ? undefined : this.host.ack(tag, compact)))
      .catch((buryError: Error) => this.host.log("error", `redis consumer: could not dead-letter a malformed message from "${queue}": ${buryError.message}`));
    return null;
  }

  private deliver(key: string, raw: string, decoded: Decoded): void {
    this.unsettled++;
    this.host.track(decoded.deliveryTag, decoded.compact);
    try {
      this.handler(new RedisDelivery(this, decoded, key, raw));
    } catch (error) {
      this.host.log("error", `redis consumer: delivery handler threw: ${(error as Error).message}`);
    }
  }

  /** A delivery is settled (or its requeue done): one more may be fetched. */
  release(tag: string): void {
    this.unsettled--;
    this.host.untrack(tag);
    this.wake?.();
  }

  ack(tag: string, compact: boolean): Promise<void> {
    return this.host.ack(tag, compact);
  }

  requeue(tag: string): Promise<void> {
    return this.host.requeue(tag);
  }

  bury(item: Buried, reason: RejectReason): Promise<boolean> {
    return this.host.deadLetters.bury(item, reason);
  }

  log(level: "info" | "warn" | "error", message: string): void {
    this.host.log(level, message);
  }
}

type Decoded = ReturnType<typeof decodeStored>;

const SETTLED_ALREADY = Promise.resolve();

// A class rather than an object of closures: one is made per message, so its methods live on the prototype.
class RedisDelivery implements Delivery {
  readonly message: Delivery["message"];
  readonly redelivered: boolean;
  readonly queue: string;
  private readonly tag: string;
  private readonly compact: boolean;
  private settled = false;

  constructor(
    private readonly consumer: RedisConsumer,
    decoded: Decoded,
    /** The list it was popped from, and the string popped: kept as received for a dead letter. */
    private readonly key: string,
    private readonly raw: string,
  ) {
    this.queue = queueOf(key);
    this.message = decoded.wire;
    this.redelivered = decoded.redelivered;
    this.tag = decoded.deliveryTag;
    this.compact = decoded.compact;
  }

  /**
   * Never: the claim lives in Redis (unacked hash), not in a connection, so a delivery held across a
   * reconnection is still ours to run and settle (its ack is an HDEL by tag, from any connection).
   */
  get stale(): boolean {
    return false;
  }

  /** Batched by the broker: every ack of one tick shares one flush and its promise. */
  ack(): Promise<void> {
    if (this.settled) return SETTLED_ALREADY;
    this.settled = true;
    this.consumer.release(this.tag);
    return this.consumer.ack(this.tag, this.compact);
  }

  async reject({ requeue, reason }: RejectOptions): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    if (requeue) {
      // The window opens only once the message is back: fetches go out on another connection than
      // the requeue, and the next one must find the message at the front of its queue.
      return this.consumer.requeue(this.tag).finally(() => this.consumer.release(this.tag));
    }
    if (reason) {
      // Should the move fail, the claim stays: the visibility timeout brings the message back.
      const item = { key: this.key, queue: this.queue, raw: this.raw, tag: this.tag, compact: this.compact };
      const kept = await this.consumer.bury(item, reason).catch((error: unknown) => {
        this.consumer.release(this.tag);
        throw error;
      });
      if (kept) return this.consumer.release(this.tag);
    }
    this.consumer.release(this.tag);
    // Not String(id): a rejected message's id may be anything, and a deeply nested array overflows the stack.
    const id = this.message.headers["id"];
    this.consumer.log("warn", `redis consumer: message ${typeof id === "string" ? id : this.tag} from "${this.queue}" rejected without requeue; dropped`);
    await this.consumer.ack(this.tag, this.compact);
  }
}

function queueOf(key: string): string {
  const cut = key.indexOf(PRIORITY_SEP);
  return cut === -1 ? key : key.slice(0, cut);
}
