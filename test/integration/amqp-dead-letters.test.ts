// Dead letters on the real RabbitMQ: published explicitly to `celeriac.dead-letter` (a durable direct
// exchange) and its durable per-queue queue, with the reason in headers, while the task queue keeps
// Celery's declaration (no x-arguments); never lost when the dead-letter publish fails; and a worker
// that meets an unknown task tells the rpc:// caller NotRegistered and dead-letters the message.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { AmqpBroker } from "../../src/broker/amqp/amqp-broker.ts";
import { DEAD_LETTER_EXCHANGE, deadLetterQueue } from "../../src/broker/amqp/dead-letters.ts";
import type { Delivery } from "../../src/broker/broker.ts";
import { createApp } from "../../src/app/app.ts";
import { TaskFailedError } from "../../src/app/errors.ts";
import { createWorker } from "../../src/worker/worker.ts";
import { AMQP_URL, brokerOptions } from "../interop/amqp-helpers.ts";
import { eventually, labelOf, wireMessage } from "../conformance/fixtures.ts";
import { rabbitmqctl } from "./rabbitmqctl.ts";

const broker = new AmqpBroker(AMQP_URL, brokerOptions({}, []));
const queues: string[] = [];
const reason = { code: "TEST_REJECTED", message: "no good ☃" };

function newQueue(label: string): string {
  const queue = `dead-${label}-${randomUUID().slice(0, 8)}`;
  queues.push(queue);
  return queue;
}

async function takeOne(queue: string): Promise<Delivery> {
  const got: Delivery[] = [];
  const consumer = await broker.consume([queue], (d) => got.push(d), { prefetch: 1 });
  await eventually(() => got.length === 1, 5000, `a delivery from ${queue}`);
  await consumer.cancel();
  return got[0] as Delivery;
}

before(async () => broker.connect());
after(async () => {
  for (const q of queues) {
    await broker.deleteQueue(q).catch(() => undefined);
    await broker.withAdminChannel((channel) => channel.deleteQueue(deadLetterQueue(q))).catch(() => undefined);
  }
  await broker.close();
});

test("a dead letter goes to celeriac.dead-letter.<queue> with its reason in headers; the task queue keeps Celery's declaration", async () => {
  const queue = newQueue("celery");
  await broker.declareQueue(queue);
  const sent = wireMessage("first");
  sent.properties.expiration = "60000";
  await broker.publish(queue, sent);
  const delivery = await takeOne(queue);
  await delivery.reject({ requeue: false, reason });
  assert.equal(await broker.length(queue), 0);

  const listed = await rabbitmqctl("-q", "--no-table-headers", "list_queues", "name", "durable", "arguments");
  assert.match(listed, new RegExp(`^${queue}\\ttrue\\t\\[\\]$`, "m"), "the task queue was redeclared with arguments");
  assert.match(listed, new RegExp(`^${deadLetterQueue(queue).replaceAll(".", "\\.")}\\ttrue\\t\\[\\]$`, "m"), "a durable dead-letter queue");
  const exchanges = await rabbitmqctl("-q", "--no-table-headers", "list_exchanges", "name", "type", "durable");
  assert.match(exchanges, new RegExp(`^${DEAD_LETTER_EXCHANGE.replace(".", "\\.")}\\tdirect\\ttrue$`, "m"));

  const raw = await broker.withAdminChannel(async (channel) => {
    const got = await channel.get(deadLetterQueue(queue));
    assert.ok(got, "nothing in the dead-letter queue");
    channel.nack(got, false, true);
    return got;
  });
  assert.equal(raw.properties.headers?.["x-celeriac-dead-letter-reason"], "no good ☃");
  assert.equal(raw.properties.headers?.["x-celeriac-dead-letter-code"], "TEST_REJECTED");
  assert.equal(raw.properties.headers?.["x-celeriac-dead-letter-queue"], queue);
  assert.equal(raw.properties.expiration, undefined, "a per-message TTL would expire the dead letter");
  assert.deepEqual(Buffer.from(raw.content), Buffer.from(sent.body));

  const [letter] = await broker.deadLetters.list(queue, 10);
  assert.equal(labelOf(letter!.message!), "first");
  assert.equal(letter!.message!.headers["x-celeriac-dead-letter-reason"], undefined, "list shows the message as its producer sent it");
  assert.deepEqual([letter!.code, letter!.reason], ["TEST_REJECTED", "no good ☃"]);
});

test("when the dead-letter publish fails, the message goes back to its queue instead of being lost", async () => {
  const queue = newQueue("kept");
  await broker.declareQueue(queue);
  // A dead-letter queue someone declared with other arguments: our declaration is refused (406).
  await broker.withAdminChannel((channel) => channel.assertQueue(deadLetterQueue(queue), { durable: true, arguments: { "x-max-length": 5 } }));
  await broker.publish(queue, wireMessage("precious"));
  const delivery = await takeOne(queue);
  await assert.rejects(delivery.reject({ requeue: false, reason }), /PRECONDITION_FAILED/);
  const again = await takeOne(queue);
  assert.equal(labelOf(again.message), "precious");
  assert.equal(again.redelivered, true);
  await again.ack();
});

test("a worker meeting an unknown task: the rpc:// caller gets NotRegistered, the message is a dead letter", async () => {
  const queue = newQueue("unknown");
  const client = createApp({ brokerUrl: AMQP_URL, resultBackend: "rpc://", taskDefaultQueue: queue, readEnv: false });
  const server = createApp({ brokerUrl: AMQP_URL, resultBackend: "rpc://", taskDefaultQueue: queue, readEnv: false });
  const worker = createWorker(server, { concurrency: 1, shutdownTimeout: 2 });
  try {
    await worker.start();
    const result = await client.sendTask("py.only", [1]);
    await assert.rejects(result.get({ timeout: 10 }), (error: unknown) => error instanceof TaskFailedError && error.remote.type === "NotRegistered" && error.remote.message === "py.only");
    await eventually(async () => (await broker.deadLetters.list(queue, 10)).length === 1, 5000, "the dead letter");
    const [letter] = await broker.deadLetters.list(queue, 10);
    assert.equal(letter!.code, "NOT_REGISTERED");
    assert.equal(letter!.message!.headers["id"], result.id);
    assert.equal(worker.stats.rejected, 1);
  } finally {
    await worker.stop();
    await server.close();
    await client.close();
  }
});
