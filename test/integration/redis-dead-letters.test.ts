// Dead letters on the real Redis (db 14): what is stored under celeriac.dead-letter.<queue> (the message
// byte for byte, in either format, with its reason), the claim forgotten in the same step, the cap, the
// malformed items a consumer cannot even decode, and a worker dead-lettering an oversized message.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Delivery } from "../../src/broker/broker.ts";
import { createRedisBroker, type RedisBroker } from "../../src/broker/redis/broker.ts";
import { createApp, createWorker } from "../../src/index.ts";
import { eventually, labelOf, uniqueQueue, wireMessage } from "../conformance/fixtures.ts";
import { adminClient, brokerOptions, freshDbAround, redisUrl, type LogLine } from "./redis-helpers.ts";

const DB = 14;
const admin = adminClient(DB);
const reason = { code: "TEST_REJECTED", message: "no good ☃" };

describe("redis dead letters", () => {
  const open: RedisBroker[] = [];
  const make = async (transportOptions: Record<string, unknown> = {}, logs: LogLine[] = []): Promise<RedisBroker> => {
    const broker = createRedisBroker(redisUrl(DB), brokerOptions(logs, { transportOptions }));
    await broker.connect();
    open.push(broker);
    return broker;
  };
  /** Consumes `count` deliveries of `queue` with a new consumer, cancelled before returning them. */
  const take = async (broker: RedisBroker, queue: string, count: number): Promise<Delivery[]> => {
    const got: Delivery[] = [];
    const consumer = await broker.consume([queue], (d) => got.push(d), { prefetch: count });
    await eventually(() => got.length === count, 5000, `${count} deliveries`);
    await consumer.cancel();
    return got;
  };
  freshDbAround(admin, open);

  for (const format of ["celery", "compact"] as const) {
    test(`${format} format: the message is kept byte for byte with its reason, its claim is gone, and redrive restores the same bytes`, async () => {
      const broker = await make({ messageFormat: format });
      const q = uniqueQueue();
      await broker.publish(q, wireMessage("bytes", 6));
      const key = `${q}\x06\x166`;
      const [raw] = await admin.lrange(key, 0, -1);
      const [delivery] = await take(broker, q, 1);
      // Every Celeriac claim, either format, is in our own pair; kombu's hash is the Python workers'.
      const claims = "celeriac.unacked";
      assert.equal(await admin.hlen(claims), 1);
      assert.equal(await admin.hlen("unacked"), 0);
      await delivery!.reject({ requeue: false, reason });

      assert.equal(await admin.hlen(claims), 0, "the claim outlived the dead-lettering");
      assert.equal(await admin.llen(key), 0);
      const [entry] = await admin.lrange(`celeriac.dead-letter.${q}`, 0, -1);
      const cut = entry!.indexOf("\n");
      assert.equal(entry!.slice(cut + 1), raw, "the stored message differs from the one received");
      const meta = JSON.parse(entry!.slice(0, cut)) as Record<string, unknown>;
      assert.deepEqual([meta["queue"], meta["key"], meta["code"], meta["reason"]], [q, key, "TEST_REJECTED", "no good ☃"]);
      assert.ok(Math.abs(Number(meta["at"]) - Date.now()) < 10_000, "Math.abs(Number(meta[\"at\"]) - Date.now()) < 10_000");

      const [letter] = await broker.deadLetters.list(q, 10);
      assert.equal(labelOf(letter!.message!), "bytes");
      assert.equal(letter!.message!.properties.priority, 6);
      assert.equal(await broker.deadLetters.redrive(q, 10), 1);
      assert.deepEqual(await admin.lrange(key, 0, -1), [raw], "redrive changed the message");
      assert.equal(await admin.exists(`celeriac.dead-letter.${q}`), 0);
      const [again] = await take(broker, q, 1);
      assert.equal(labelOf(again!.message), "bytes");
      await again!.ack();
    });
  }

  test("keeps the newest deadLetterLimit per queue; 0 keeps none and drops the message", async () => {
    const capped = await make({ deadLetterLimit: 3 });
    const q = uniqueQueue();
    for (let i = 0; i < 5; i++) await capped.publish(q, wireMessage(`m${i}`));
    for (const delivery of await take(capped, q, 5)) await delivery.reject({ requeue: false, reason });
    assert.deepEqual((await capped.deadLetters.list(q, 10)).map((l) => labelOf(l.message!)), ["m2", "m3", "m4"]);
    assert.deepEqual((await capped.deadLetters.list(q, 2)).map((l) => labelOf(l.message!)), ["m2", "m3"], "list reads the oldest first");

    const none = await make({ deadLetterLimit: 0 });
    const q2 = uniqueQueue();
    await none.publish(q2, wireMessage("gone"));
    const [delivery] = await take(none, q2, 1);
    await delivery!.reject({ requeue: false, reason });
    await eventually(async () => (await admin.hlen("celeriac.unacked")) === 0, 5000, "the claim to be dropped");
    assert.equal(await admin.exists(`celeriac.dead-letter.${q2}`), 0);
    assert.equal(await none.length(q2), 0);
  });

  test("items a consumer cannot decode are dead-lettered as they were, with the reason, and consuming goes on", async () => {
    const logs: LogLine[] = [];
    const broker = await make({}, logs);
    const q = uniqueQueue();
    // The second is claimed by fetch.lua (it has a delivery tag) and only then found malformed.
    const claimedButBad = JSON.stringify({ body: 5, properties: { delivery_tag: "t-1" } });
    await admin.lpush(q, "not json at all", claimedButBad);
    await broker.publish(q, wireMessage("valid"));
    const [valid] = await take(broker, q, 1);
    assert.equal(labelOf(valid!.message), "valid");
    await valid!.ack();
    await eventually(async () => (await broker.deadLetters.list(q, 10)).length === 2, 5000, "two dead letters");
    const letters = await broker.deadLetters.list(q, 10);
    assert.deepEqual(letters.map((l) => [l.code, l.message]), [["MALFORMED_MESSAGE", null], ["MALFORMED_MESSAGE", null]]);
    assert.deepEqual(letters.map((l) => /neither a kombu envelope|body is not a string/.test(l.reason)), [true, true]);
    const entries = await admin.lrange(`celeriac.dead-letter.${q}`, 0, -1);
    assert.deepEqual(entries.map((e) => e.slice(e.indexOf("\n") + 1)).sort(), ["not json at all", claimedButBad]);
    assert.equal(await admin.hexists("celeriac.unacked", "t-1"), 0, "the claim of the undecodable envelope was kept");
    assert.equal(logs.filter((l) => l.level === "error" && /malformed/.test(l.message)).length, 2);
    assert.equal(await broker.deadLetters.purge(q), 2);
    assert.deepEqual(await broker.deadLetters.list(q, 10), []);
  });

  test("a worker dead-letters an oversized message with its reason and stores FAILURE for it", async () => {
    const queue = uniqueQueue();
    const app = createApp({ brokerUrl: redisUrl(DB), resultBackend: redisUrl(DB), readEnv: false, taskDefaultQueue: queue, messageMaxBytes: 200 });
    let ran = 0;
    const echo = app.task("dl.echo", (text: string) => {
      ran++;
      return text;
    });
    const worker = createWorker(app, { concurrency: 1, shutdownTimeout: 2 });
    try {
      await worker.start();
      const big = await echo.delay("x".repeat(1000));
      await assert.rejects(big.get({ timeout: 10 }), /InvalidTaskError: message body is \d+ bytes, over the 200-byte limit/);
      const broker = (await app.getBroker()) as RedisBroker;
      await eventually(async () => (await broker.deadLetters.list(queue, 10)).length === 1, 5000, "the dead letter");
      const [letter] = await broker.deadLetters.list(queue, 10);
      assert.equal(letter!.code, "MESSAGE_TOO_LARGE");
      assert.match(letter!.reason, /over the 200-byte limit/);
      assert.equal(letter!.message!.headers["id"], big.id);
      assert.equal(await echo.delay("small").then((r) => r.get({ timeout: 10 })), "small");
      assert.equal(ran, 1);
      assert.equal(worker.stats.rejected, 1);
    } finally {
      await worker.stop();
      await app.close();
    }
  });
});
