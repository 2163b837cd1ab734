// The Redis result backend (`redis://`, `rediss://`, `unix://`): results at celery-task-meta-<id> in
// Celery's JSON with expiry, announced by PUBLISH on the channel of the same name, as Celery 5 does.
// Waiters share one subscriber connection and subscribe before reading the key (Celery's ResultConsumer).
import type { BackendOptions, ResultBackend, WaitOptions } from "../backend.ts";
import { isReady, type ResultRecord } from "../../protocol/result.ts";
import { decodeResultMeta, encodeResultMeta } from "../../protocol/result-meta.ts";
import { parseJson, stringifyJson } from "../../protocol/json.ts";
import { type RedisConnectOptions, type RedisLease, type RedisTarget, leaseCommandClient, parseRedisUrl, readyOrRelease, whenReady } from "../../connection/redis.ts";
import { type SubscriberHub, leaseSubscriberHub } from "../../connection/redis-pubsub.ts";
import { ConnectionError, TimeoutError } from "../../util/errors.ts";
import type { ConnectOptions } from "../../util/wait.ts";
import type { Redis } from "ioredis";
import { readFileSync } from "node:fs";
import { RedisScript } from "../../connection/redis-script.ts";

/** Celery's key (and channel) for a task's result (`BaseKeyValueStoreBackend.task_keyprefix`). */
export function resultKey(taskId: string): string {
  return `celery-task-meta-${taskId}`;
}

/** Results per store.lua call at most: bounds one command's size and Redis's time in it. */
const STORE_CHUNK = 500;
/** Records stored in one turn that are written at once, without waiting for the end of the turn. */
export const STORE_EAGER_BATCH = 32;
/** How long a subscription made ahead of a wait (expect()) is kept for a waitForReady() to take over. */
const EXPECT_MS = 10_000;
/** Subscriptions made ahead of a wait, at most. */
const EXPECT_MAX = 1000;
let storeScript: RedisScript | null = null;
// Read on first use: importing the library does no I/O.
const store = (): RedisScript => (storeScript ??= new RedisScript(readFileSync(new URL("./store.lua", import.meta.url), "utf8")));

export class RedisBackend implements ResultBackend {
  private readonly target: RedisTarget;
  private lease: RedisLease | null = null;
  private hub: SubscriberHub | null = null;
  private stopReconnect: (() => void) | null = null;
  /** Tasks subscribed to ahead of a wait (expect()): take over the subscription, with what it heard so far. */
  private readonly expected = new Map<string, { take(handler: (raw: string) => void): Promise<() => Promise<void>>; drop(): void }>();
  /** Re-read on resubscription: results published while the subscriber was down are not replayed. */
  private readonly recheck = new Map<string, () => void>();

  private readonly connectOptions: RedisConnectOptions;
  /** Records stored this turn of the event loop, written together by flushPending(). */
  private pending: { record: ResultRecord; settle: (error: Error | null) => void }[] = [];

  constructor(url: string, private readonly options: BackendOptions) {
    this.target = parseRedisUrl(url);
    // No retry limit: results must outlive any outage (each operation is bounded by connectionTimeoutMs),
    // and a client shared with the broker then gives up only with the broker's own connections.
    this.connectOptions = { ...options, connectionMaxRetries: Infinity };
  }

  private get client(): Redis {
    if (!this.lease) throw new ConnectionError(`redis backend ${this.target.display}: not connected (call connect() first)`);
    return this.lease.client;
  }

  async connect(wait: ConnectOptions = {}): Promise<void> {
    const lease = (this.lease ??= leaseCommandClient(this.target, this.connectOptions));
    await readyOrRelease(lease, wait.timeoutMs ?? this.options.connectionTimeoutMs, `connect to ${this.target.display}`, wait.signal).catch((error: unknown) => {
      if (this.lease === lease) this.lease = null;
      throw error;
    });
  }


