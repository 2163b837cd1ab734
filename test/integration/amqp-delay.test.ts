// Delays longer than RabbitMQ's consumer acknowledgement timeout. RabbitMQ 3.10 has no per-queue
// x-consumer-timeout (3.12+), so the test lowers the server's `consumer_timeout` to 2 s (and the channel
// tick that checks it) at runtime and restores both after. First it proves the timeout bites (a delivery
// held unacked loses its channel and comes back redelivered), then that a 5 s delay parked in the broker's
// TTL ladder is delivered after it is due, once, and acked on a channel that never timed out.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { AmqpBroker } from "../../src/broker/amqp/amqp-broker.ts";
import { deleteDelayTopology } from "../../src/broker/amqp/delay.ts";
import type { Delivery } from "../../src/broker/broker.ts";
import { AMQP_URL, brokerOptions } from "../interop/amqp-helpers.ts";
import { delay, eventually, labelOf, wireMessage } from "../conformance/fixtures.ts";
import { setRabbitEnv } from "./rabbitmqctl.ts";

const TIMEOUT_MS = 2000;
const logs: string[] = [];
const delayNamespace = `celeriac.test-delay.${randomUUID().slice(0, 8)}`;
const broker = new AmqpBroker(AMQP_URL, brokerOptions({ delayNamespace }, logs));
const queues: string[] = [];

before(async () => {
  await setRabbitEnv("consumer_timeout", TIMEOUT_MS);
  await setRabbitEnv("channel_tick_interval", 250);
  await broker.connect();
});

after(async () => {
  await setRabbitEnv("consumer_timeout", 1_800_000);
  await setRabbitEnv("channel_tick_interval", 60_000);
  for (const q of queues) await broker.deleteQueue(q).catch(() => undefined);
  await broker.withAdminChannel((channel) => deleteDelayTopology(channel, { namespace: delayNamespace, queueType: "classic" }));
  await broker.close();
});

test("the lowered consumer timeout is in force: a delivery held too long is taken back", async () => {
  const queue = `delay-timeout-proof-${randomUUID().slice(0, 8)}`;
  queues.push(queue);
  await broker.declareQueue(queue);
  await broker.publish(queue, wireMessage("held"));
  const got: Delivery[] = [];
  const consumer = await broker.consume([queue], (d) => got.push(d), { prefetch: 1 });
  await eventually(() => got.length === 2, 20_000, "the redelivery after the consumer timeout");
  assert.equal(got[1]?.redelivered, true);
  assert.ok(logs.some((l) => l.includes("closed by the server; resuming")), "the consumer resumed on a new channel");
  await (got[1] as Delivery).ack();
  await consumer.cancel();
});

test("a delay longer than the consumer timeout is parked in the broker and delivered once, when due", async () => {
  const queue = `delay-long-${randomUUID().slice(0, 8)}`;
  queues.push(queue);
  await broker.declareQueue(queue);
  const got: { delivery: Delivery; at: number }[] = [];
  const consumer = await broker.consume([queue], (delivery) => got.push({ delivery, at: Date.now() }), { prefetch: 4 });
  const closuresBefore = logs.filter((l) => l.includes("closed by the server")).length;
  const published = Date.now();
  const dueIn = TIMEOUT_MS * 2.5;
  const message = wireMessage("parked");
  message.properties.expiration = "600000"; // a Celery `expires`: must not let it leave the ladder early
  await broker.publish(queue, message, { notBefore: published + dueIn });
  assert.equal(await broker.length(queue), 0, "nothing waits in the task queue while parked");
  await eventually(() => got.length === 1, 30_000, "the parked message");
  const arrival = got[0] as { delivery: Delivery; at: number };
  assert.equal(labelOf(arrival.delivery.message), "parked");
  assert.ok(arrival.at >= published + dueIn - 10, `delivered ${arrival.at - published} ms after publishing, due at ${dueIn}`);
  assert.equal(arrival.delivery.redelivered, false);
  assert.ok(!Object.keys(arrival.delivery.message.headers).some((h) => h.startsWith("x-death") || h.startsWith("x-first-death")), "dead-letter bookkeeping is stripped");
  await arrival.delivery.ack();
  await delay(TIMEOUT_MS + 500);
  assert.equal(got.length, 1, "delivered exactly once");
  assert.equal(logs.filter((l) => l.includes("closed by the server")).length, closuresBefore, "no consumer channel timed out");
  assert.equal(await broker.length(queue), 0);
  await consumer.cancel();
});
