// App-level interop with the real Python Celery 5.2.6 over Redis (db 9): (a) a Python producer's calls
// run on our worker (createApp + createWorker) and Python's AsyncResult.get reads our results, failures
// re-raised with their type and message; (b) our app's delay/applyAsync calls run on a `celery worker`
// and our AsyncResult.get reads its results, a FAILURE as TaskFailedError and a retry as its SUCCESS.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { TaskFailedError, createWorker, type Worker } from "../../src/index.ts";
import { defineInteropTasks, recorderClient, redisApp, runPython, startPythonWorker, type PythonProcess } from "./redis-app-helpers.ts";

const DB = 9;
const admin = recorderClient(DB);
const NESTED = { text: "Zoë ☃ 日本語 🎉", nested: { list: [1, 2.5, null, true, [3, { k: "v" }]], big: 9007199254740993n } };

before(async () => {
  await admin.flushdb();
});

after(async () => {
  await admin.flushdb();
  await admin.quit();
});

describe("(a) Python producer -> our worker -> Python's AsyncResult.get", () => {
  const app = redisApp(DB, { taskDefaultQueue: "node-a" });
  defineInteropTasks(app);
  let worker: Worker;
  const received: { name: string; queue: string }[] = [];
  before(async () => {
    app.events.on("task:received", (e) => received.push({ name: e.name, queue: e.queue }));
    worker = createWorker(app, { concurrency: 4 });
    await worker.start();
  });
  after(async () => {
    await worker.stop();
    await app.close();
  });

  test("plain, kwargs, countdown, priority, unicode/nested, failure and retry, read back by Python", async () => {
    const python = runPython(["app_client.py", "scenario", "node-a"], DB);
    try {
      const { sent } = (await python.nextLine()) as { sent: Record<string, string> };
      const outcomes = new Map<string, Record<string, unknown>>();
      for (let i = 0; i < Object.keys(sent).length; i++) {
        const line = await python.nextLine();
        outcomes.set(String(line["label"]), line);
      }
      assert.deepEqual(outcomes.get("plain"), { label: "plain", state: "SUCCESS", value: 5 });
      assert.deepEqual(outcomes.get("kwargs"), { label: "kwargs", state: "SUCCESS", value: 9 });
      assert.deepEqual(outcomes.get("countdown"), { label: "countdown", state: "SUCCESS", value: 2 });
      assert.deepEqual(outcomes.get("priority"), { label: "priority", state: "SUCCESS", value: 12 });
      // Python's json reads 9007199254740993 exactly; so must our worker have kept it.
      assert.deepEqual(outcomes.get("unicode"), { label: "unicode", state: "SUCCESS", value: NESTED });
      assert.deepEqual(outcomes.get("fail"), { label: "fail", state: "FAILURE", exc_type: "ValueError", exc_message: "boom ☃" });
      assert.deepEqual(outcomes.get("retry"), { label: "retry", state: "SUCCESS", value: "retried" });
      assert.equal(worker.stats.retried, 1);
      assert.equal(worker.stats.failed, 1);
      // The retry went back through the broker: received twice.
      assert.equal(received.filter((r) => r.name === "interop.retry_once").length, 2);
      assert.ok(received.every((r) => r.queue === "node-a"), "received.every((r) => r.queue === \"node-a\")");
    } finally {
      await python.stop();
    }
    assert.equal((await admin.hlen("unacked")) + (await admin.hlen("celeriac.unacked")), 0, "every delivery was acknowledged");
  });
});

describe("(b) our app -> a real Celery worker -> our AsyncResult.get", () => {
  const app = redisApp(DB, { taskDefaultQueue: "py-b" });
  const tasks = defineInteropTasks(app);
  let python: PythonProcess;
  before(async () => {
    python = await startPythonWorker("py-b", DB, "interop-b");
  });
  after(async () => {
    await python.stop();
    await app.close();
  });

  test("delay, kwargs, countdown, priority and unicode/nested args run on Python; we read the values", async () => {
    const started = Date.now();
    const plain = await tasks.add.delay(2, 3);
    // kwargs only: by name, since add's typed signature wants positional arguments.
    const kwargs = await app.sendTask<number>("interop.add", [], { kwargs: { x: 4, y: 5 } });
    const countdown = await tasks.add.applyAsync([1, 1], { countdown: 1.5 });
    const priority = await tasks.add.applyAsync([6, 6], { priority: 5 });
    const echo = await tasks.echo.delay(NESTED);
    const byName = await app.sendTask<number>("interop.sum_list", [[1, 2, 3]]);
    assert.equal(await plain.get({ timeout: 30 }), 5);
    assert.equal(await kwargs.get({ timeout: 30 }), 9);
    assert.equal(await countdown.get({ timeout: 30 }), 2);
    assert.ok(Date.now() - started >= 1400, "the countdown task ran before its eta");
    assert.equal(await priority.get({ timeout: 30 }), 12);
    assert.deepEqual(await echo.get({ timeout: 30 }), NESTED);
    assert.equal(await byName.get({ timeout: 30 }), 6);
  });

  test("a Python exception is a FAILURE with its type and message; a retry ends in SUCCESS", async () => {
    const failed = await tasks.fail.delay("boom ☃");
    await assert.rejects(failed.get({ timeout: 30 }), (error: unknown) => {
      assert.ok(error instanceof TaskFailedError, "error instanceof TaskFailedError");
      assert.equal(error.remote.type, "ValueError");
      assert.equal(error.remote.message, "boom ☃");
      assert.match(error.remoteTraceback ?? "", /ValueError: boom/);
      return true;
    });
    const retried = await tasks.retryOnce.delay("k");
    assert.equal(await retried.get({ timeout: 30 }), "retried");
    assert.match(python.stderr(), /Retry in 1s/);
  });
});
