// The compact message format on the real Redis (db 4): how it is stored and claimed (our own claim
// pair, never kombu's), crash restore and requeue, a foreign tag that is not ASCII, both formats in one
// queue, the setting's validation, and a whole app (worker, retry, eta parking) running on it.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Delivery } from "../../src/broker/broker.ts";
import { createRedisBroker, type RedisBroker } from "../../src/broker/redis/broker.ts";
import { ConfigError, createApp, createWorker, type TaskContext } from "../../src/index.ts";
import { delay, eventually, labelOf, uniqueQueue, wireMessage } from "../conformance/fixtures.ts";
import { adminClient, brokerOptions, freshDbAround, type LogLine, redisUrl } from "./redis-helpers.ts";

const DB = 4;
const admin = adminClient(DB);
const COMPACT = { messageFormat: "compact" };

describe("redis compact message format", () => {
  const open: RedisBroker[] = [];
  const make = async (format: "celery" | "compact", logs: LogLine[] = [], visibilityTimeoutSeconds = 3600): Promise<RedisBroker> => {
    const broker = createRedisBroker(redisUrl(DB), brokerOptions(logs, { visibilityTimeoutSeconds, transportOptions: { messageFormat: format } }));
    await broker.connect();
    open.push(broker);
    return broker;
  };
  freshDbAround(admin, open);

  test("stores a marked, short message and claims it in celeriac.unacked, never in kombu's unacked", async () => {
    const broker = await make("compact");
    const q = uniqueQueue();
    await broker.publish(q, wireMessage("small", 5));
    const [raw] = await admin.lrange(`${q}\x06\x163`, 0, -1);
    assert.ok(raw!.startsWith("\x01"), "compact marker");
    assert.ok(raw!.length < 160, `${raw!.length} bytes`);
    const got: Delivery[] = [];
    const consumer = await broker.consume([q], (d) => got.push(d), { prefetch: 1 });
    await eventually(() => got.length === 1, 5000, "the delivery");
    assert.equal(labelOf(got[0]!.message), "small");
    assert.equal(got[0]!.message.properties.priority, 5);
    const tag = raw!.slice(1, 13);
    assert.equal(await admin.hget("celeriac.unacked", tag), `${q}\x06\x163\0${raw}`);
    assert.ok(Number(await admin.zscore("celeriac.unacked_index", tag)) > 0, "Number(await admin.zscore(\"celeriac.unacked_index\", tag)) > 0");
    assert.equal(await admin.hlen("unacked"), 0, "a Python worker's restore_visible would see this claim");
    await got[0]!.ack();
    assert.equal(await admin.hlen("celeriac.unacked"), 0);
    assert.equal(await admin.zcard("celeriac.unacked_index"), 0);
    await consumer.cancel();
  });

  test("a dead consumer's compact claim comes back after the visibility timeout, marked redelivered", async () => {
    const logs: LogLine[] = [];
    const q = uniqueQueue();
    const producer = await make("compact");
    await producer.publish(q, wireMessage("orphan"));
    const [raw] = await admin.lrange(q, 0, -1);
    // What a killed worker leaves: the claim, scored 10 s ago, and nothing in the list.
    await admin.del(q);
    await admin.hset("celeriac.unacked", raw!.slice(1, 13), `${q}\0${raw}`);
    await admin.zadd("celeriac.unacked_index", Date.now() / 1000 - 10, raw!.slice(1, 13));
    const broker = await make("celery", logs, 2);
    const got: Delivery[] = [];
    const consumer = await broker.consume([q], (d) => got.push(d), { prefetch: 1 });
    await eventually(() => got.length === 1, 10_000, "the restored delivery");
    assert.equal(labelOf(got[0]!.message), "orphan");
    assert.equal(got[0]!.redelivered, true);
    assert.ok(logs.some((l) => /restored 1 unacknowledged/.test(l.message)), "logs.some((l) => /restored 1 unacknowledged/.test(l.message))");
    // A requeue flips the marker too, and keeps the message otherwise byte for byte.
    await got[0]!.reject({ requeue: true });
    await eventually(() => got.length === 2, 5000, "the requeued delivery");
    assert.equal(got[1]!.redelivered, true);
    await got[1]!.ack();
    await consumer.cancel();
    assert.equal(await admin.hlen("celeriac.unacked"), 0);
  });

  test("a compact message whose tag is not ASCII is acked under the tag it was claimed by, so it never runs again", async () => {
    const q = uniqueQueue();
    // 12 characters, 21 bytes: Lua's 12-byte tag and JavaScript's 12-character one used to differ, so
    // the ack missed the claim and the message came back after every visibility timeout.
    const raw = `\x01Zoë☃日本語-tag!${JSON.stringify(["non-ascii-1", "conformance.echo"])}\n${JSON.stringify([["non-ascii"], {}, {}])}`;
    await admin.lpush(q, raw);
    const broker = await make("compact", [], 1);
    const got: Delivery[] = [];
    const consumer = await broker.consume([q], (d) => got.push(d), { prefetch: 1 });
    await eventually(() => got.length === 1, 5000, "the delivery");
    assert.equal(labelOf(got[0]!.message), "non-ascii");
    assert.equal(await admin.hlen("celeriac.unacked"), 1);
    await got[0]!.ack();
    assert.equal(await admin.hlen("celeriac.unacked"), 0, "the ack missed the claim");
    assert.equal(await admin.zcard("celeriac.unacked_index"), 0);
    await delay(2500); // past two visibility timeouts: nothing is left to restore
    assert.equal(got.length, 1, "the acked message ran again");
    await consumer.cancel();
  });

  test("one queue holding both formats: consumers of either configuration read both", async () => {
    const q = uniqueQueue();
    const compact = await make("compact");
    const celery = await make("celery");
    for (const consumerBroker of [celery, compact]) {
      for (let i = 0; i < 10; i++) await (i % 2 ? compact : celery).publish(q, wireMessage(`m${i}`));
      const got: Delivery[] = [];
      const consumer = await consumerBroker.consume([q], (d) => got.push(d), { prefetch: 10 });
      await eventually(() => got.length === 10, 5000, "ten deliveries");
      await consumer.cancel();
      assert.deepEqual(got.map((d) => labelOf(d.message)), Array.from({ length: 10 }, (_, i) => `m${i}`));
      for (const d of got) await d.ack();
    }
    assert.equal(await compact.length(q), 0);
    assert.equal((await admin.hlen("unacked")) + (await admin.hlen("celeriac.unacked")), 0);
  });

  test("closing a consumer gives back unsettled compact deliveries", async () => {
    const q = uniqueQueue();
    const broker = await make("compact");
    for (let i = 0; i < 3; i++) await broker.publish(q, wireMessage(`c${i}`));
    const holder = createRedisBroker(redisUrl(DB), brokerOptions([], { transportOptions: COMPACT }));
    await holder.connect();
    const got: Delivery[] = [];
    await holder.consume([q], (d) => got.push(d), { prefetch: 3 });
    await eventually(() => got.length === 3, 5000, "three deliveries");
    await holder.close();
    assert.equal(await broker.length(q), 3);
    assert.ok((await admin.lrange(q, 0, -1)).every((raw) => raw.startsWith("\x02")), "(await admin.lrange(q, 0, -1)).every((raw) => raw.startsWith(\"\\x02\"))");
  });

  test("messageFormat is validated: a misspelt key names the right one, a bad value says what is allowed", async () => {
    assert.throws(() => createRedisBroker(redisUrl(DB), brokerOptions([], { transportOptions: { messageFormt: "compact" } })), (error: unknown) => error instanceof ConfigError && /unknown key "messageFormt" for the Redis broker \(did you mean "messageFormat"\?\)/.test(error.message));
    assert.throws(() => createRedisBroker(redisUrl(DB), brokerOptions([], { transportOptions: { messageFormat: "binary" } })), /brokerTransportOptions.messageFormat is "binary"; expected "celery" .* or "compact"/);
    const app = createApp({ brokerUrl: redisUrl(DB), readEnv: false, brokerTransportOptions: { maxPriority: 10 } });
    await assert.rejects(app.getBroker(), /unknown key "maxPriority" for the Redis broker/);
  });

  test("an app on compact messages: the worker runs tasks, a retry and a parked countdown", async () => {
    const app = createApp({ brokerUrl: redisUrl(DB), resultBackend: redisUrl(DB), readEnv: false, taskDefaultQueue: uniqueQueue(), brokerTransportOptions: COMPACT, workerEtaHoldSeconds: 0 });
    const add = app.task("compact.add", (x: number, y: number) => x + y);
    const flaky = app.task("compact.flaky", (ctx: TaskContext) => (ctx.request.retries < 2 ? ctx.retry({ countdown: 0.2 }) : ctx.request.retries), { bind: true });
    const worker = createWorker(app, { concurrency: 4 });
    await worker.start();
    try {
      const started = Date.now();
      const results = await Promise.all([add.delay(2, 3), flaky.delay(), add.applyAsync([1, 1], { countdown: 1 })]);
      assert.deepEqual(await Promise.all(results.map((r) => r.get({ timeout: 15 }))), [5, 2, 2]);
      assert.ok(Date.now() - started >= 950, "the countdown ran early");
      assert.equal(worker.stats.retried, 2);
      const queued = await admin.lrange(app.config.taskDefaultQueue, 0, -1);
      assert.deepEqual(queued, []);
    } finally {
      await worker.stop();
      await app.close();
    }
  });
});
