// The Redis broker against the real Redis (db 12): kombu's key layout, Python-produced messages,
// visibility-timeout restore (and no restore of live claims), delayed parking, malformed messages.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Delivery } from "../../src/broker/broker.ts";
import { createRedisBroker, type RedisBroker } from "../../src/broker/redis/broker.ts";
import { decodeTaskMessage } from "../../src/protocol/celery-v2.ts";
import { delay, eventually, labelOf, uniqueQueue, wireMessage } from "../conformance/fixtures.ts";
import { adminClient, brokerOptions, redisUrl, type LogLine } from "./redis-helpers.ts";

const DB = 12;
const admin = adminClient(DB);
const SEP = "\x06\x16";
const fixture = (name: string): string =>
  (JSON.parse(readFileSync(new URL(`../../../shared/fixtures/celery-5.2.6/redis-broker/${name}.json`, import.meta.url), "utf8")) as { entries: { raw: string }[] }).entries[0]!.raw;

function broker(logs: LogLine[] = [], visibilityTimeoutSeconds = 3600): RedisBroker {
  return createRedisBroker(redisUrl(DB), brokerOptions(logs, { visibilityTimeoutSeconds }));
}

describe("redis broker on a real Redis", () => {
  const open: RedisBroker[] = [];
  const make = async (logs: LogLine[] = [], visibility = 3600): Promise<RedisBroker> => {
    const b = broker(logs, visibility);
    await b.connect();
    open.push(b);
    return b;
  };
  before(async () => {
    await admin.flushdb();
  });
  after(async () => {
    for (const b of open) await b.close();
    await admin.flushdb();
    await admin.quit();
  });

  test("stores messages in kombu's layout and claims them in unacked/unacked_index until acked", async () => {
    const b = await make();
    const q = uniqueQueue();
    await b.publish(q, wireMessage("layout", 5));
    assert.deepEqual(await admin.smembers(`_kombu.binding.${q}`), [`${q}${SEP}${SEP}${q}`]);
    const [raw] = await admin.lrange(`${q}${SEP}3`, 0, -1);
    const envelope = JSON.parse(raw!) as { properties: { delivery_info: unknown; delivery_tag: string; priority: number } };
    assert.deepEqual(envelope.properties.delivery_info, { exchange: "", routing_key: q });
    assert.equal(envelope.properties.priority, 5);
    const got: Delivery[] = [];
    const consumer = await b.consume([q], (d) => got.push(d), { prefetch: 1 });
    await eventually(() => got.length === 1, 5000, "the delivery");
    const tag = envelope.properties.delivery_tag;
    assert.equal(await admin.hget("unacked", tag), `[${raw}, "", ${JSON.stringify(q)}]`);
    const score = Number(await admin.zscore("unacked_index", tag));
    assert.ok(Math.abs(score - Date.now() / 1000) < 60, "claim scored in epoch seconds");
    await got[0]!.ack();
    assert.equal(await admin.hexists("unacked", tag), 0);
    assert.equal(await admin.zscore("unacked_index", tag), null);
    await consumer.cancel();
  });

  test("consumes what Python Celery 5.2.6 produced (priority sub-list, unicode, big integers)", async () => {
    const b = await make();
    await admin.lpush("celery", fixture("echo-unicode-nested"));
    await admin.lpush(`celery${SEP}3`, fixture("add-priority-5"));
    const got: Delivery[] = [];
    const consumer = await b.consume(["celery"], (d) => got.push(d), { prefetch: 5 });
    await eventually(() => got.length === 2, 5000, "both Python messages");
    const [first, second] = got.map((d) => decodeTaskMessage(d.message, { accept: ["json"], maxBytes: 1 << 20 }));
    assert.equal(first!.task, "interop.echo");
    assert.equal((first!.args[0] as { text: string }).text, 'Zoë ☃ 日本語 🎉 "quoted" \\ back');
    assert.equal(second!.task, "interop.add");
    assert.deepEqual(second!.args, [2, 3]);
    assert.equal(second!.priority, 5);
    for (const d of got) await d.ack();
    await consumer.cancel();
  });

  test("restores a dead consumer's claim after the visibility timeout, marked redelivered", async () => {
    const logs: LogLine[] = [];
    const q = uniqueQueue();
    // A claim left behind by a killed worker: in unacked, scored 10 s ago, in no list.
    const raw = JSON.stringify({ body: Buffer.from(JSON.stringify([["orphan"], {}, {}])).toString("base64"), "content-type": "application/json", "content-encoding": "utf-8", headers: { task: "t", id: "orphan-1" }, properties: { delivery_tag: "dead-tag-1", delivery_info: { exchange: "", routing_key: q }, body_encoding: "base64", priority: 0 } });
    await admin.hset("unacked", "dead-tag-1", `[${raw}, "", ${JSON.stringify(q)}]`);
    await admin.zadd("unacked_index", Date.now() / 1000 - 10, "dead-tag-1");
    const b = await make(logs, 2);
    const got: Delivery[] = [];
    const consumer = await b.consume([q], (d) => got.push(d), { prefetch: 1 });
    await eventually(() => got.length === 1, 10_000, "the restored delivery");
    assert.equal(labelOf(got[0]!.message), "orphan");
    assert.equal(got[0]!.redelivered, true);
    // The restore's reply (and its log line) can come after the consumer has popped what it pushed back.
    await eventually(() => logs.some((l) => /restored 1 unacknowledged/.test(l.message)), 5000, "the restore's log line");
    await got[0]!.ack();
    await consumer.cancel();
  });

  test("never restores a live claim: a long task's claim is kept alive past the visibility timeout", async () => {
    const q = uniqueQueue();
    const holder = await make([], 1);
    const other = await make([], 1);
    await holder.publish(q, wireMessage("long-task"));
    const held: Delivery[] = [];
    const c1 = await holder.consume([q], (d) => held.push(d), { prefetch: 1 });
    await eventually(() => held.length === 1, 5000, "the first delivery");
    const stolen: Delivery[] = [];
    const c2 = await other.consume([q], (d) => stolen.push(d), { prefetch: 1 });
    await delay(3500); // 3.5 x the visibility timeout while the task "runs"
    assert.equal(stolen.length, 0, "a live claim was restored and handed to a second consumer");
    await held[0]!.ack();
    await c1.cancel();
    await c2.cancel();
  });

  test("does not restore while a Python worker holds kombu's unacked_mutex", async () => {
    const q = uniqueQueue();
    const raw = JSON.stringify({ body: "", headers: { task: "t", id: "m" }, properties: { delivery_tag: "mutex-tag", delivery_info: { exchange: "", routing_key: q } } });
    // The mutex first: brokers of earlier tests in this file still run their restore, and an expired
    // claim written before the mutex could be restored by them in between.
    await admin.set("unacked_mutex", "python-token", "PX", 30_000);
    await admin.hset("unacked", "mutex-tag", `[${raw}, "", ${JSON.stringify(q)}]`);
    await admin.zadd("unacked_index", Date.now() / 1000 - 100, "mutex-tag");
    const b = await make([], 1);
    const consumer = await b.consume([uniqueQueue()], () => undefined, { prefetch: 1 });
    await delay(1500);
    assert.equal(await admin.hexists("unacked", "mutex-tag"), 1, "restored while kombu's mutex was held");
    await admin.del("unacked_mutex");
    await eventually(async () => (await admin.llen(q)) === 1, 5000, "the restore once the mutex is free");
    await consumer.cancel();
  });

  test("parks a far-future message in celeriac.delayed, not in a list or in memory, and moves it when due", async () => {
    const b = await make();
    const q = uniqueQueue();
    const due = Date.now() + 1500;
    await b.publish(q, wireMessage("parked"), { notBefore: due });
    await b.publish(q, wireMessage("far"), { notBefore: Date.now() + 3_600_000 });
    assert.equal(await b.length(q), 0);
    assert.equal(await admin.zcard("celeriac.delayed"), 2);
    const got: { d: Delivery; at: number }[] = [];
    const consumer = await b.consume([q], (d) => got.push({ d, at: Date.now() }), { prefetch: 10 });
    await eventually(() => got.length === 1, 8000, "the parked delivery");
    assert.equal(labelOf(got[0]!.d.message), "parked");
    assert.ok(got[0]!.at >= due - 10, "delivered before due");
    // The far one stays parked in Redis: not in unacked (no visibility-timeout redelivery), not delivered.
    assert.equal(await admin.zcard("celeriac.delayed"), 1);
    assert.equal(await admin.hlen("unacked"), 1);
    await got[0]!.d.ack();
    assert.equal(await admin.hlen("unacked"), 0);
    await consumer.cancel();
    await admin.del("celeriac.delayed");
  });

  test("rejects malformed messages with a logged reason and keeps consuming", async () => {
    const logs: LogLine[] = [];
    const b = await make(logs);
    const q = uniqueQueue();
    await admin.lpush(q, "not json at all", JSON.stringify({ body: "x", properties: {} }));
    await b.publish(q, wireMessage("valid"));
    const got: Delivery[] = [];
    const consumer = await b.consume([q], (d) => got.push(d), { prefetch: 5 });
    await eventually(() => got.length === 1, 5000, "the valid message");
    assert.equal(labelOf(got[0]!.message), "valid");
    assert.equal(logs.filter((l) => l.level === "error" && /malformed/.test(l.message)).length, 2);
    assert.equal(await admin.hlen("unacked"), 1);
    await got[0]!.ack();
    await consumer.cancel();
  });
});
