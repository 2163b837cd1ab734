// The broker conformance suite's delivery-count spec (part of describeBrokerConformance): a message is
// delivered with deliveryCount 1, and each requeue adds one, so a worker can stop a poison message.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Broker, Delivery } from "../broker/broker.ts";
import { eventually, labelOf, wireMessage } from "./fixtures.ts";

/** The broker under test and a fresh queue name (cleaned up by the suite). */
export interface DeliveryCountSpecContext {
  broker: () => Broker;
  queue: () => string;
}

/** Registers the delivery-count tests in the current describe() block. */
export function describeDeliveryCounts(ctx: DeliveryCountSpecContext): void {
  test("counts deliveries: 1 at first, one more for each requeue, settled by an ack", async () => {
    const broker = ctx.broker();
    const q = ctx.queue();
    await broker.declareQueue(q);
    await broker.publish(q, wireMessage("counted"));
    const got: Delivery[] = [];
    const consumer = await broker.consume([q], (delivery) => got.push(delivery), { prefetch: 1 });
    for (let n = 1; n <= 3; n++) {
      await eventually(() => got.length === n, 5000, `delivery ${n}`);
      const delivery = got[n - 1] as Delivery;
      assert.equal(labelOf(delivery.message), "counted");
      assert.equal(delivery.deliveryCount, n, `deliveryCount of delivery ${n}`);
      assert.equal(delivery.redelivered, n > 1, `redelivered of delivery ${n}`);
      if (n < 3) await delivery.reject({ requeue: true });
      else await delivery.ack();
    }
    await consumer.cancel();
    // Published again, the same message starts afresh: the count belonged to the settled delivery.
    await broker.publish(q, wireMessage("counted"));
    const fresh: Delivery[] = [];
    const again = await broker.consume([q], (delivery) => fresh.push(delivery), { prefetch: 1 });
    await eventually(() => fresh.length === 1, 5000, "the fresh delivery");
    assert.equal((fresh[0] as Delivery).deliveryCount, 1, "a new publish is a first delivery");
    await (fresh[0] as Delivery).ack();
    await again.cancel();
  });

  test("a dead letter redriven starts counting afresh", async () => {
    const broker = ctx.broker();
    if (!broker.capabilities.deadLetters || !broker.deadLetters) return;
    const q = ctx.queue();
    await broker.declareQueue(q);
    await broker.publish(q, wireMessage("buried"));
    const got: Delivery[] = [];
    const consumer = await broker.consume([q], (delivery) => got.push(delivery), { prefetch: 1 });
    await eventually(() => got.length === 1, 5000, "the first delivery");
    await (got[0] as Delivery).reject({ requeue: true });
    await eventually(() => got.length === 2, 5000, "the second delivery");
    assert.equal((got[1] as Delivery).deliveryCount, 2);
    await (got[1] as Delivery).reject({ requeue: false, reason: { code: "TOO_MANY_DELIVERIES", message: "test" } });
    await eventually(async () => (await broker.deadLetters?.list(q, 10))?.length === 1, 5000, "the dead letter");
    assert.equal(await broker.deadLetters.redrive(q, 10), 1);
    await eventually(() => got.length === 3, 5000, "the redriven delivery");
    assert.equal((got[2] as Delivery).deliveryCount, 1, "a redriven dead letter is a first delivery");
    await (got[2] as Delivery).ack();
    await consumer.cancel();
  });
}
