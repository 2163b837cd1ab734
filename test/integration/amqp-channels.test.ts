// Connections and channels: a worker-shaped process (broker consuming several queues, publishing,
// listening for control, plus the rpc backend) uses one connection with a fixed set of channels,
// whatever its prefetch (concurrency x multiplier).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { AmqpBroker } from "../../src/broker/amqp/amqp-broker.ts";
import { RpcBackend } from "../../src/backend/rpc/rpc-backend.ts";
import { AMQP_URL, brokerOptions } from "../interop/amqp-helpers.ts";
import { wireMessage } from "../conformance/fixtures.ts";
import { connectionsNamed } from "./rabbitmqctl.ts";

const name = `celeriac-channels-${randomUUID().slice(0, 8)}`;
const broker = new AmqpBroker(AMQP_URL, brokerOptions({ connectionName: name }));
const backend = new RpcBackend({ brokerUrl: AMQP_URL, replyTo: randomUUID(), resultExpiresSeconds: 86_400, connectionTimeoutMs: 5000, log: () => undefined });
const queues = [0, 1, 2].map((i) => `channels-${i}-${randomUUID().slice(0, 8)}`);

after(async () => {
  for (const q of queues) await broker.deleteQueue(q).catch(() => undefined);
  await backend.close();
  await broker.close();
});

async function channelsWithPrefetch(prefetch: number): Promise<{ connections: number; channels: number }> {
  const consumer = await broker.consume(queues, (d) => void d.ack(), { prefetch });
  const stop = await broker.onControl(() => undefined);
  for (const q of queues) await broker.publish(q, wireMessage(`p${prefetch}`));
  // RabbitMQ's connection stats refresh every few seconds; poll until they show our channels.
  let listed = await connectionsNamed(name);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && (listed[0]?.channels ?? 0) < 6) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    listed = await connectionsNamed(name);
  }
  await stop();
  await consumer.cancel();
  for (const q of queues) await broker.purge(q);
  return { connections: listed.length, channels: listed[0]?.channels ?? 0 };
}

test("one connection and six channels, for prefetch 1 and prefetch 128 alike", async () => {
  await broker.connect();
  await backend.connect();
  for (const q of queues) await broker.declareQueue(q);
  await backend.get(randomUUID()); // opens the rpc publisher too
  const small = await channelsWithPrefetch(1);
  const large = await channelsWithPrefetch(128);
  // broker: declarations, confirm-publish, consume (all queues), control; rpc: replies, confirm-publish.
  assert.deepEqual(small, { connections: 1, channels: 6 });
  assert.deepEqual(large, { connections: 1, channels: 6 });
});
