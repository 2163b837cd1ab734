// The RabbitMQ broker configured the way users configure it: through createApp's brokerTransportOptions,
// run by createWorker on the real server. Priorities come out highest first, a misspelt or mistyped
// option stops the app with a hint before anything connects, connectionName names the one shared
// connection even when the rpc:// backend is used, and Celery's `pyamqp://user@host//` URL works.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createApp, type App } from "../../src/app/app.ts";
import { createWorker, type Worker } from "../../src/worker/worker.ts";
import { ConfigError } from "../../src/util/errors.ts";
import { AMQP_URL, celeryCompatibleBroker, closeAppsAndQueues } from "../interop/amqp-helpers.ts";
import { eventually } from "../conformance/fixtures.ts";
import { connectionsNamed, rabbitmqctl } from "./rabbitmqctl.ts";

const apps: App[] = [];
const workers: Worker[] = [];
const queues: string[] = [];

function newApp(url: string, brokerTransportOptions: Record<string, unknown>, resultBackend: string | null = null): App {
  const app = createApp({ brokerUrl: url, resultBackend, brokerTransportOptions, brokerConnectionMaxRetries: 3, readEnv: false });
  apps.push(app);
  return app;
}

function newQueue(label: string): string {
  const queue = `app-${label}-${randomUUID().slice(0, 8)}`;
  queues.push(queue);
  return queue;
}

after(async () => closeAppsAndQueues(workers, apps, queues));

test("brokerTransportOptions { maxPriority: 10 }: the worker runs waiting tasks highest priority first", async () => {
  const app = newApp(AMQP_URL, { maxPriority: 10 });
  const ran: number[] = [];
  app.task("app.prio", (priority: number) => void ran.push(priority));
  const queue = newQueue("priority");
  await (await app.getBroker()).declareQueue(queue);
  const listed = await rabbitmqctl("-q", "--no-table-headers", "list_queues", "name", "arguments");
  assert.match(listed.split("\n").find((line) => line.startsWith(`${queue}\t`)) ?? "", /x-max-priority.*10/, "declared with x-max-priority 10");
  // Every task waits in the queue before the worker consumes, so RabbitMQ alone decides the order.
  for (const priority of [3, 9, 0, 5, 7, 1, 8, 2, 6, 4]) await app.sendTask("app.prio", [priority], { queue, priority });
  // One task at a time and one message prefetched: execution order is RabbitMQ's delivery order.
  const worker = createWorker(app, { queues: [queue], concurrency: 1, prefetchMultiplier: 1 });
  workers.push(worker);
  await worker.start();
  await eventually(() => ran.length === 10, 20_000, "ten tasks to run");
  assert.deepEqual(ran, [9, 8, 7, 6, 5, 4, 3, 2, 1, 0], "AMQP priority: higher runs first");
});

test("a misspelt transport option stops the worker and the producer with the nearest known key", async () => {
  const app = newApp(AMQP_URL, { maxPriorty: 10 });
  app.task("app.noop", () => null);
  const hint = (error: unknown): boolean => error instanceof ConfigError && /unknown key "maxPriorty".*did you mean "maxPriority"/.test(error.message);
  await assert.rejects(createWorker(app, { queues: [newQueue("typo")], concurrency: 1 }).start(), hint);
  await assert.rejects(app.sendTask("app.noop", [], { queue: "celery" }), hint);
});

test("a transport option of the wrong type fails naming the key and the expected form", async () => {
  const app = newApp(AMQP_URL, { maxPriority: "10" });
  await assert.rejects(app.getBroker(), (error: unknown) => error instanceof ConfigError && /brokerTransportOptions\.maxPriority is "10"; expected an integer from 1 to 255/.test(error.message));
});

test("connectionName names the single connection a producer shares with its rpc:// backend", async () => {
  const name = `celeriac-app-${randomUUID().slice(0, 8)}`;
  // Connections are shared per URL and named by whoever opens them first: a URL of this test's own keeps
  // an earlier test's still-open connection out of it.
  const url = new URL(AMQP_URL);
  url.searchParams.set("connection_timeout", "10000");
  const app = newApp(url.toString(), { connectionName: name }, "rpc://");
  const queue = newQueue("named");
  const admin = celeryCompatibleBroker();
  await admin.connect();
  await admin.declareQueue(queue);
  await admin.close();
  // The first thing this app does: with rpc:// it needs its reply queue before it publishes.
  await app.sendTask("app.anything", [], { queue });
  // RabbitMQ's connection list can lag a moment behind a new connection.
  await eventually(async () => (await connectionsNamed(name)).length === 1, 15_000, `a connection named ${name}`);
});

test("Celery's pyamqp://user@host// URL (no password: guest) connects, and rpc:// results come back over it", async () => {
  const url = new URL(AMQP_URL);
  // Celery's tutorial form: the user alone, the password left to the kombu default (guest).
  const pyamqp = url.username === "guest" && url.password === "guest" ? AMQP_URL.replace(/^amqp:\/\/guest:guest@/, "pyamqp://guest@") : AMQP_URL.replace(/^amqp:/, "pyamqp:");
  const app = newApp(pyamqp, {}, "rpc://");
  app.task("app.add", (x: number, y: number) => x + y);
  const queue = newQueue("pyamqp");
  const worker = createWorker(app, { queues: [queue], concurrency: 2 });
  workers.push(worker);
  await worker.start();
  const result = await app.sendTask<number>("app.add", [2, 3], { queue });
  assert.equal(await result.get({ timeout: 20 }), 5);
});

test("applyMany on RabbitMQ publishes every message, in order, confirmed, and the worker runs them all", async () => {
  const app = newApp(AMQP_URL, {});
  const ran: number[] = [];
  const record = app.task("app.record", (n: number) => void ran.push(n));
  const queue = newQueue("many");
  await (await app.getBroker()).declareQueue(queue);
  const results = await record.applyMany(Array.from({ length: 600 }, (_, i) => [i] as [number]), { queue });
  assert.equal(results.length, 600);
  assert.equal(new Set(results.map((r) => r.id)).size, 600);
  // Every publish was confirmed before applyMany resolved, so all 600 are in the queue now.
  assert.equal(await (await app.getBroker()).length(queue), 600);
  const worker = createWorker(app, { queues: [queue], concurrency: 1, prefetchMultiplier: 1 });
  workers.push(worker);
  await worker.start();
  await eventually(() => ran.length === 600, 20_000, "all 600 tasks");
  assert.deepEqual(ran, Array.from({ length: 600 }, (_, i) => i));
});