  /**
   * Store one record. Records stored in the same turn of the event loop (a worker finishing a batch of
   * tasks) are written together, in one store.lua call and one socket write, as the broker batches acks; each
   * caller still resolves, or rejects, for its own record only.
   */
  store(record: ResultRecord): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.pending.length === 0) setImmediate(() => void this.flushPending());
      this.pending.push({ record, settle: (error) => (error ? reject(error) : resolve()) });
      // A full batch goes out at once: Redis writes it while this process runs the next tasks, and
      // their callers (a worker's slots) are freed batch by batch rather than all after one write.
      if (this.pending.length >= STORE_EAGER_BATCH) void this.flushPending();
    });
  }

  /** SET with expiry + PUBLISH for every record, in one round trip. */
  async storeMany(records: readonly ResultRecord[]): Promise<void> {
    const failed = (await this.write(records)).find((error) => error !== null);
    if (failed) throw failed;
  }

  private async flushPending(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    let errors: (Error | null)[];
    try {
      errors = await this.write(batch.map((entry) => entry.record));
    } catch (error) {
      errors = batch.map(() => error as Error);
    }
    batch.forEach((entry, i) => entry.settle(errors[i] ?? null));
  }

  /**
   * Writes records with store.lua, one call per STORE_CHUNK of them (one command and one reply, not a
   * SETEX and a PUBLISH each); returns each record's error (its encoding, or its chunk's call), or null.
   */
  private async write(records: readonly ResultRecord[]): Promise<(Error | null)[]> {
    if (records.length === 0) return [];
    const client = this.client;
    if (client.status !== "ready") await whenReady(client, this.options.connectionTimeoutMs, "store results");
    const errors: (Error | null)[] = records.map(() => null);
    const keys: string[] = [];
    const metas: string[] = [];
    const written: number[] = [];
    records.forEach((record, i) => {
      try {
        metas.push(stringifyJson(encodeResultMeta(record)));
      } catch (error) {
        errors[i] = error as Error;
        return;
      }
      keys.push(resultKey(record.taskId));
      written.push(i);
    });
    const calls: Promise<void>[] = [];
    for (let start = 0; start < keys.length; start += STORE_CHUNK) {
      const end = Math.min(start + STORE_CHUNK, keys.length);
      const call = store().run(client, keys.slice(start, end), [this.options.resultExpiresSeconds, ...metas.slice(start, end)]);
      calls.push(
        call.then(
          () => undefined,
          (error: unknown) => {
            for (let k = start; k < end; k++) errors[written[k] as number] = error as Error;
          },
        ),
      );
    }
    await Promise.all(calls);
    return errors;
  }

  async get(taskId: string): Promise<ResultRecord | null> {
    const raw = await this.client.get(resultKey(taskId));
    return raw === null ? null : decodeResultMeta(parseJson(raw), taskId);
  }

  /**
   * Subscribe to the task's channel before it is even published, once this backend has waited on a
   * result before (its subscriber is open): the waitForReady() that usually follows then finds the
   * subscription in place (or the result already announced) instead of paying a SUBSCRIBE round trip
   * after the publish. Celery's Redis backend subscribes at apply_async time as well (on_task_call).
   * Not waited on within EXPECT_MS, the subscription is dropped.
   */
  expect(taskId: string): void {
    const hub = this.hub;
    // Bounded: a client that sends many tasks it never waits on must not pile up subscriptions.
    if (!hub || this.expected.has(taskId) || this.expected.size >= EXPECT_MAX) return;
    let announced: string | null = null;
    let listener: ((raw: string) => void) | null = null;
    const subscribed = hub.subscribe(resultKey(taskId), (raw) => {
      if (listener) listener(raw);
      else announced = raw;
    });
    subscribed.catch(() => undefined); // a waitForReady() that takes it over sees the failure
    const drop = (): void => {
      clearTimeout(timer);
      this.expected.delete(taskId);
      void subscribed.then((stop) => stop(), () => undefined);
    };
    const timer = setTimeout(drop, EXPECT_MS);
    timer.unref();
    this.expected.set(taskId, {
      take: (handler) => {
        clearTimeout(timer);
        this.expected.delete(taskId);
        listener = handler;
        if (announced !== null) handler(announced);
        return subscribed;
      },
      drop,
    });
  }

  async waitForReady(taskId: string, options: WaitOptions = {}): Promise<ResultRecord> {
    const key = resultKey(taskId);
    const early = this.expected.get(taskId);
    if (!this.hub) {
      this.hub = leaseSubscriberHub(this.target, this.connectOptions);
      this.stopReconnect = this.hub.onReconnect(() => {
        for (const check of this.recheck.values()) check();
      });
    }
    const hub = this.hub;
    return new Promise<ResultRecord>((resolve, reject) => {
      let done = false;
      let unsubscribe: (() => Promise<void>) | null = null;
      let timer: NodeJS.Timeout | undefined;
      const token = `${key}#${Math.random()}`;
      const finish = (error: unknown, record?: ResultRecord): void => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
        this.recheck.delete(token);
        void unsubscribe?.().catch(() => undefined);
        if (record) resolve(record);
        else reject(error);
      };
      const offer = (raw: string | null): void => {
        if (raw === null || done) return;
        try {
          const record = decodeResultMeta(parseJson(raw), taskId);
          if (isReady(record.state)) finish(null, record);
        } catch (error) {
          finish(error);
        }
      };
      const read = (): void => {
        this.client.get(key).then(offer, (error: unknown) => finish(error));
      };
      const onAbort = (): void => finish(options.signal?.reason ?? new Error("aborted"));
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener("abort", onAbort, { once: true });
      if (options.timeoutMs !== undefined) {
        timer = setTimeout(() => finish(new TimeoutError(`timed out after ${options.timeoutMs} ms waiting for the result of task ${taskId}`)), options.timeoutMs);
      }
      (early ? early.take((message) => offer(message)) : hub.subscribe(key, (message) => offer(message))).then(
        (stop) => {
          unsubscribe = stop;
          if (done) return void stop().catch(() => undefined);
          this.recheck.set(token, read);
          read(); // subscribed first, so a result stored from now on cannot be missed
        },
        (error: unknown) => finish(error),
      );
    });
  }

  async forget(taskId: string): Promise<void> {
    await this.client.del(resultKey(taskId));
  }

  async close(): Promise<void> {
    if (this.pending.length > 0) await this.flushPending();
    for (const early of [...this.expected.values()]) early.drop();
    this.stopReconnect?.();
    this.stopReconnect = null;
    await this.hub?.release();
    this.hub = null;
    await this.lease?.release();
    this.lease = null;
  }
}

/** Creates a Redis result backend. Example: `createRedisBackend("redis://localhost:6379/1", options)`. */
export function createRedisBackend(url: string, options: BackendOptions): RedisBackend {
  return new RedisBackend(url, options);
}
