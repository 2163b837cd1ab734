// One consumer of the Redis broker: keeps up to `prefetch` deliveries unsettled, fetching in batches with
// fetch.lua while messages wait. When every list is empty it waits in BLMOVE, which moves the next
// message into this consumer's in-flight list in the same command that hands it over, and sends fetch.lua
// right behind it to claim it: no moment exists where a message is out of every list and unclaimed, so
// a worker killed while it waits loses nothing (BRPOP, kombu's way, hands the next message to a killed
// client's still-registered pop; recover.lua returns what a dead consumer's in-flight list holds).
// Reads kombu envelopes and compact messages alike (format.ts), whatever format its broker publishes.
import { hostname } from "node:os";
import type { Consumer, DeliveryHandler, RejectReason } from "../broker.ts";
import { KEYS, consumeKeys } from "./scripts.ts";
import type { Buried, RedisDeadLetters } from "./dead-letters.ts";
import { decodeStored, newDeliveryTag } from "./format.ts";
import { type DeliveryOwner, RedisDelivery, queueOf } from "./delivery.ts";
import type { FetchedItem, InflightList } from "./claims.ts";
import { backoffMs } from "../../connection/redis.ts";
import { sleep } from "../../util/wait.ts";

export type { FetchedItem, InflightList } from "./claims.ts";

/** What a consumer needs from its broker (implemented by RedisBroker). */
export interface ConsumerHost {
  /** fetch.lua: claim what `inflight` holds, then pop and claim from `keys`, up to `max` in all. */
  fetch(keys: readonly string[], max: number, inflight: InflightList): Promise<FetchedItem[]>;
  /**
   * Register `inflight`, BLMOVE from its source into it (waiting up to `timeoutSeconds`), then fetch(),
   * sent back to back on the blocking connection, so Redis claims what BLMOVE moved without waiting for
   * this process.
   */
  blockingFetch(keys: readonly string[], max: number, inflight: InflightList, timeoutSeconds: number): Promise<FetchedItem[]>;
  /** release.lua: give back what these in-flight lists hold and unregister them. */
  release(inflightKeys: readonly string[]): Promise<void>;
  /** Put a taken but unclaimed item back at the front of its list. */
  pushBack(key: string, raw: string): Promise<void>;
  /** Forget a claim, and its redelivery counter when `redelivered` (acks are batched). */
  ack(tag: string, redelivered: boolean): Promise<void>;
  /** Where a message given up with a reason goes; `bury` returns false when no dead letters are kept. */
  readonly deadLetters: Pick<RedisDeadLetters, "bury">;
  requeue(tag: string): Promise<void>;
  track(tag: string): void;
  untrack(tag: string): void;
  unblock(): Promise<void>;
  /** Whether the connection fetches and BLMOVEs go out on is up (a sent one will be answered). */
  readonly connected: boolean;
  /** How long a stopping consumer waits for Redis to answer what it already sent (brokerConnectionTimeout). */
  readonly timeoutMs: number;
  log(level: "info" | "warn" | "error", message: string): void;
}

const ABANDONED = Symbol("abandoned");

/** Messages taken per fetch.lua call at most: bounds the script's run time. */
const MAX_BATCH = 100;
/**
 * How long one BLMOVE waits. BLMOVE watches one list (the one that last had a message), where BRPOP
 * watched them all: a message to another list (another queue, a priority step) while this consumer is
 * wholly idle waits up to this long for the fetch.lua that follows each wake (docs/brokers.md).
 */
export const BLOCK_SECONDS = 0.1;

