// Publisher confirms and persistence: a publish resolves only once RabbitMQ holds the message and
// rejects with a clear, coded error when it cannot (unroutable, or refused by a full queue).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { AmqpBroker } from "../../src/broker/amqp/amqp-broker.ts";
import type { Delivery } from "../../src/broker/broker.ts";
import { CeleriacError } from "../../src/util/errors.ts";
import { AMQP_URL, brokerOptions } from "../interop/amqp-helpers.ts";
import { eventually, wireMessage } from "../conformance/fixtures.ts";
import { rabbitmqctl } from "./rabbitmqctl.ts";

const broker = new AmqpBroker(AMQP_URL, brokerOptions());
const queues: string[] = [];

before(async () => broker.connect());
after(async () => {
  for (const q of queues) await broker.deleteQueue(q).catch(() => undefined);
  await broker.close();
});

test("a confirmed publish is durable and persistent in the queue", async () => {
  const queue = `confirms-ok-${randomUUID().slice(0, 8)}`;
  queues.push(queue);
  await broker.declareQueue(queue);
  await broker.publish(queue, wireMessage("kept"));
  assert.equal(await broker.length(queue), 1, "resolved means stored");
  const listed = await rabbitmqctl("-q", "--no-table-headers", "list_queues", "name", "durable", "arguments");
  assert.match(listed, new RegExp(`^${queue}\\ttrue\\t\\[\\]$`, "m"), "durable, without x-arguments, as Celery declares");
  const got: Delivery[] = [];
  const consumer = await broker.consume([queue], (d) => got.push(d), { prefetch: 1 });
  await eventually(() => got.length === 1, 5000, "the message");
  assert.equal(got[0]?.message.properties.deliveryMode, 2, "persistent (delivery_mode 2) by default");
  await got[0]?.ack();
  await consumer.cancel();
});

test("publishing to a queue that does not exist rejects instead of silently dropping", async () => {
  const missing = `confirms-missing-${randomUUID().slice(0, 8)}`;
  await assert.rejects(broker.publish(missing, wireMessage("lost?")), (error: unknown) => {
    assert.ok(error instanceof CeleriacError, "error instanceof CeleriacError");
    assert.equal(error.code, "PUBLISH_UNROUTABLE");
    assert.match(error.message, new RegExp(missing));
    return true;
  });
});

test("a message the broker refuses (basic.nack) rejects the publish", async () => {
  const queue = `confirms-full-${randomUUID().slice(0, 8)}`;
  queues.push(queue);
  await broker.withAdminChannel((channel) => channel.assertQueue(queue, { durable: true, arguments: { "x-max-length": 1, "x-overflow": "reject-publish" } }));
  await broker.publish(queue, wireMessage("first"));
  await assert.rejects(broker.publish(queue, wireMessage("second")), (error: unknown) => error instanceof CeleriacError && error.code === "PUBLISH_NACKED");
  // The broker keeps working after a refusal.
  assert.equal(await broker.length(queue), 1);
});
