// The broker conformance suite: one spec of the Broker contract, run against every implementation on
// its real server (memory in-process, Redis and RabbitMQ on loopback, and a third party's broker
// through `celeriac/testing`, see docs/plugins.md). A broker is done when it passes.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Broker, DeadLetter, Delivery } from "../broker/broker.ts";
import type { WireMessage } from "../protocol/message.ts";
import { delay, eventually, labelOf, uniqueQueue, wireMessage } from "./fixtures.ts";
import { describeDeliveryCounts } from "./delivery-count-conformance.ts";

export interface BrokerSpecOptions {
  /** A new, unconnected broker; several may be alive at once (they must share the same store). */
  create: () => Broker | Promise<Broker>;
  /** "lower-first" for kombu's virtual transports (Redis, memory), "higher-first" for AMQP. */
  priorityOrder: "lower-first" | "higher-first";
  /** Messages outlive the broker object (a server holds them): unacked ones return after close. */
  persistent: boolean;
  /** Remove a queue and anything about it after a test. */
  cleanup?: (broker: Broker, queue: string) => Promise<void>;
}

function collect(deliveries: Delivery[]): (delivery: Delivery) => void {
  return (delivery) => deliveries.push(delivery);
}

export function describeBrokerConformance(name: string, options: BrokerSpecOptions): void {
  describe(`broker conformance: ${name}`, () => {
    let broker: Broker;
    const queues: string[] = [];
    const queue = (): string => {
      const q = uniqueQueue();
      queues.push(q);
      return q;
    };

    before(async () => {
      broker = await options.create();
      await broker.connect();
    });

    after(async () => {
      for (const q of queues) {
        await broker.purge(q).catch(() => 0);
        await options.cleanup?.(broker, q);
      }
      await broker.close();
    });

    describeDeliveryCounts({ broker: () => broker, queue });

    test("delivers the exact body, headers and properties that were published", async () => {
      const q = queue();
      await broker.declareQueue(q);
      const sent = wireMessage("exact", 0);
      sent.headers["custom"] = "value ☃";
      await broker.publish(q, sent);
      const got: Delivery[] = [];
      const consumer = await broker.consume([q], collect(got), { prefetch: 1 });
      await eventually(() => got.length === 1, 5000, "one delivery");
      const delivery = got[0] as Delivery;
      assert.deepEqual(Buffer.from(delivery.message.body), Buffer.from(sent.body));
      assert.equal(delivery.message.contentType, "application/json");
      assert.equal(delivery.message.contentEncoding, "utf-8");
      assert.equal(delivery.message.headers["task"], "conformance.echo");
      assert.equal(delivery.message.headers["id"], sent.headers["id"]);
      assert.equal(delivery.message.headers["custom"], "value ☃");
      assert.equal(delivery.message.properties.correlationId, "exact");
      assert.equal(delivery.queue, q);
      assert.equal(delivery.redelivered, false);
      assert.equal(delivery.deliveryCount, 1);
      assert.equal(delivery.stale, false, "a delivery on a live connection is not stale");
      await delivery.ack();
      await consumer.cancel();
    });

    test("keeps FIFO order within one priority and counts waiting messages", async () => {
      const q = queue();
      await broker.declareQueue(q);
      for (let i = 0; i < 5; i++) await broker.publish(q, wireMessage(`m${i}`));
      assert.equal(await broker.length(q), 5);
      const got: Delivery[] = [];
      const consumer = await broker.consume([q], collect(got), { prefetch: 10 });
      await eventually(() => got.length === 5, 5000, "five deliveries");
      assert.deepEqual(got.map((d) => labelOf(d.message)), ["m0", "m1", "m2", "m3", "m4"]);
      await Promise.all(got.map((d) => d.ack()));
      await consumer.cancel();
      assert.equal(await broker.length(q), 0);
    });

    test("never has more unsettled deliveries than the prefetch allows", async () => {
      const q = queue();
      await broker.declareQueue(q);
      for (let i = 0; i < 6; i++) await broker.publish(q, wireMessage(`p${i}`));
      const got: Delivery[] = [];
      const consumer = await broker.consume([q], collect(got), { prefetch: 2 });
      await eventually(() => got.length === 2, 5000, "two deliveries");
      await delay(150);
      assert.equal(got.length, 2, "a third message arrived before any was settled");
      await (got[0] as Delivery).ack();
      await eventually(() => got.length === 3, 5000, "a third delivery after one ack");
      await delay(100);
      assert.equal(got.length, 3);
      let acked = 1;
      await eventually(async () => {
        while (acked < got.length) await (got[acked++] as Delivery).ack();
        return acked === 6;
      }, 5000, "all deliveries, acking as they come");
      await consumer.cancel();
    });

    test("a rejected message with requeue comes back marked redelivered; without requeue it is gone", async () => {
      const q = queue();
      await broker.declareQueue(q);
      await broker.publish(q, wireMessage("again"));
      await broker.publish(q, wireMessage("drop"));
      const got: Delivery[] = [];
      const consumer = await broker.consume([q], collect(got), { prefetch: 1 });
      await eventually(() => got.length === 1, 5000, "first delivery");
      assert.equal(labelOf((got[0] as Delivery).message), "again");
      await (got[0] as Delivery).reject({ requeue: true });
      // RabbitMQ puts a requeued message back at its old place "if possible": under load the next
      // message may come first, so the two are told apart by label, not by order.
      const settleByLabel = async (delivery: Delivery): Promise<void> => {
        if (labelOf(delivery.message) === "again") await delivery.ack();
        else await delivery.reject({ requeue: false });
      };
      await eventually(() => got.length === 2, 5000, "the second delivery");
      await settleByLabel(got[1] as Delivery);
      await eventually(() => got.length === 3, 5000, "the third delivery");
      await settleByLabel(got[2] as Delivery);
      const byLabel = new Map(got.slice(1).map((d) => [labelOf(d.message), d]));
      assert.deepEqual([...byLabel.keys()].sort(), ["again", "drop"]);
      assert.equal(byLabel.get("again")?.redelivered, true);
      await delay(200);
      assert.equal(got.length, 3, "a message rejected without requeue was delivered again");
      await consumer.cancel();
      assert.equal(await broker.length(q), 0);
      assert.deepEqual(await broker.deadLetters?.list(q, 10), [], "a message rejected without a reason became a dead letter");
    });

    test("a message rejected with a reason becomes a dead letter: listed as received, redriven to its queue, purged", async () => {
      assert.ok(broker.capabilities.deadLetters && broker.deadLetters, "every broker keeps dead letters");
      const letters = broker.deadLetters;
      const q = queue();
      await broker.declareQueue(q);
      const sent = [wireMessage("dead-1", 3), wireMessage("dead-2"), wireMessage("dead-3")];
      (sent[0] as WireMessage).headers["custom"] = "kept ☃";
      for (const message of sent) await broker.publish(q, message);
      const got: Delivery[] = [];
      const consumer = await broker.consume([q], collect(got), { prefetch: 1 });
      const startedAt = Date.now();
      for (let i = 0; i < 3; i++) {
        await eventually(() => got.length === i + 1, 5000, `delivery ${i + 1}`);
        await (got[i] as Delivery).reject({ requeue: false, reason: { code: "TEST_REJECTED", message: `reason ${i + 1}` } });
      }
      const endedAt = Date.now();
      assert.equal(await broker.length(q), 0);

      const listed = await letters.list(q, 10);
      assert.equal(listed.length, 3);
      // Oldest first: in the order they were rejected (delivery order, which priorities decide per transport).
      const byLabel = new Map(listed.map((letter) => [labelOf(letter.message as WireMessage), letter]));
      assert.deepEqual(listed.map((letter) => letter.reason), got.map((_, i) => `reason ${i + 1}`));
      for (const [i, delivered] of got.entries()) {
        const letter = listed[i] as DeadLetter;
        assert.equal(letter.queue, q);
        assert.equal(letter.code, "TEST_REJECTED");
        assert.ok(letter.at.getTime() >= startedAt - 1000 && letter.at.getTime() <= endedAt + 1000, `dead-lettered at ${letter.at.toISOString()}`);
        assert.deepEqual(Buffer.from(letter.message?.body ?? []), Buffer.from(delivered.message.body));
        assert.equal(letter.message?.headers["id"], delivered.message.headers["id"]);
      }
      assert.equal(byLabel.get("dead-1")?.message?.headers["custom"], "kept ☃");
      assert.equal(byLabel.get("dead-1")?.message?.properties.priority, 3);
      assert.equal((await letters.list(q, 1)).length, 1, "list honours its limit");
      assert.equal((await letters.list(q, 10)).length, 3, "list leaves the letters in place");
      if (options.persistent) {
        const other = await options.create();
        await other.connect();
        assert.equal((await other.deadLetters?.list(q, 10))?.length, 3, "another client sees the dead letters");
        await other.close();
      }

      assert.equal(await letters.redrive(q, 1), 1);
      await eventually(() => got.length === 4, 5000, "the redriven message");
      const redriven = got[3] as Delivery;
      assert.equal(redriven.message.headers["id"], got[0]?.message.headers["id"]);
      assert.deepEqual(Buffer.from(redriven.message.body), Buffer.from((got[0] as Delivery).message.body));
      await redriven.ack();
      assert.deepEqual((await letters.list(q, 10)).map((letter) => letter.reason), ["reason 2", "reason 3"]);

      assert.equal(await letters.purge(q), 2);
      assert.deepEqual(await letters.list(q, 10), []);
      assert.equal(await letters.redrive(q, 10), 0);
      await delay(100);
      assert.equal(got.length, 4, "a purged dead letter was delivered");
      await consumer.cancel();
    });

    test("redriving everything moves what was there, even when each message comes straight back dead", async () => {
      const q = queue();
      await broker.declareQueue(q);
      const rejecting = (delivery: Delivery): void => void delivery.reject({ requeue: false, reason: { code: "TEST_REJECTED", message: "again" } });
      const consumer = await broker.consume([q], rejecting, { prefetch: 5 });
      for (let i = 0; i < 3; i++) await broker.publish(q, wireMessage(`loop${i}`));
      await eventually(async () => (await broker.deadLetters?.list(q, 10))?.length === 3, 5000, "three dead letters");
      // A redrive that kept taking what its own re-publishes bring back would never end.
      assert.equal(await broker.deadLetters?.redrive(q, Infinity), 3);
      await eventually(async () => (await broker.deadLetters?.list(q, 10))?.length === 3, 5000, "the three back in the dead letters");
      await consumer.cancel();
      assert.equal(await broker.deadLetters?.purge(q), 3);
    });

    test("consumes several queues and stops at cancel, leaving later messages queued", async () => {
      const a = queue();
      const b = queue();
      await broker.declareQueue(a);
      await broker.declareQueue(b);
      await broker.publish(a, wireMessage("from-a"));
      await broker.publish(b, wireMessage("from-b"));
      const got: Delivery[] = [];
      const consumer = await broker.consume([a, b], collect(got), { prefetch: 5 });
      await eventually(() => got.length === 2, 5000, "both queues' messages");
      assert.deepEqual(new Set(got.map((d) => `${d.queue}:${labelOf(d.message)}`)), new Set([`${a}:from-a`, `${b}:from-b`]));
      await consumer.cancel();
      // Deliveries received before cancel can still be settled.
      for (const d of got) await d.ack();
      await broker.publish(a, wireMessage("after-cancel"));
      await delay(200);
      assert.equal(got.length, 2);
      assert.equal(await broker.length(a), 1);
    });

    test("purge empties a queue and says how many it removed", async () => {
      const q = queue();
      await broker.declareQueue(q);
      for (let i = 0; i < 3; i++) await broker.publish(q, wireMessage(`x${i}`));
      assert.equal(await broker.purge(q), 3);
      assert.equal(await broker.length(q), 0);
    });

    test("orders priorities as Celery does on this transport", async () => {
      if (!broker.capabilities.priorities) return;
      const q = queue();
      await broker.declareQueue(q);
      // One priority per kombu step (0, 3, 6, 9), so the order does not depend on bucketing.
      const priorities = [0, 9, 6, 3];
      for (const p of priorities) await broker.publish(q, wireMessage(`prio${p}`, p));
      const got: Delivery[] = [];
      const consumer = await broker.consume([q], collect(got), { prefetch: 10 });
      await eventually(() => got.length === 4, 5000, "four deliveries");
      const order = got.map((d) => labelOf(d.message));
      const expected = options.priorityOrder === "lower-first" ? ["prio0", "prio3", "prio6", "prio9"] : ["prio9", "prio6", "prio3", "prio0"];
      assert.deepEqual(order, expected);
      for (const d of got) await d.ack();
      await consumer.cancel();
    });

    test("holds a delayed message in the broker until it is due", async () => {
      if (!broker.capabilities.nativeDelay) return;
      const q = queue();
      await broker.declareQueue(q);
      const publishedAt = Date.now();
      await broker.publish(q, wireMessage("later"), { notBefore: publishedAt + 700 });
      await broker.publish(q, wireMessage("now"));
      const got: { delivery: Delivery; at: number }[] = [];
      const consumer = await broker.consume([q], (delivery) => got.push({ delivery, at: Date.now() }), { prefetch: 5 });
      await eventually(() => got.length === 2, 8000, "the delayed delivery");
      assert.equal(labelOf((got[0] as { delivery: Delivery }).delivery.message), "now");
      const later = got[1] as { delivery: Delivery; at: number };
      assert.equal(labelOf(later.delivery.message), "later");
      assert.ok(later.at >= publishedAt + 690, `delivered ${later.at - publishedAt} ms after publishing, before it was due`);
      for (const { delivery } of got) await delivery.ack();
      await consumer.cancel();
    });

    test("broadcasts control messages to every listener", async () => {
      if (!broker.capabilities.control || !broker.broadcast || !broker.onControl) return;
      const heard: string[] = [];
      const second = await options.create();
      await second.connect();
      const stopA = await broker.onControl((m) => heard.push(`a:${m.command}`));
      const stopB = await second.onControl!((m) => heard.push(`b:${m.command}`));
      await broker.broadcast({ command: "revoke", arguments: { task_id: "t1" } });
      await eventually(() => heard.length === 2, 5000, "both listeners");
      assert.deepEqual(heard.sort(), ["a:revoke", "b:revoke"]);
      await stopA();
      await stopB();
      await second.close();
    });

    test("an unsettled delivery returns to the queue when its broker closes", async () => {
      if (!options.persistent) return;
      const q = queue();
      const first = await options.create();
      await first.connect();
      await first.declareQueue(q);
      await first.publish(q, wireMessage("survivor"));
      const got: Delivery[] = [];
      await first.consume([q], collect(got), { prefetch: 1 });
      await eventually(() => got.length === 1, 5000, "the first delivery");
      await first.close();
      const again: Delivery[] = [];
      const consumer = await broker.consume([q], collect(again), { prefetch: 1 });
      await eventually(() => again.length === 1, 15000, "the restored delivery");
      assert.equal(labelOf((again[0] as Delivery).message), "survivor");
      assert.equal((again[0] as Delivery).redelivered, true);
      assert.equal((again[0] as Delivery).deliveryCount, 2, "a message given back at close counts as delivered once");
      await (again[0] as Delivery).ack();
      await consumer.cancel();
    });
  });
}
