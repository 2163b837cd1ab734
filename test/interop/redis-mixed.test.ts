// A mixed deployment on Redis (db 8): a real Python `celery worker` and our worker consume one queue
// while a Python producer and our app each send 100 tasks; every task runs exactly once (each side
// records its executions in a Redis list) and every result reaches the producer that sent it.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createWorker } from "../../src/index.ts";
import { defineInteropTasks, recorderClient, redisApp, runPython, startPythonWorker, type PythonProcess } from "./redis-app-helpers.ts";

const DB = 8;
const QUEUE = "mixed";
const RUNS = "interop:runs";
const PER_SIDE = 100;
const admin = recorderClient(DB);
const recorder = recorderClient(DB);
const children: PythonProcess[] = [];

before(async () => {
  await admin.flushdb();
});

after(async () => {
  for (const child of children) await child.stop();
  await admin.flushdb();
  await admin.quit();
  await recorder.quit();
});

test("Python and Node workers share one queue: 200 tasks from both producers, each run exactly once", async () => {
  const app = redisApp(DB, { taskDefaultQueue: QUEUE });
  const tasks = defineInteropTasks(app, recorder);
  // A small window, so the Python worker (prefetch 4, one task at a time) gets a fair share.
  const worker = createWorker(app, { concurrency: 2, prefetchMultiplier: 1 });
  try {
    const pyWorker = await startPythonWorker(QUEUE, DB, "interop-mixed");
    children.push(pyWorker);
    await worker.start();
    const pyProducer = runPython(["app_client.py", "mixed", QUEUE, String(PER_SIDE), RUNS], DB);
    children.push(pyProducer);
    const ours = await Promise.all(Array.from({ length: PER_SIDE }, (_, i) => tasks.record.delay(RUNS, `node-${i}`, 0.01)));
    const { sent } = (await pyProducer.nextLine()) as { sent: string[] };
    const values = await Promise.all(ours.map((result) => result.get({ timeout: 60 })));
    assert.deepEqual(values, Array.from({ length: PER_SIDE }, (_, i) => `node-${i}`), "our app got every result");
    const pyDone = (await pyProducer.nextLine()) as { done: number; values: string[] };
    assert.equal(pyDone.done, PER_SIDE);
    assert.deepEqual(pyDone.values, sent, "the Python producer got every result");

    const runs = await admin.lrange(RUNS, 0, -1);
    const tokens = runs.map((run) => run.slice(run.indexOf(":") + 1));
    assert.equal(runs.length, 2 * PER_SIDE, "one execution per task, no more");
    assert.equal(new Set(tokens).size, 2 * PER_SIDE, "no task ran twice");
    assert.deepEqual(new Set(tokens), new Set([...sent, ...values]));
    const byPython = runs.filter((run) => run.startsWith("py:")).length;
    const byNode = runs.filter((run) => run.startsWith("node:")).length;
    assert.ok(byPython > 0 && byNode > 0, `both workers took work (python ${byPython}, node ${byNode})`);
    // Tasks crossed languages both ways: some of ours ran on Python and some of Python's ran on us.
    assert.ok(runs.some((run) => run.startsWith("py:node-")), "no task sent by our app ran on Python");
    assert.ok(runs.some((run) => run.startsWith("node:py-")), "no task sent by Python ran on our worker");
    assert.equal(await admin.llen(QUEUE), 0);
    // Python claims in kombu's unacked, we in celeriac.unacked: both must be empty.
    assert.equal((await admin.hlen("unacked")) + (await admin.hlen("celeriac.unacked")), 0, "every delivery was acknowledged");
  } finally {
    await worker.stop();
    await app.close();
  }
});
