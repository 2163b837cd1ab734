// One message a Redis consumer handed out: settled once, by ack (forget the claim), reject with requeue
// (the claim goes back to the front of its queue), or reject with a reason (moved to the dead letters).
import type { Delivery, RejectOptions, RejectReason } from "../broker.ts";
import type { DecodedEnvelope } from "../../protocol/kombu-envelope.ts";
import type { Buried } from "./dead-letters.ts";
import type { FetchedItem } from "./claims.ts";
import { PRIORITY_SEP } from "./scripts.ts";

/** What a delivery settles through: its consumer, which keeps the prefetch window and asks its broker. */
export interface DeliveryOwner {
  /** A delivery is settled (or its requeue done): the window opens by one. */
  release(tag: string): void;
  /** Forgets the claim, and the redelivery counter when `redelivered` (the message had one). */
  ack(tag: string, redelivered: boolean): Promise<void>;
  requeue(tag: string): Promise<void>;
  /** Dead-letters the item and forgets its claim; false when the broker keeps no dead letters. */
  bury(item: Buried, reason: RejectReason): Promise<boolean>;
  log(level: "info" | "warn" | "error", message: string): void;
}

/** The queue a list belongs to (a priority sub-list is `<queue>\x06\x16<step>`). */
export function queueOf(key: string): string {
  const cut = key.indexOf(PRIORITY_SEP);
  return cut === -1 ? key : key.slice(0, cut);
}

const SETTLED_ALREADY = Promise.resolve();

/**
 * A claimed message. `item.tag` is the tag fetch.lua claimed it under, which every settlement names.
 * Made by RedisConsumer, e.g. `new RedisDelivery(consumer, decoded, item)`.
 */
// A class rather than an object of closures: one is made per message, so its methods live on the prototype.
export class RedisDelivery implements Delivery {
  readonly message: Delivery["message"];
  readonly redelivered: boolean;
  readonly deliveryCount: number;
  readonly queue: string;
  /** The list it was taken from, and the string taken: kept as received for a dead letter. */
  private readonly key: string;
  private readonly raw: string;
  private readonly tag: string;
  private settled = false;

  constructor(
    private readonly owner: DeliveryOwner,
    decoded: DecodedEnvelope,
    item: FetchedItem,
  ) {
    this.key = item.key;
    this.raw = item.raw;
    this.tag = item.tag;
    this.queue = queueOf(item.key);
    this.message = decoded.wire;
    this.redelivered = decoded.redelivered || item.redeliveries > 0;
    // Marked redelivered with no counter: given back by a Python worker's restore_visible, which counts
    // nothing; at least its second delivery, then.
    this.deliveryCount = 1 + Math.max(item.redeliveries, decoded.redelivered ? 1 : 0);
  }

  /**
   * Never: the claim lives in Redis (celeriac.unacked), not in a connection, so a delivery held across a
   * reconnection is still ours to run and settle (its ack is an HDEL by tag, from any connection).
   */
  get stale(): boolean {
    return false;
  }

  /** Batched by the broker: every ack of one tick shares one flush and its promise. */
  ack(): Promise<void> {
    if (this.settled) return SETTLED_ALREADY;
    this.settled = true;
    this.owner.release(this.tag);
    return this.owner.ack(this.tag, this.deliveryCount > 1);
  }

  async reject({ requeue, reason }: RejectOptions): Promise<void> {
    if (this.settled) return;
    this.settled = true;
    if (requeue) {
      // The window opens only once the message is back: fetches go out on another connection than
      // the requeue, and the next one must find the message at the front of its queue.
      return this.owner.requeue(this.tag).finally(() => this.owner.release(this.tag));
    }
    if (reason) {
      // Should the move fail, the claim stays: the visibility timeout brings the message back.
      const item = { key: this.key, queue: this.queue, raw: this.raw, tag: this.tag };
      const kept = await this.owner.bury(item, reason).catch((error: unknown) => {
        this.owner.release(this.tag);
        throw error;
      });
      if (kept) return this.owner.release(this.tag);
    }
    this.owner.release(this.tag);
    // Not String(id): a rejected message's id may be anything, and a deeply nested array overflows the stack.
    const id = this.message.headers["id"];
    this.owner.log("warn", `redis consumer: message ${typeof id === "string" ? id : this.tag} from "${this.queue}" rejected without requeue; dropped`);
    await this.owner.ack(this.tag, this.deliveryCount > 1);
  }
}