export class RedisConsumer implements Consumer, DeliveryOwner {
  private active = true;
  private unsettled = 0;
  private wake: (() => void) | null = null;
  private readonly keys: string[];
  /** Names this consumer's in-flight lists; unique per consumer, readable in the registry. */
  private readonly id = `${hostname()}:${process.pid}:${newDeliveryTag()}`;
  /** The list BLMOVE waits on: the one the last message came from (the first queue's at start). */
  private source = 0;
  /** In-flight lists this consumer registered, given back and unregistered when it stops. */
  private readonly armed = new Set<string>();
  readonly done: Promise<void>;
  /** Resolved by a cancel while the connection is down or not answering: the loop stops waiting on Redis. */
  private abandon: () => void = () => {};
  private gaveUp = false;
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
    // Down, a fetch or BLMOVE already sent waits for a reconnection that may never come (ioredis re-sends
    // it then), and a stalled server may never answer it: a stopping worker waits for it at most
    // timeoutMs, and then does not try to unregister its in-flight lists either (recover.lua will).
    const giveUp = (): void => {
      this.gaveUp = true;
      this.abandon();
    };
    if (!this.host.connected) giveUp();
    const timer = setTimeout(giveUp, this.host.timeoutMs);
    try {
      await this.host.unblock().catch(() => undefined);
      await this.done;
    } finally {
      clearTimeout(timer);
    }
    if (this.armed.size === 0 || this.gaveUp || !this.host.connected) return;
    await this.host.release([...this.armed]).catch((error: Error) => {
      // Nothing is lost: recover.lua gives back in-flight lists of consumers gone, and forgets them in time.
      this.host.log("warn", `redis consumer: could not unregister its in-flight lists: ${error.message}`);
    });
  }

  private async loop(): Promise<void> {
    let failures = 0;
    // The last fetch emptied every list (it took fewer than it asked for): the next one waits for a
    // message instead of polling, which also spares the round trip of a fetch bound to find nothing.
    let idle = false;
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
        next = this.send(Math.min(want, MAX_BATCH), idle);
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
        idle = batch.length < size;
        if (batch.length === 0) continue;
        // A full batch means more is likely waiting: ask for it before running this one, within the
        // prefetch window (this batch counts as unsettled already).
        const room = this.prefetch - this.unsettled - batch.length;
        if (this.active && batch.length === size && room > 0) next = this.send(Math.min(room, MAX_BATCH), false);
        this.source = Math.max(0, this.keys.indexOf((batch[0] as FetchedItem).key));
        for (const item of batch) this.dispatch(item);
      } catch (error) {
        if (!this.active) continue;
        failures++;
        if (failures === 1) this.host.log("warn", `redis consumer: ${(error as Error).message}; retrying`);
        await Promise.race([sleep(backoffMs(failures, 50, 2000)), this.abandoned]);
      }
    }
  }

  /**
   * An abandoned fetch may still run, should the connection come back before the broker closes it:
   * what it then takes goes back to its queue (claimed by fetch.lua: requeued; else pushed back). What
   * a late BLMOVE alone moved stays in the in-flight list, for recover.lua.
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

  private send(size: number, block: boolean): { batch: Promise<FetchedItem[]>; size: number } {
    const inflight = { key: KEYS.inflight(this.id, this.source), source: this.source };
    let batch: Promise<FetchedItem[]>;
    if (block) {
      this.armed.add(inflight.key);
      batch = this.host.blockingFetch(this.keys, size, inflight, BLOCK_SECONDS);
    } else {
      batch = this.host.fetch(this.keys, size, inflight);
    }
    // Awaited in the next turn of the loop; until then a failure must not count as unhandled.
    batch.catch(() => undefined);
    return { batch, size };
  }

  /** An item fetch.lua took: claimed there, unless it is in neither format. */
  private dispatch(item: FetchedItem): void {
    if (!item.claimed) return this.drop(item, new Error("neither a kombu envelope (no properties.delivery_tag) nor a compact message"));
    let decoded: ReturnType<typeof decodeStored>;
    try {
      decoded = decodeStored(item.raw, queueOf(item.key));
    } catch (error) {
      return this.drop(item, error);
    }
    this.unsettled++;
    // Settled by the tag fetch.lua claimed it under: the one its claim is filed by, whatever the text says.
    this.host.track(item.tag);
    try {
      this.handler(new RedisDelivery(this, decoded, item));
    } catch (error) {
      this.host.log("error", `redis consumer: delivery handler threw: ${(error as Error).message}`);
    }
  }

  /**
   * Never crash on a malformed message (a Python 5.2 worker would): log it and move it to the dead
   * letters, forgetting the claim fetch.lua made by the tag it used (the text may name others), or it
   * would be restored forever.
   */
  private drop(item: FetchedItem, error: unknown): void {
    const queue = queueOf(item.key);
    const reason = `malformed message: ${(error as Error).message}`;
    this.host.log("error", `redis consumer: rejected a malformed message from "${queue}" (${reason}): ${JSON.stringify(item.raw.slice(0, 200))}`);
    const tag = item.claimed ? item.tag : undefined;
    this.host.deadLetters
      .bury({ key: item.key, queue, raw: item.raw, tag }, { code: "MALFORMED_MESSAGE", message: reason })
      .then((kept) => (kept || !tag ? undefined : this.host.ack(tag, item.redeliveries > 0)))
      .catch((buryError: Error) => this.host.log("error", `redis consumer: could not dead-letter a malformed message from "${queue}": ${buryError.message}`));
  }

  /** A delivery is settled (or its requeue done): one more may be fetched. */
  release(tag: string): void {
    this.unsettled--;
    this.host.untrack(tag);
    this.wake?.();
  }

  ack(tag: string, redelivered: boolean): Promise<void> {
    return this.host.ack(tag, redelivered);
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
