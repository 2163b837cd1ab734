// The Redis broker against the real Redis (db 12): kombu's key layout, Python-produced messages,
// visibility-timeout restore (ours, and kombu's shared hash by its own timeout; no restore of live
// claims), delayed parking, malformed messages.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { Delivery } from "../../src/broker/broker.ts";
import { createRedisBroker, type RedisBroker } from "../../src/broker/redis/broker.ts";
import { decodeTaskMessage } from "../../src/protocol/celery-v2.ts";
import { delay, eventually, labelOf, uniqueQueue, wireMessage } from "../conformance/fixtures.ts";
import { adminClient, brokerOptions, freshDbAround, type LogLine, redisUrl } from "./redis-helpers.ts";

const DB = 12;
const admin = adminClient(DB);
const SEP = "\x06\x16";
const fixture = (name: string): string =>
  (JSON.parse(readFileSync(new URL(`../../../shared/fixtures/celery-5.2.6/redis-broker/${name}.json`, import.meta.url), "utf8")) as { entries: { raw: string }[] }).entries[0]!.raw;

function broker(logs: LogLine[] = [], visibilityTimeoutSeconds = 3600, transportOptions: Record<string, unknown> = {}): RedisBroker {
  return createRedisBroker(redisUrl(DB), brokerOptions(logs, { visibilityTimeoutSeconds, transportOptions }));
}

describe("redis broker on a real Redis", () => {
  const open: RedisBroker[] = [];
  const make = async (logs: LogLine[] = [], visibility = 3600, transport: Record<string, unknown> = {}): Promise<RedisBroker> => {
    const b = broker(logs, visibility, transport);
    await b.connect();
    open.push(b);
    return b;
  };
  freshDbAround(admin, open);

  test("stores messages in kombu's layout and claims them in celeriac.unacked (not kombu's shared hash) until acked", async () => {
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
    // The claim names the list the message came from, so a restore puts it back there.
    assert.equal(await admin.hget("celeriac.unacked", tag), `${q}${SEP}3\0${raw}`);
    const score = Number(await admin.zscore("celeriac.unacked_index", tag));
    assert.ok(Math.abs(score - Date.now() / 1000) < 60, "claim scored in epoch seconds");
    assert.equal(await admin.hlen("unacked"), 0, "claimed in kombu's hash, where a Python worker's timeout applies");
    await got[0]!.ack();
    assert.equal(await admin.hexists("celeriac.unacked", tag), 0);
    assert.equal(await admin.zscore("celeriac.unacked_index", tag), null);
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

  const orphan = (q: string, tag: string, label: string): string =>
    JSON.stringify({ body: Buffer.from(JSON.stringify([[label], {}, {}])).toString("base64"), "content-type": "application/json", "content-encoding": "utf-8", headers: { task: "t", id: `${tag}-id` }, properties: { delivery_tag: tag, delivery_info: { exchange: "", routing_key: q }, body_encoding: "base64", priority: 0 } });

  test("restores a dead consumer's claim after the visibility timeout, marked redelivered", async () => {
    const logs: LogLine[] = [];
    const q = uniqueQueue();
    // A claim left behind by a killed Celeriac worker: in celeriac.unacked, scored 10 s ago, in no list.
    const raw = orphan(q, "dead-tag-1", "orphan");
    await admin.hset("celeriac.unacked", "dead-tag-1", `${q}\0${raw}`);
    await admin.zadd("celeriac.unacked_index", Date.now() / 1000 - 10, "dead-tag-1");
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

  test("kombu's shared unacked hash is restored by kombuVisibilityTimeout, never by our shorter brokerVisibilityTimeout", async () => {
    const logs: LogLine[] = [];
    const [pythonQueue, ourQueue] = [uniqueQueue(), uniqueQueue()];
    // A long task a Python worker claimed 10 s ago (kombu never refreshes it), and a claim of a dead
    // Celeriac worker as old: with a 1 s visibility timeout only ours may come back.
    await admin.hset("unacked", "python-tag", `[${orphan(pythonQueue, "python-tag", "python")}, "", ${JSON.stringify(pythonQueue)}]`);
    await admin.zadd("unacked_index", Date.now() / 1000 - 10, "python-tag");
    await admin.hset("celeriac.unacked", "our-tag", `${ourQueue}\0${orphan(ourQueue, "our-tag", "ours")}`);
    await admin.zadd("celeriac.unacked_index", Date.now() / 1000 - 10, "our-tag");
    const b = await make(logs, 1);
    const consumer = await b.consume([uniqueQueue()], () => undefined, { prefetch: 1 });
    await eventually(async () => (await admin.llen(ourQueue)) === 1, 5000, "our own dead claim restored");
    await delay(1500);
    assert.equal(await admin.hexists("unacked", "python-tag"), 1, "a Python worker's running task was restored by our timeout");
    assert.equal(await admin.llen(pythonQueue), 0);
    await consumer.cancel();
    // With kombuVisibilityTimeout at 5 s, the 10 s old Python claim is due.
    const kombuTimed = await make(logs, 1, { kombuVisibilityTimeout: 5 });
    const second = await kombuTimed.consume([uniqueQueue()], () => undefined, { prefetch: 1 });
    await eventually(async () => (await admin.llen(pythonQueue)) === 1, 5000, "kombu's claim restored by kombuVisibilityTimeout");
    assert.equal(await admin.hexists("unacked", "python-tag"), 0);
    // The log line follows the restore's reply: the message may be seen in its queue first.
    await eventually(() => logs.some((l) => /kombuVisibilityTimeout \(5 s\)/.test(l.message)), 5000, "the kombu restore's log line");
    await second.cancel();
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
    const b = await make([], 1, { kombuVisibilityTimeout: 1 });
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
    // The far one stays parked in Redis: not claimed (no visibility-timeout redelivery), not delivered.
    assert.equal(await admin.zcard("celeriac.delayed"), 1);
    assert.equal(await admin.hlen("celeriac.unacked"), 1);
    await got[0]!.d.ack();
    assert.equal(await admin.hlen("celeriac.unacked"), 0);
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
    assert.equal(await admin.hlen("celeriac.unacked"), 1);
    await got[0]!.ack();
    await consumer.cancel();
  });
});
