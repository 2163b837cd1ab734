// Broker.publishMany, conformance-style: on every broker that has it (memory in-process, Redis on
// loopback db 8), a batch is delivered exactly once, in order within a priority, priorities respected;
// on Redis the batch lands in kombu's layout (JSON envelopes in the queue's priority lists).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Broker, Delivery } from "../../src/broker/broker.ts";
import { MemoryBroker } from "../../src/broker/memory/memory-broker.ts";
import { createRedisBroker } from "../../src/broker/redis/broker.ts";
import { PRIORITY_SEP } from "../../src/broker/redis/scripts.ts";
import { fromKombuEnvelope } from "../../src/protocol/kombu-envelope.ts";
import { adminClient, brokerOptions, redisUrl } from "../integration/redis-helpers.ts";
import { eventually, labelOf, uniqueQueue, wireMessage } from "./fixtures.ts";

const DB = 8;

function describePublishMany(name: string, create: () => Broker): void {
  describe(`publishMany conformance: ${name}`, () => {
    let broker: Broker;
    before(async () => {
      broker = create();
      await broker.connect();
    });
    after(async () => broker.close());

    test("delivers a batch exactly once, in order, and counts it", async () => {
      const q = uniqueQueue("many");
      const labels = Array.from({ length: 2500 }, (_, i) => `m${i}`);
      assert.ok(broker.publishMany, "the broker has publishMany");
      await broker.publishMany(q, labels.map((label) => wireMessage(label)));
      assert.equal(await broker.length(q), labels.length);
      const got: Delivery[] = [];
      const consumer = await broker.consume([q], (d) => got.push(d), { prefetch: 100 });
      const seen: string[] = [];
      await eventually(
        async () => {
          for (const d of got.splice(0)) {
            seen.push(labelOf(d.message));
            await d.ack();
          }
          return seen.length >= labels.length;
        },
        10_000,
        "the whole batch",
      );
      await consumer.cancel();
      assert.deepEqual(seen, labels);
      assert.equal(await broker.length(q), 0);
      await broker.purge(q);
    });

    test("respects priorities within a batch and accepts an empty batch", async () => {
      const q = uniqueQueue("many-prio");
      await broker.publishMany?.(q, []);
      await broker.publishMany?.(q, [wireMessage("p9", 9), wireMessage("p0a", 0), wireMessage("p6", 6), wireMessage("p0b", 0)]);
      const got: Delivery[] = [];
      const consumer = await broker.consume([q], (d) => got.push(d), { prefetch: 10 });
      await eventually(() => got.length === 4, 5000, "four deliveries");
      await consumer.cancel();
      assert.deepEqual(got.map((d) => labelOf(d.message)), ["p0a", "p0b", "p6", "p9"]);
      await Promise.all(got.map((d) => d.ack()));
      await broker.purge(q);
    });
  });
}

describePublishMany("memory", () => new MemoryBroker());
describePublishMany("redis", () => createRedisBroker(redisUrl(DB), brokerOptions()));

test("redis publishMany writes kombu envelopes to the queue's priority lists, bound like publish()", async () => {
  const admin = adminClient(DB);
  const broker = createRedisBroker(redisUrl(DB), brokerOptions());
  try {
    await broker.connect();
    const q = uniqueQueue("many-layout");
    await broker.publishMany(q, [wireMessage("a"), wireMessage("b", 3)]);
    assert.equal(await admin.sismember(`_kombu.binding.${q}`, [q, "", q].join(PRIORITY_SEP)), 1);
    const [raw] = await admin.lrange(q, 0, -1);
    // The same envelope publish() writes (lean by default; kombu and Celery read it as usual).
    const decoded = fromKombuEnvelope(raw ?? "");
    assert.equal(decoded.wire.headers["task"], "conformance.echo");
    assert.equal(decoded.routingKey, q);
    assert.ok(decoded.deliveryTag.length > 0, "decoded.deliveryTag.length > 0");
    assert.equal(labelOf(decoded.wire), "a");
    assert.equal(await admin.llen(`${q}${PRIORITY_SEP}3`), 1);
    await broker.purge(q);
    await admin.del(`_kombu.binding.${q}`);
  } finally {
    await broker.close();
    await admin.quit();
  }
});
