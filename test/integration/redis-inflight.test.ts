// The Redis consumer's in-flight lists on the real Redis (db 14): what BLMOVE moved for a consumer that
// died before claiming it goes back to its queue (recover.lua), a recovery racing the claim neither
// loses nor duplicates the message, a stopping consumer leaves the registry, and an idle consumer of
// several lists still takes a message sent to one it is not blocked on.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Delivery } from "../../src/broker/broker.ts";
import { createRedisBroker, type RedisBroker } from "../../src/broker/redis/broker.ts";
import { KEYS, runScript } from "../../src/broker/redis/scripts.ts";
import { eventually, labelOf, uniqueQueue, wireMessage } from "../conformance/fixtures.ts";
import { adminClient, brokerOptions, freshDbAround, type LogLine, redisUrl } from "./redis-helpers.ts";

const DB = 14;
const admin = adminClient(DB);
const HOUR_MS = 3600_000;

describe("redis in-flight lists", () => {
  const open: RedisBroker[] = [];
  const make = async (logs: LogLine[] = []): Promise<RedisBroker> => {
    const broker = createRedisBroker(redisUrl(DB), brokerOptions(logs));
    await broker.connect();
    open.push(broker);
    return broker;
  };
  /** The envelope a producer would have pushed, without consuming anything. */
  const stored = async (broker: RedisBroker, queue: string, label: string): Promise<string> => {
    await broker.publish(queue, wireMessage(label));
    return (await admin.rpop(queue)) as string;
  };
  /** recover.lua as maintenance runs it, under a lock of its own so no broker's run gets in between. */
  const recover = async (): Promise<number> => Number(await runScript(admin, "recover", [KEYS.inflightRegistry, `test-lock-${Math.random()}`], [Date.now() - HOUR_MS, 1000]));
  freshDbAround(admin, open);

  test("a dead consumer's in-flight list goes back to the pop end of its queue, oldest first; long-gone entries are forgotten", async () => {
    const logs: LogLine[] = [];
    const producer = await make();
    const q = uniqueQueue();
    const [older, newer] = [await stored(producer, q, "older"), await stored(producer, q, "newer")];
    // What BLMOVE (RIGHT to LEFT) leaves when its consumer dies before fetch.lua claims: newest on the left.
    const dead = KEYS.inflight("dead-host:1:abc", 0);
    await admin.lpush(dead, older, newer);
    await admin.hset(KEYS.inflightRegistry, dead, `${Date.now()} ${q}`);
    // A consumer gone for over an hour, its list empty: only its registry entry is left.
    await admin.hset(KEYS.inflightRegistry, KEYS.inflight("gone-host:2:def", 0), `${Date.now() - 2 * HOUR_MS} ${q}`);
    const broker = await make(logs);
    const got: Delivery[] = [];
    const consumer = await broker.consume([q], (d) => got.push(d), { prefetch: 2 });
    await eventually(() => got.length === 2, 5000, "both recovered messages");
    assert.deepEqual(got.map((d) => labelOf(d.message)), ["older", "newer"]);
    assert.ok(got.every((d) => !d.redelivered), "never claimed, so never delivered: not marked redelivered");
    assert.ok(logs.some((l) => /gave back 2 messages/.test(l.message)), JSON.stringify(logs));
    assert.equal(await admin.exists(dead), 0);
    assert.equal(await admin.hexists(KEYS.inflightRegistry, KEYS.inflight("gone-host:2:def", 0)), 0, "a long-gone consumer's entry was kept");
    for (const d of got) await d.ack();
    await consumer.cancel();
  });

  test("recovery racing the claim: whichever runs first, the message is claimed once and nothing is left behind", async () => {
    const broker = await make();
    const q = uniqueQueue();
    const keys = [q];
    const inflight = { key: KEYS.inflight(`race:${process.pid}`, 0), source: 0 };
    await admin.hset(KEYS.inflightRegistry, inflight.key, `${Date.now()} ${q}`);
    // Recovery first: BLMOVE has moved the message, recover.lua puts it back before fetch.lua runs;
    // fetch.lua then finds the in-flight list empty and pops the message from the queue instead.
    await broker.publish(q, wireMessage("recovered-first"));
    await admin.lmove(q, inflight.key, "RIGHT", "LEFT");
    assert.equal(await recover(), 1);
    const first = await broker.fetch(keys, 10, inflight);
    assert.deepEqual(first.map((item) => [item.key, item.claimed]), [[q, true]]);
    assert.equal(await admin.hlen("celeriac.unacked"), 1);
    // Claim first: fetch.lua takes the message from the in-flight list; recovery then finds nothing.
    await broker.publish(q, wireMessage("claimed-first"));
    await admin.lmove(q, inflight.key, "RIGHT", "LEFT");
    const second = await broker.fetch(keys, 10, inflight);
    assert.deepEqual(second.map((item) => [item.key, item.claimed]), [[q, true]], "claimed as coming from its queue");
    assert.equal(await recover(), 0);
    assert.equal(await admin.llen(q), 0);
    assert.equal(await admin.exists(inflight.key), 0);
    assert.equal(await admin.hlen("celeriac.unacked"), 2, "each message claimed exactly once");
    for (const value of await admin.hvals("celeriac.unacked")) assert.ok(value.startsWith(`${q}\0`), "a claim must name the queue, never the in-flight list");
    await admin.del("celeriac.unacked", "celeriac.unacked_index");
    await admin.hdel(KEYS.inflightRegistry, inflight.key);
  });

  test("recovery running without pause beside a live consumer loses and duplicates nothing", async () => {
    const broker = await make();
    const producer = await make();
    const q = uniqueQueue();
    const got: string[] = [];
    const consumer = await broker.consume([q], (d) => {
      got.push(labelOf(d.message));
      void d.ack();
    }, { prefetch: 1 });
    let recovering = true;
    let moved = 0;
    const recovery = (async () => {
      while (recovering) moved += Math.max(0, await recover());
    })();
    try {
      // One at a time, so the consumer is idle in BLMOVE when each arrives.
      for (let i = 0; i < 200; i++) {
        await producer.publish(q, wireMessage(`m${i}`));
        await eventually(() => got.length > i, 5000, `m${i}`);
      }
    } finally {
      recovering = false;
      await recovery;
    }
    assert.deepEqual(got, Array.from({ length: 200 }, (_, i) => `m${i}`));
    await consumer.cancel();
    await eventually(async () => (await admin.hlen("celeriac.unacked")) === 0, 5000, "every claim acknowledged");
    // Informational: how often recovery caught a message between BLMOVE and its claim.
    console.log(`# recovery moved ${moved} of 200 messages back while their consumer was alive`);
  });

  test("a stopping consumer gives back its in-flight lists and leaves the registry", async () => {
    const broker = await make();
    const q = uniqueQueue();
    const consumer = await broker.consume([q], () => undefined, { prefetch: 1 });
    const mine = async (): Promise<string[]> => (await admin.hkeys(KEYS.inflightRegistry)).filter((key) => key.includes(`:${process.pid}:`));
    await eventually(async () => (await mine()).length === 1, 5000, "the consumer registering its in-flight list");
    assert.match(await admin.hget(KEYS.inflightRegistry, (await mine())[0]!) ?? "", new RegExp(`^\\d+ ${q}$`));
    await consumer.cancel();
    assert.deepEqual(await mine(), []);
  });

  test("an idle consumer of two queues, blocked on the first, takes a message sent to the second", async () => {
    const broker = await make();
    const producer = await make();
    const [q1, q2] = [uniqueQueue(), uniqueQueue()];
    const got: Delivery[] = [];
    const consumer = await broker.consume([q1, q2], (d) => got.push(d), { prefetch: 1 });
    await eventually(async () => (await admin.hkeys(KEYS.inflightRegistry)).some((key) => key.includes(`:${process.pid}:`)), 5000, "the consumer waiting");
    await producer.publish(q2, wireMessage("second-queue"));
    await producer.publish(q1, wireMessage("first-queue", 9));
    await eventually(() => got.length === 1, 2000, "the message on the second queue");
    assert.equal(got[0]!.queue, q2);
    await got[0]!.ack();
    await eventually(() => got.length === 2, 2000, "the message on the first queue's priority list");
    assert.equal(labelOf(got[1]!.message), "first-queue");
    await got[1]!.ack();
    await consumer.cancel();
  });
});
