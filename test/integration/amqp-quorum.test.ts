// Quorum queues (x-queue-type: quorum): consuming with per-queue prefetch, delays through a quorum
// ladder, poison messages bounded by x-delivery-limit, and rejected messages sent to the dead-letter
// exchange.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { AmqpBroker } from "../../src/broker/amqp/amqp-broker.ts";
import { deleteDelayTopology } from "../../src/broker/amqp/delay.ts";
import type { Delivery } from "../../src/broker/broker.ts";
import { AMQP_URL, brokerOptions } from "../interop/amqp-helpers.ts";
import { delay, eventually, labelOf, wireMessage } from "../conformance/fixtures.ts";
import { rabbitmqctl } from "./rabbitmqctl.ts";

const id = randomUUID().slice(0, 8);
const deadLetterExchange = `celeriac-test-dlx-${id}`;
const deadLetterQueue = `celeriac-test-dlq-${id}`;
const delayNamespace = `celeriac.test-delay.${id}`;
const broker = new AmqpBroker(AMQP_URL, brokerOptions({ queueType: "quorum", deliveryLimit: 2, deadLetterExchange, deadLetterQueue, delayNamespace }));
const queues: string[] = [];

async function queueOf(name: string): Promise<string> {
  const q = `quorum-${name}-${id}`;
  queues.push(q);
  await broker.declareQueue(q);
  return q;
}

async function deadLetters(count: number): Promise<Delivery[]> {
  const got: Delivery[] = [];
  const consumer = await broker.consume([deadLetterQueue], (d) => got.push(d), { prefetch: 10 });
  await eventually(() => got.length >= count, 15_000, `${count} dead letter(s)`);
  await consumer.cancel();
  for (const d of got) await d.ack();
  return got;
}

before(async () => broker.connect());
after(async () => {
  for (const q of queues) await broker.deleteQueue(q).catch(() => undefined);
  await broker.withAdminChannel(async (channel) => {
    await channel.deleteQueue(deadLetterQueue);
    await channel.deleteExchange(deadLetterExchange);
    await deleteDelayTopology(channel, { namespace: delayNamespace, queueType: "quorum" });
  });
  await broker.close();
});

test("task queues are declared as quorum queues with the delivery limit and dead-letter exchange", async () => {
  const q = await queueOf("declare");
  const listed = await rabbitmqctl("-q", "--no-table-headers", "list_queues", "name", "type", "durable", "arguments");
  const line = listed.split("\n").find((l) => l.startsWith(`${q}\t`)) ?? "";
  assert.match(line, /\tquorum\ttrue\t/);
  assert.match(line, /x-delivery-limit/);
  assert.match(line, new RegExp(`x-dead-letter-exchange.*${deadLetterExchange}`));
});

test("consumes with the prefetch limit and honours a delay through the quorum ladder", async () => {
  const q = await queueOf("flow");
  for (let i = 0; i < 4; i++) await broker.publish(q, wireMessage(`f${i}`));
  const published = Date.now();
  await broker.publish(q, wireMessage("later"), { notBefore: published + 1200 });
  const got: { delivery: Delivery; at: number }[] = [];
  const consumer = await broker.consume([q], (delivery) => got.push({ delivery, at: Date.now() }), { prefetch: 2 });
  await eventually(() => got.length === 2, 5000, "two deliveries");
  await delay(150);
  assert.equal(got.length, 2, "prefetch 2 holds back the rest");
  let acked = 0;
  await eventually(async () => {
    while (acked < got.length) await got[acked++]?.delivery.ack();
    return got.length === 5 && acked === 5;
  }, 15_000, "all five, the delayed one last");
  const later = got.find((g) => labelOf(g.delivery.message) === "later");
  assert.ok(later && later.at >= published + 1190, "the delayed message was not early");
  await consumer.cancel();
});

test("a poison message that keeps being requeued stops at x-delivery-limit and is dead-lettered", async () => {
  const q = await queueOf("poison");
  await broker.publish(q, wireMessage("poison"));
  let deliveries = 0;
  const consumer = await broker.consume([q], (d) => {
    deliveries++;
    void d.reject({ requeue: true });
  }, { prefetch: 1 });
  const [dead] = await deadLetters(1);
  assert.equal(labelOf((dead as Delivery).message), "poison");
  assert.equal(deliveries, 3, "first delivery plus deliveryLimit (2) redeliveries");
  assert.equal(await broker.length(q), 0);
  await consumer.cancel();
});

test("a message rejected without requeue goes to the dead-letter queue", async () => {
  const q = await queueOf("reject");
  await broker.publish(q, wireMessage("rejected"));
  const got: Delivery[] = [];
  const consumer = await broker.consume([q], (d) => got.push(d), { prefetch: 1 });
  await eventually(() => got.length === 1, 5000, "the message");
  await got[0]?.reject({ requeue: false });
  const [dead] = await deadLetters(1);
  assert.equal(labelOf((dead as Delivery).message), "rejected");
  await consumer.cancel();
});
