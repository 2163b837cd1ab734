// What an rpc:// caller learns on the real RabbitMQ when its task does not succeed normally: a task
// revoked or expired before the worker reached it, and a result that cannot be encoded, each reach the
// caller's own reply queue (not the worker's), so get() fails at once instead of timing out.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createApp, type App } from "../../src/app/app.ts";
import { TaskFailedError } from "../../src/app/errors.ts";
import { createWorker, type Worker } from "../../src/worker/worker.ts";
import { AMQP_URL, closeAppsAndQueues } from "../interop/amqp-helpers.ts";
import { eventually } from "../conformance/fixtures.ts";

const apps: App[] = [];
const workers: Worker[] = [];
const queues: string[] = [];

after(async () => closeAppsAndQueues(workers, apps, queues));

/** A caller app and a worker app on one queue, both rpc://; the worker runs one task at a time. */
async function callerAndWorker(label: string) {
  const queue = `rpc-${label}-${randomUUID().slice(0, 8)}`;
  queues.push(queue);
  const config = { brokerUrl: AMQP_URL, resultBackend: "rpc://", taskDefaultQueue: queue, readEnv: false };
  const caller = createApp(config);
  const server = createApp(config);
  apps.push(caller, server);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  server.task("rpc.block", async () => {
    await gate;
    return "unblocked";
  });
  server.task("rpc.later", () => "ran");
  server.task("rpc.loop", () => {
    const loop: Record<string, unknown> = {};
    loop["self"] = loop;
    return loop;
  });
  const worker = createWorker(server, { concurrency: 1, prefetchMultiplier: 2, shutdownTimeout: 2 });
  workers.push(worker);
  await worker.start();
  return { caller, server, worker, release };
}

const revokedAs = (reason: string) => (error: unknown) =>
  error instanceof TaskFailedError && error.state === "REVOKED" && error.remote.type === "TaskRevokedError" && error.remote.message === reason;

test("a task revoked before the worker reaches it: the caller's get() fails with TaskRevokedError", async () => {
  const { caller, server, worker, release } = await callerAndWorker("revoked");
  const blocking = await caller.sendTask("rpc.block");
  const waiting = await caller.sendTask("rpc.later");
  await eventually(() => worker.stats.received === 2, 10_000, "both tasks at the worker");
  const broker = await server.getBroker();
  const heard = new Promise<void>((resolve) => void broker.onControl?.((m) => m.arguments["task_id"] === waiting.id && resolve()));
  await waiting.revoke();
  // The worker's listener was subscribed first on this broker: it has heard the revoke by now.
  await heard;
  release();
  assert.equal(await blocking.get({ timeout: 10 }), "unblocked");
  await assert.rejects(waiting.get({ timeout: 10 }), revokedAs("revoked"));
  assert.equal(worker.stats.revoked, 1);
});

test("a task that expired before the worker reached it: the caller's get() fails with TaskRevokedError", async () => {
  const { caller, worker, release } = await callerAndWorker("expired");
  const blocking = await caller.sendTask("rpc.block");
  const expires = new Date(Date.now() + 1500);
  const waiting = await caller.sendTask("rpc.later", [], { expires });
  // Received (prefetched) before its expiry, so RabbitMQ's TTL no longer applies; the worker's check does.
  await eventually(() => worker.stats.received === 2, 10_000, "both tasks at the worker");
  await eventually(() => Date.now() > expires.getTime() + 50, 5000, "the expiry to pass");
  release();
  assert.equal(await blocking.get({ timeout: 10 }), "unblocked");
  await assert.rejects(waiting.get({ timeout: 10 }), revokedAs("expired"));
});

test("a result that cannot be encoded: the caller's get() fails with EncodeError", async () => {
  const { caller, release } = await callerAndWorker("encode");
  release();
  const result = await caller.sendTask("rpc.loop");
  await assert.rejects(result.get({ timeout: 10 }), (error: unknown) => error instanceof TaskFailedError && error.remote.type === "EncodeError" && error.remote.module === "kombu.exceptions");
});
