// Interop (b) and (c) over RabbitMQ with rpc:// results, against the real Python Celery 5:
// (b) our broker publishes encodeTaskMessage -> `celery worker --pool=solo` runs it -> our rpc backend
//     reads the reply from the reply queue we named in the message;
// (c) a Python client sends a task with rpc:// -> we consume and decode it -> our rpc backend replies ->
//     Python's AsyncResult.get() returns the value (or re-raises the error).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { RpcBackend } from "../../src/backend/rpc/rpc-backend.ts";
import type { Delivery } from "../../src/broker/broker.ts";
import { decodeTaskMessage, encodeTaskMessage } from "../../src/protocol/celery-v2.ts";
import { emptyEmbed, type TaskMessage } from "../../src/protocol/message.ts";
import { AMQP_URL, celeryCompatibleBroker, deleteTestLadder, runPython, startPythonWorker, type PythonProcess } from "./amqp-helpers.ts";
import { eventually } from "../conformance/fixtures.ts";

const broker = celeryCompatibleBroker();
const replyTo = randomUUID();
const backend = new RpcBackend({ brokerUrl: AMQP_URL, replyTo, resultExpiresSeconds: 86_400, connectionTimeoutMs: 10_000, log: () => undefined });
const queues: string[] = [];

function task(name: string, args: unknown[]): TaskMessage {
  const id = randomUUID();
  return {
    id, task: name, args, kwargs: {}, embed: emptyEmbed(), eta: null, expires: null, retries: 0, rootId: id, parentId: null,
    groupId: null, groupIndex: null, timeLimit: [null, null], priority: null, ignoreResult: false, shadow: null,
    origin: "celeriac-interop", argsrepr: null, kwargsrepr: null, replyTo, correlationId: id, headers: {}, serializer: "json",
  };
}

before(async () => {
  await broker.connect();
  await backend.connect();
});

after(async () => {
  for (const q of queues) await broker.deleteQueue(q).catch(() => undefined);
  await deleteTestLadder(broker);
  await backend.close();
  await broker.close();
});

describe("our producer, Python worker, our rpc backend", () => {
  const queue = `interop-py-worker-${randomUUID().slice(0, 8)}`;
  queues.push(queue);
  let worker: PythonProcess;
  before(async () => {
    await broker.declareQueue(queue);
    worker = await startPythonWorker(queue, `celeriac-interop-${randomUUID().slice(0, 6)}`);
  });
  after(async () => worker.stop());

  test("interop.add runs on Python and its SUCCESS comes back through rpc://", async () => {
    const msg = task("interop.add", [2, 3]);
    await broker.publish(queue, encodeTaskMessage(msg));
    const result = await backend.waitForReady(msg.id, { timeoutMs: 30_000 });
    assert.equal(result.state, "SUCCESS");
    assert.equal(result.value, 5);
    assert.equal(result.taskId, msg.id);
  });

  test("unicode and nested values survive the round trip", async () => {
    const value = { text: "Zoë ☃ 🎉", list: [1, null, true, 2.5], nested: { "ключ": "значение" } };
    const msg = task("interop.echo", [value]);
    await broker.publish(queue, encodeTaskMessage(msg));
    const result = await backend.waitForReady(msg.id, { timeoutMs: 30_000 });
    assert.equal(result.state, "SUCCESS");
    assert.deepEqual(result.value, value);
  });

  test("a Python exception arrives as FAILURE with its type, message and traceback", async () => {
    const msg = task("interop.fail", ["boom"]);
    await broker.publish(queue, encodeTaskMessage(msg));
    const result = await backend.waitForReady(msg.id, { timeoutMs: 30_000 });
    assert.equal(result.state, "FAILURE");
    assert.equal(result.error?.type, "ValueError");
    assert.equal(result.error?.message, "boom");
    assert.match(result.traceback ?? "", /ValueError: boom/);
    assert.equal((await backend.get(msg.id))?.state, "FAILURE", "get() returns the last state received");
  });

  test("a countdown task parked in our broker runs on Python once due", async () => {
    const msg = task("interop.add", [20, 22]);
    const due = Date.now() + 1500;
    msg.eta = new Date(due);
    await broker.publish(queue, encodeTaskMessage(msg), { notBefore: due });
    const result = await backend.waitForReady(msg.id, { timeoutMs: 30_000 });
    assert.equal(result.value, 42);
  });
});

describe("Python producer, our consumer, our rpc reply", () => {
  const queue = `interop-py-client-${randomUUID().slice(0, 8)}`;
  queues.push(queue);
  before(async () => broker.declareQueue(queue));

  async function serveOne(reply: (taskId: string, args: unknown[], replyTo: string) => Promise<void>): Promise<void> {
    const got: Delivery[] = [];
    const consumer = await broker.consume([queue], (d) => got.push(d), { prefetch: 1 });
    await eventually(() => got.length === 1, 30_000, "the Python client's task");
    await consumer.cancel();
    const delivery = got[0] as Delivery;
    const msg = decodeTaskMessage(delivery.message, { accept: ["json"], maxBytes: 1 << 20 });
    assert.ok(msg.replyTo, "Python sets reply_to to its oid");
    await reply(msg.id, msg.args, msg.replyTo);
    await delivery.ack();
  }

  test("Python's AsyncResult.get() returns the value our rpc backend published", async () => {
    const python = runPython(["interop_cli.py", "call", queue, "interop.add", "[2, 3]"]);
    const sent = (await python.nextLine()) as { id: string; reply_to: string };
    await serveOne(async (taskId, args, to) => {
      assert.equal(taskId, sent.id);
      assert.equal(to, sent.reply_to);
      const [x, y] = args as [number, number];
      await backend.store({ taskId, state: "SUCCESS", value: x + y, error: null, traceback: null, children: [], dateDone: new Date(), replyTo: to });
    });
    assert.deepEqual(await python.nextLine(), { state: "SUCCESS", result: 5 });
  });

  test("Python re-raises the failure our rpc backend published", async () => {
    const python = runPython(["interop_cli.py", "call", queue, "interop.fail", '["boom"]']);
    await python.nextLine();
    await serveOne(async (taskId, _args, to) => {
      await backend.store({
        taskId, state: "FAILURE", value: null, error: { type: "ValueError", message: "boom", module: "builtins" },
        traceback: "Traceback (most recent call last):\nValueError: boom", children: [], dateDone: new Date(), replyTo: to,
      });
    });
    assert.deepEqual(await python.nextLine(), { state: "FAILURE", exc_type: "ValueError", exc_message: "boom" });
  });
});
