// One consumer of the Redis broker: keeps up to `prefetch` deliveries unsettled, fetching in batches with
// fetch.lua while messages wait. When every list is empty it waits in BLMOVE, which moves the next
// message into this consumer's in-flight list in the same command that hands it over, and sends fetch.lua
// right behind it to claim it: no moment exists where a message is out of every list and unclaimed, so
// a worker killed while it waits loses nothing (BRPOP, kombu's way, hands the next message to a killed
// client's still-registered pop; recover.lua returns what a dead consumer's in-flight list holds).
// Reads kombu envelopes and compact messages alike (format.ts), whatever format its broker publishes.
import { hostname } from "node:os";
import type { Consumer, Delivery, DeliveryHandler } from "../broker.ts";
import { KEYS, PRIORITY_SEP, consumeKeys } from "./scripts.ts";
import { decodeStored, newDeliveryTag, tagOfUndecodable } from "./format.ts";
import { backoffMs } from "../../connection/redis.ts";
import { sleep } from "../../util/wait.ts";

/** One item fetch.lua took; `claimed` is false for items that are in neither format. */
export interface FetchedItem {
  key: string;
  raw: string;
  claimed: boolean;
}

/** A consumer's in-flight list and the list its BLMOVE takes from (`source`: an index into its keys). */
export interface InflightList {
  key: string;
  source: number;
}

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
  /** Forget a claim (acks are batched). */
  ack(tag: string): Promise<void>;
  requeue(tag: string): Promise<void>;
  track(tag: string): void;
  untrack(tag: string): void;
  unblock(): Promise<void>;
  log(level: "info" | "warn" | "error", message: string): void;
}

/** Messages taken per fetch.lua call at most: bounds the script's run time. */
const MAX_BATCH = 100;
/**
 * How long one BLMOVE waits. BLMOVE watches one list (the one that last had a message), where BRPOP
 * watched them all: a message to another list (another queue, a priority step) while this consumer is
 * wholly idle waits up to this long for the fetch.lua that follows each wake (docs/brokers.md).
 */
export const BLOCK_SECONDS = 0.1;

export class RedisConsumer implements Consumer {
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
    await this.host.unblock().catch(() => undefined);
    await this.done;
    if (this.armed.size === 0) return;
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
        const batch = await sent;
        failures = 0;
        idle = batch.length < size;
        if (batch.length === 0) continue;
        // A full batch means more is likely waiting: ask for it before running this one, within the
        // prefetch window (this batch counts as unsettled already).
        const room = this.prefetch - this.unsettled - batch.length;
        if (this.active && batch.length === size && room > 0) next = this.send(Math.min(room, MAX_BATCH), false);
        this.source = Math.max(0, this.keys.indexOf((batch[0] as FetchedItem).key));
        for (const item of batch) this.dispatch(item.key, item.raw, item.claimed);
      } catch (error) {
        if (!this.active) continue;
        failures++;
        if (failures === 1) this.host.log("warn", `redis consumer: ${(error as Error).message}; retrying`);
        await sleep(backoffMs(failures, 50, 2000));
      }
    }
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
  private dispatch(key: string, raw: string, claimed: boolean): void {
    const queue = queueOf(key);
    if (!claimed) return this.drop(queue, raw, new Error("neither a kombu envelope (no properties.delivery_tag) nor a compact message"), false);
    let decoded: Decoded;
    try {
      decoded = decodeStored(raw, queue);
    } catch (error) {
      return this.drop(queue, raw, error, true);
    }
    this.deliver(queue, decoded);
  }

  /** Never crash on a malformed message (a Python 5.2 worker would): log it and drop it. */
  private drop(queue: string, raw: string, error: unknown, claimed: boolean): void {
    this.host.log("error", `redis consumer: rejected a malformed message from "${queue}": ${(error as Error).message}: ${JSON.stringify(raw.slice(0, 200))}`);
    // fetch.lua claimed it (its tag was read there): forget the claim, or it would be restored forever.
    const tag = claimed ? tagOfUndecodable(raw) : undefined;
    if (tag) void this.host.ack(tag).catch(() => undefined);
  }

  private deliver(queue: string, decoded: Decoded): void {
    this.unsettled++;
    this.host.track(decoded.deliveryTag);
    try {
      this.handler(new RedisDelivery(this, decoded, queue));
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

  ack(tag: string): Promise<void> {
    return this.host.ack(tag);
  }

  requeue(tag: string): Promise<void> {
    return this.host.requeue(tag);
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
  private readonly tag: string;
  private settled = false;

  constructor(
    private readonly consumer: RedisConsumer,
    decoded: Decoded,
    readonly queue: string,
  ) {
    this.message = decoded.wire;
    this.redelivered = decoded.redelivered;
    this.tag = decoded.deliveryTag;
  }

  /** Batched by the broker: every ack of one tick shares one flush and its promise. */
  ack(): Promise<void> {
    if (this.settled) return SETTLED_ALREADY;
    this.settled = true;
    this.consumer.release(this.tag);
    return this.consumer.ack(this.tag);
  }

  async reject({ requeue }: { requeue: boolean }): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    if (requeue) {
      // The window opens only once the message is back: fetches go out on another connection than
      // the requeue, and the next one must find the message at the front of its queue.
      return this.consumer.requeue(this.tag).finally(() => this.consumer.release(this.tag));
    }
    this.consumer.release(this.tag);
    this.consumer.log("warn", `redis consumer: message ${String(this.message.headers["id"] ?? this.tag)} from "${this.queue}" rejected without requeue; dropped`);
    await this.consumer.ack(this.tag);
  }
}

function queueOf(key: string): string {
  const cut = key.indexOf(PRIORITY_SEP);
  return cut === -1 ? key : key.slice(0, cut);
}
