// Interop (a): the real Python Celery 5 producer publishes to RabbitMQ; our AMQP broker consumes and
// celery-v2 decodes every message: kwargs, countdown (eta), priority, unicode, custom headers, expires.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import type { Delivery } from "../../src/broker/broker.ts";
import { decodeTaskMessage } from "../../src/protocol/celery-v2.ts";
import { celeryCompatibleBroker, runPython } from "./amqp-helpers.ts";
import { eventually } from "../conformance/fixtures.ts";

const broker = celeryCompatibleBroker();
const queue = `interop-py-producer-${randomUUID().slice(0, 8)}`;
let pythonReplyQueue: string | null = null;

after(async () => {
  await broker.deleteQueue(queue).catch(() => undefined);
  // A Python producer with rpc:// declares its reply queue on send; nothing consumes it here, so it
  // would wait for its 1-day x-expires.
  if (pythonReplyQueue) await broker.withAdminChannel((channel) => channel.deleteQueue(pythonReplyQueue as string));
  await broker.close();
});

test("tasks sent by Python's apply_async are consumed and decoded by our AMQP broker", async () => {
  await broker.connect();
  // Same flags as Celery's own declaration (durable, no arguments): declaring first must not clash.
  await broker.declareQueue(queue);
  const python = runPython(["interop_cli.py", "produce", queue]);
  const report = (await python.nextLine()) as { sent: Record<string, { id: string }>; reply_to: string };
  pythonReplyQueue = report.reply_to;
  const got: Delivery[] = [];
  const consumer = await broker.consume([queue], (d) => got.push(d), { prefetch: 10 });
  await eventually(() => got.length === 5, 15_000, "five Python tasks");
  await consumer.cancel();

  const byId = new Map(got.map((d) => [String(d.message.headers["id"]), d]));
  const decode = (label: string) => {
    const delivery = byId.get(report.sent[label]!.id);
    assert.ok(delivery, `message "${label}" arrived`);
    assert.equal(delivery.queue, queue);
    assert.equal(delivery.message.properties.correlationId, report.sent[label]!.id);
    assert.equal(delivery.message.properties.replyTo, report.reply_to, "reply_to is the Python client's oid");
    assert.equal(delivery.message.properties.deliveryMode, 2);
    return { delivery, task: decodeTaskMessage(delivery.message, { accept: ["json"], maxBytes: 1 << 20 }) };
  };

  const kwargs = decode("kwargs").task;
  assert.equal(kwargs.task, "interop.add");
  assert.deepEqual(kwargs.args, []);
  assert.deepEqual(kwargs.kwargs, { x: 2, y: 3 });
  assert.equal(kwargs.eta, null);
  assert.deepEqual(kwargs.timeLimit, [null, null], "timelimit [None, None] survives the AMQP array of voids");
  assert.equal(kwargs.retries, 0);

  const countdown = decode("countdown").task;
  assert.deepEqual(countdown.args, [4, 5]);
  assert.ok(countdown.eta instanceof Date, "countdown.eta instanceof Date");
  const ahead = countdown.eta.getTime() - Date.now();
  assert.ok(ahead > 10_000 && ahead <= 30_000, `eta is about 30 s ahead (got ${ahead} ms)`);

  const priority = decode("priority");
  assert.equal(priority.delivery.message.properties.priority, 7);
  assert.equal(priority.task.priority, 7);

  const unicode = decode("unicode").task;
  assert.equal(unicode.task, "interop.echo");
  assert.deepEqual(unicode.args, [{ text: "Zoë ☃ 🎉", n: 2 ** 40, neg: -5 }]);
  assert.equal(unicode.headers["x-request-id"], "req-ü");
  assert.equal(unicode.headers["tenant"], 42);

  const expires = decode("expires");
  assert.ok(expires.task.expires instanceof Date, "expires.task.expires instanceof Date");
  const expiration = Number(expires.delivery.message.properties.expiration);
  assert.ok(expiration > 0 && expiration <= 600_000, `expiration property in ms (got ${expiration})`);

  for (const d of got) await d.ack();
  assert.equal(await broker.length(queue), 0);
});
