// task.applyMany on the embedded broker: many calls published in one batch, in order, each with its own
// id and result; taskId is refused for several calls; eager mode runs each call inline.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createApp } from "./app.ts";
import { createWorker } from "../worker/worker.ts";
import type { MemoryBroker } from "../broker/memory/memory-broker.ts";

test("applyMany publishes every call once, in order, and each result comes back", async () => {
  const app = createApp({ readEnv: false });
  const add = app.task("m.add", (x: number, y: number) => x + y);
  const sent: string[] = [];
  app.events.on("task:sent", (event) => sent.push(event.id));
  const broker = (await app.getBroker()) as MemoryBroker;
  let batches = 0;
  const original = broker.publishMany.bind(broker);
  broker.publishMany = async (queue, messages) => {
    batches++;
    return original(queue, messages);
  };

  const results = await add.applyMany([[1, 2], [3, 4], [5, 6]]);
  assert.equal(batches, 1);
  assert.equal(await broker.length("celery"), 3);
  assert.deepEqual(sent, results.map((r) => r.id));
  assert.equal(new Set(results.map((r) => r.id)).size, 3);

  const order: number[] = [];
  app.events.on("task:started", (event) => order.push(results.findIndex((r) => r.id === event.id)));
  const worker = createWorker(app, { concurrency: 1, shutdownTimeout: 2 });
  await worker.start();
  try {
    assert.deepEqual(await Promise.all(results.map((r) => r.get({ timeout: 5 }))), [3, 7, 11]);
    assert.deepEqual(order, [0, 1, 2]);
  } finally {
    await worker.stop();
    await app.close();
  }
});

test("a long applyMany is published slice by slice, every call once and in order", async () => {
  const app = createApp({ readEnv: false });
  const echo = app.task("m.echo", (n: number) => n);
  const broker = (await app.getBroker()) as MemoryBroker;
  const sizes: number[] = [];
  const original = broker.publishMany.bind(broker);
  broker.publishMany = async (queue, messages) => {
    sizes.push(messages.length);
    return original(queue, messages);
  };
  const count = 10_000;
  const results = await echo.applyMany(Array.from({ length: count }, (_, i) => [i] as [number]));
  // Bounded slices (memory does not grow with the list), together exactly the calls made.
  assert.ok(sizes.length > 1 && sizes.every((size) => size <= 4096), `slices: ${sizes.join(", ")}`);
  assert.equal(sizes.reduce((a, b) => a + b, 0), count);
  assert.equal(results.length, count);
  assert.equal(new Set(results.map((r) => r.id)).size, count);
  const queued: number[] = [];
  app.events.on("task:started", (event) => queued.push(indexOf.get(event.id) as number));
  const indexOf = new Map(results.map((r, i) => [r.id, i]));
  const worker = createWorker(app, { concurrency: 1, shutdownTimeout: 2 });
  await worker.start();
  await results[count - 1]?.get({ timeout: 30 });
  await worker.stop();
  assert.deepEqual(queued, Array.from({ length: count }, (_, i) => i));
  await app.close();
});

test("applyMany honours the options for every call and routes to the queue given", async () => {
  const app = createApp({ readEnv: false });
  const echo = app.task("m.echo", (text: string) => text);
  await echo.applyMany([["a"], ["b"]], { queue: "other", priority: 9 });
  const broker = (await app.getBroker()) as MemoryBroker;
  assert.equal(await broker.length("other"), 2);
  assert.equal(await broker.length("celery"), 0);
  assert.deepEqual(await echo.applyMany([]), []);
  await app.close();
});

test("applyMany refuses one taskId for several calls, and accepts it for one", async () => {
  const app = createApp({ readEnv: false });
  const echo = app.task("m.echo", (text: string) => text);
  await assert.rejects(echo.applyMany([["a"], ["b"]], { taskId: "same" }), (e: unknown) => e instanceof Error && /taskId/.test(e.message));
  const [one] = await echo.applyMany([["a"]], { taskId: "fixed-id" });
  assert.equal(one?.id, "fixed-id");
  await app.close();
});

test("applyMany in eager mode runs each call inline", async () => {
  const app = createApp({ readEnv: false, taskAlwaysEager: true });
  const add = app.task("m.add", (x: number, y: number) => x + y);
  const results = await add.applyMany([[1, 1], [2, 2]]);
  assert.deepEqual(await Promise.all(results.map((r) => r.get())), [2, 4]);
  // @ts-expect-error applyMany takes a list of argument tuples of the task's types
  void (() => add.applyMany([["1", 2]]));
});
