// How a Redis consumer takes messages and settles its claims, all in Celeriac's own pair
// (celeriac.unacked): fetch.lua (pop and claim in one step), BLMOVE + fetch.lua back to back while
// every list is empty, and acks batched per tick.
import type { Redis } from "ioredis";
import { bounded } from "../../connection/redis.ts";
import { KEYS, runScript } from "./scripts.ts";

/** One item fetch.lua took; `claimed` is false for items that are in neither format. */
export interface FetchedItem {
  key: string;
  raw: string;
  claimed: boolean;
  /** The delivery tag fetch.lua claimed it under ("" when not claimed). */
  tag: string;
  /** How often it was given back before (its celeriac.redeliveries counter; 0 when never). */
  redeliveries: number;
}

/** A consumer's in-flight list and the list its BLMOVE takes from (`source`: an index into its keys). */
export interface InflightList {
  key: string;
  source: number;
}

/** Our claim pair, where fetch.lua records every claim and requeue.lua / dead-letter.lua find it. */
export const CLAIM_KEYS: readonly string[] = [KEYS.ownUnacked, KEYS.ownUnackedIndex];

/**
 * fetch.lua: claim what `inflight` holds, then pop and claim from `keys`, up to `max` in all.
 * Example: `await fetchClaimed(client, ["celery"], 10, { key: KEYS.inflight(id, 0), source: 0 })`.
 */
export async function fetchClaimed(client: Redis, keys: readonly string[], max: number, inflight: InflightList): Promise<FetchedItem[]> {
  const reply = (await runScript(client, "fetch", [...CLAIM_KEYS, inflight.key, ...keys], [max, Date.now() / 1000, inflight.source + 1])) as (number | string)[];
  const out: FetchedItem[] = [];
  for (let i = 0; i < reply.length; i += 4) {
    const index = Number(reply[i]);
    out.push({ key: keys[Math.abs(index) - 1] as string, raw: String(reply[i + 1]), claimed: index > 0, tag: String(reply[i + 2]), redeliveries: Number(reply[i + 3]) });
  }
  return out;
}

/**
 * Registers `inflight`, BLMOVEs from its source into it (waiting up to `timeoutSeconds`), then runs
 * fetchClaimed(), all written back to back on `blocking` (a connection that does not auto-pipeline):
 * Redis keeps fetch.lua queued behind the BLMOVE and runs it as soon as BLMOVE returns, with no round
 * trip to this process between. Example: `await blockingFetchClaimed(blocking, keys, 10, inflight, 0.1)`.
 */
export async function blockingFetchClaimed(blocking: Redis, keys: readonly string[], max: number, inflight: InflightList, timeoutSeconds: number): Promise<FetchedItem[]> {
  const source = keys[inflight.source] as string;
  const registered = blocking.hset(KEYS.inflightRegistry, inflight.key, `${Date.now()} ${source}`);
  const moved = blocking.blmove(source, inflight.key, "RIGHT", "LEFT", timeoutSeconds);
  const [, , fetched] = await Promise.all([registered, moved, fetchClaimed(blocking, keys, max, inflight)]);
  return fetched;
}

/**
 * Acks of one tick, sent as one ZREM + one HDEL (+ one DEL of the redelivery counters of those that were
 * redelivered). Example: `const acks = new AckBatch(() => client, 10_000); await acks.add(tag, false)`
 * resolves once the batch holding `tag` is written, and rejects when Redis has not answered within
 * `timeoutMs` (the claim then stays, and its message comes back after the visibility timeout).
 */
export class AckBatch {
  private pending: string[] = [];
  /** Counters to delete with this batch: only redelivered messages have one, so most batches have none. */
  private counters: string[] = [];
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly client: () => Redis,
    private readonly timeoutMs: number,
  ) {}

  add(tag: string, redelivered: boolean): Promise<void> {
    this.pending.push(tag);
    if (redelivered) this.counters.push(KEYS.redeliveries(tag));
    this.flushing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.flush());
    return this.flushing;
  }

  /** Writes what is pending now (close() calls it rather than waiting for the next tick). */
  async flush(): Promise<void> {
    const tags = this.pending;
    const counters = this.counters;
    this.pending = [];
    this.counters = [];
    this.flushing = null;
    if (tags.length === 0) return;
    const pipeline = this.client().pipeline().zrem(KEYS.ownUnackedIndex, ...tags).hdel(KEYS.ownUnacked, ...tags);
    if (counters.length > 0) pipeline.del(...counters);
    const results = await bounded(pipeline.exec(), Date.now() + this.timeoutMs, `acknowledge ${tags.length} messages`);
    for (const [error] of results ?? []) if (error) throw error;
  }
}
