// Reconnect: RabbitMQ closes our connection from the server side (rabbitmqctl close_connection) in the
// middle of a publish/consume stream. The broker must reconnect, redeclare, resume consuming, finish
// the publishes it was awaiting, lose nothing, and hand back unacked deliveries for redelivery.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { AmqpBroker } from "../../src/broker/amqp/amqp-broker.ts";
import type { Delivery } from "../../src/broker/broker.ts";
import { AMQP_URL, brokerOptions } from "../interop/amqp-helpers.ts";
import { eventually, labelOf, wireMessage } from "../conformance/fixtures.ts";
import { closeConnection, connectionsNamed } from "./rabbitmqctl.ts";

const name = `celeriac-reconnect-${randomUUID().slice(0, 8)}`;
const logs: string[] = [];
const broker = new AmqpBroker(AMQP_URL, brokerOptions({ connectionName: name }, logs));
const queues: string[] = [];

before(async () => {
  await broker.connect();
});

after(async () => {
  for (const q of queues) await broker.deleteQueue(q).catch(() => undefined);
  await broker.close();
});

async function dropConnection(): Promise<string> {
  const [connection] = await connectionsNamed(name);
  assert.ok(connection, "our connection is listed by rabbitmqctl");
  await closeConnection(connection.pid);
  return connection.pid;
}

test("a server-side close mid-stream loses no message, published or consumed", async () => {
  const queue = `reconnect-stream-${randomUUID().slice(0, 8)}`;
  queues.push(queue);
  await broker.declareQueue(queue);
  const seen = new Map<string, number>();
  const consumer = await broker.consume([queue], (d) => {
    const label = labelOf(d.message);
    seen.set(label, (seen.get(label) ?? 0) + 1);
    void d.ack();
  }, { prefetch: 10 });
  const total = 300;
  let oldPid = "";
  for (let i = 0; i < total; i++) {
    if (i === 100) oldPid = await dropConnection();
    // Each publish resolves only when confirmed, waiting through the reconnection when needed.
    await broker.publish(queue, wireMessage(`s${i}`));
  }
  await eventually(() => seen.size === total, 30_000, `all ${total} messages consumed`);
  for (let i = 0; i < total; i++) assert.ok(seen.has(`s${i}`), `s${i} was consumed`);
  await eventually(async () => (await broker.length(queue)) === 0, 10_000, "an empty queue");
  const now = await connectionsNamed(name);
  assert.equal(now.length, 1, "exactly one connection after reconnecting");
  assert.notEqual(now[0]?.pid, oldPid, "it is a new connection");
  assert.ok(logs.some((l) => l.includes("lost; reconnecting")), "the drop was logged");
  await consumer.cancel();
});

test("deliveries unacked when the connection drops come back, marked redelivered", async () => {
  const queue = `reconnect-unacked-${randomUUID().slice(0, 8)}`;
  queues.push(queue);
  await broker.declareQueue(queue);
  for (let i = 0; i < 5; i++) await broker.publish(queue, wireMessage(`u${i}`));
  const got: Delivery[] = [];
  const consumer = await broker.consume([queue], (d) => got.push(d), { prefetch: 5 });
  await eventually(() => got.length === 5, 10_000, "five deliveries held unacked");
  await dropConnection();
  await eventually(() => got.length === 10, 30_000, "the five redelivered after reconnecting");
  assert.ok(got.slice(0, 5).every((d) => d.stale), "deliveries of the dead channel are stale");
  // Settling a delivery from the dead channel is a no-op, never a crash.
  await (got[0] as Delivery).ack();
  await (got[1] as Delivery).reject({ requeue: false });
  const again = got.slice(5);
  assert.deepEqual(again.map((d) => labelOf(d.message)).sort(), ["u0", "u1", "u2", "u3", "u4"]);
  assert.ok(again.every((d) => d.redelivered), "redelivered flag set");
  assert.ok(again.every((d) => !d.stale), "the redelivered copies are live");
  for (const d of again) await d.ack();
  await eventually(async () => (await broker.length(queue)) === 0, 10_000, "an empty queue");
  await consumer.cancel();
});
