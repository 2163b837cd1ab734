// Our worker and app on RabbitMQ with rpc:// next to the real Python Celery 5: Python's tasks run on our
// worker with results read by Python, ours run on a Python worker with results read by us, and an
// acksLate task whose worker is killed with SIGKILL mid-run is run by another worker.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { randomUUID } from "node:crypto";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { createApp } from "../../src/app/app.ts";
import { createWorker, type Worker } from "../../src/worker/worker.ts";
import { AMQP_URL, closeAppsAndQueues, runPython, startPythonWorker } from "./amqp-helpers.ts";
import { eventually } from "../conformance/fixtures.ts";

const queues: string[] = [];
const workers: Worker[] = [];
const apps: ReturnType<typeof createApp>[] = [];
const newQueue = (label: string): string => {
  const q = `interop-worker-${label}-${randomUUID().slice(0, 8)}`;
  queues.push(q);
  return q;
};

function newApp(acksLate = false) {
  const app = createApp({ brokerUrl: AMQP_URL, resultBackend: "rpc://", taskAcksLate: acksLate, readEnv: false });
  app.task("interop.add", (x: number, y: number) => x + y);
  app.task("interop.sleep", async (seconds: number) => seconds);
  apps.push(app);
  return app;
}

after(async () => closeAppsAndQueues(workers, apps, queues));

test("a Python client's task runs on our worker and Python reads the result through rpc://", async () => {
  const queue = newQueue("py-client");
  const worker = createWorker(newApp(), { queues: [queue], concurrency: 2 });
  workers.push(worker);
  await worker.start();
  const python = runPython(["interop_cli.py", "call", queue, "interop.add", "[20, 22]"]);
  await python.nextLine();
  assert.deepEqual(await python.nextLine(), { state: "SUCCESS", result: 42 });
});

test("our app's task runs on a Python worker and our AsyncResult reads it through rpc://", async () => {
  const queue = newQueue("py-worker");
  const app = newApp();
  const pyWorker = await startPythonWorker(queue, `celeriac-w-${randomUUID().slice(0, 6)}`);
  try {
    const result = await app.sendTask<number>("interop.add", [2, 3], { queue });
    assert.equal(await result.get({ timeout: 30 }), 5);
  } finally {
    await pyWorker.stop();
  }
});

test("an acksLate task whose worker is killed with SIGKILL runs on another worker", async () => {
  const queue = newQueue("kill");
  const app = newApp(true);
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("./amqp-worker-child.ts", import.meta.url)), queue], { stdio: ["ignore", "pipe", "inherit"] });
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on("line", (line) => lines.push(line));
  await eventually(() => lines.includes("ready"), 30_000, "the child worker");
  const result = await app.sendTask<number>("interop.sleep", [7], { queue });
  await eventually(() => lines.includes("started"), 30_000, "the task to start in the child");
  child.kill("SIGKILL");
  await once(child, "exit");
  const worker = createWorker(app, { queues: [queue], concurrency: 2 });
  workers.push(worker);
  await worker.start();
  assert.equal(await result.get({ timeout: 30 }), 7, "the task ran again on the surviving worker");
});
