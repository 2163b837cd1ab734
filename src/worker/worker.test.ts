// The worker on the embedded broker: every behaviour of the async worker, end to end in one process.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TaskFailedError } from "../app/errors.ts";
import type { MemoryBroker } from "../broker/memory/memory-broker.ts";
import { addWorker, eventually, record, setup, sleep } from "./worker.test-helper.ts";

describe("worker on the embedded broker", () => {
  test("runs tasks and stores results; never more at once than its concurrency", async () => {
    const { app, worker } = setup({}, { concurrency: 3 });
    let active = 0;
    let peak = 0;
    const slow = app.task("t.slow", async (n: number) => {
      active++;
      peak = Math.max(peak, active);
      await sleep(30);
      active--;
      return n * 2;
    });
    await worker.start();
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => slow.delay(i)));
    const values = await Promise.all(results.map((r) => r.get({ timeout: 5 })));
    assert.deepEqual(values, Array.from({ length: 12 }, (_, i) => i * 2));
    assert.equal(peak, 3);
    assert.equal(await results[0]?.state(), "SUCCESS");
    assert.equal(worker.stats.succeeded, 12);
  });

  test("consumes only its named queues", async () => {
    const { app, worker } = setup({}, { queues: ["a", "b"] });
    const echo = app.task("t.echo", (x: string) => x);
    await worker.start();
    const fromA = await echo.applyAsync(["a"], { queue: "a" });
    const fromB = await echo.applyAsync(["b"], { queue: "b" });
    const fromC = await echo.applyAsync(["c"], { queue: "c" });
    assert.equal(await fromA.get({ timeout: 5 }), "a");
    assert.equal(await fromB.get({ timeout: 5 }), "b");
    await sleep(50);
    assert.equal(await fromC.state(), "PENDING");
    assert.equal(await ((await app.getBroker()) as MemoryBroker).length("c"), 1);
  });

  test("holds no more unstarted messages than concurrency × prefetch multiplier", async () => {
    const { app, worker } = setup({}, { concurrency: 2, prefetchMultiplier: 3 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const blocked = app.task("t.blocked", async () => gate);
    await worker.start();
    for (let i = 0; i < 50; i++) await blocked.delay();
    const broker = (await app.getBroker()) as MemoryBroker;
    // 2 running (acknowledged when they started) + 6 prefetched; the other 42 wait in the broker.
    await eventually(async () => (await broker.length("celery")) === 42, "the prefetch window to fill");
    await sleep(50);
    assert.equal(await broker.length("celery"), 42);
    release();
    await eventually(() => worker.stats.succeeded === 50, "all tasks");
  });

  test("a countdown task waits without blocking other work", async () => {
    const { app, worker } = setup();
    const started = new Map<string, number>();
    const mark = app.task("t.mark", (label: string) => void started.set(label, Date.now()));
    await worker.start();
    const sentAt = Date.now();
    const later = await mark.applyAsync(["later"], { countdown: 0.5 });
    const now = await mark.delay("now");
    await now.get({ timeout: 5 });
    assert.equal(started.has("later"), false, "the countdown task ran before the one sent after it");
    await later.get({ timeout: 5 });
    assert.ok((started.get("later") as number) - sentAt >= 490, "the countdown task ran early");
  });

  test("an eta beyond the hold window is parked in the broker, not held in memory", async () => {
    const { app, worker } = setup({ workerEtaHoldSeconds: 0.1 });
    const echo = app.task("t.parked", (x: number) => x);
    await worker.start();
    const sentAt = Date.now();
    const result = await echo.applyAsync([7], { eta: new Date(sentAt + 600) });
    await sleep(100);
    assert.equal(await result.state(), "PENDING");
    assert.equal(await result.get({ timeout: 5 }), 7);
    assert.ok(Date.now() - sentAt >= 590, "Date.now() - sentAt >= 590");
  });

  test("an expired task is discarded as REVOKED with TaskRevokedError", async () => {
    const { app, worker } = setup();
    let ran = false;
    const task = app.task("t.expiring", () => void (ran = true));
    await worker.start();
    const result = await task.applyAsync([], { expires: new Date(Date.now() - 1) });
    await assert.rejects(result.get({ timeout: 5 }), (error: unknown) => {
      assert.ok(error instanceof TaskFailedError, "error instanceof TaskFailedError");
      assert.equal(error.state, "REVOKED");
      assert.equal(error.remote.type, "TaskRevokedError");
      assert.equal(error.remote.message, "expired");
      return true;
    });
    assert.equal(ran, false);
  });

  test("a revoked task waiting for its countdown never runs", async () => {
    const { app, worker } = setup();
    let ran = false;
    const task = app.task("t.revokable", () => void (ran = true));
    await worker.start();
    const result = await task.applyAsync([], { countdown: 0.4 });
    await result.revoke();
    assert.equal(await result.get({ timeout: 5, propagate: false }).then(() => result.state()), "REVOKED");
    assert.equal(ran, false);
  });

  test("automatic retries back off exponentially, then succeed", async () => {
    const { app, worker } = setup();
    class Flaky extends Error {}
    const attempts: number[] = [];
    const task = app.task(
      "t.flaky",
      (ctx) => {
        attempts.push(Date.now());
        if (ctx.request.retries < 3) throw new Flaky(`attempt ${ctx.request.retries}`);
        return ctx.request.retries;
      },
      { bind: true, autoretryFor: [Flaky], retryBackoff: 0.1, retryJitter: false, maxRetries: 5 },
    );
    const retried = record(app, "task:retried");
    await worker.start();
    const result = await task.delay();
    assert.equal(await result.get({ timeout: 10 }), 3);
    assert.deepEqual(retried.map((e) => e.countdownSeconds), [0.1, 0.2, 0.4]);
    assert.deepEqual(retried.map((e) => e.error?.message), ["attempt 0", "attempt 1", "attempt 2"]);
    const gaps = attempts.slice(1).map((t, i) => t - (attempts[i] as number));
    [100, 200, 400].forEach((min, i) => assert.ok((gaps[i] as number) >= min - 10, `retry ${i} came after ${gaps[i]} ms, before its ${min} ms backoff`));
  });

  test("after maxRetries the task fails with the error that caused the retries", async () => {
    const { app, worker } = setup();
    const task = app.task(
      "t.doomed",
      (ctx) => {
        throw ctx.retry({ countdown: 0.01, exc: new RangeError(`no luck ${ctx.request.retries}`) });
      },
      { bind: true, maxRetries: 2 },
    );
    await worker.start();
    const result = await task.delay();
    await assert.rejects(result.get({ timeout: 5 }), (error: unknown) => {
      assert.ok(error instanceof TaskFailedError, "error instanceof TaskFailedError");
      assert.equal(error.remote.type, "ValueError");
      assert.equal(error.remote.message, "no luck 2");
      return true;
    });
    assert.equal(worker.stats.retried, 2);
  });

  test("a failure stores the error's type, message and a bounded stack", async () => {
    const { app, worker } = setup();
    const recurse = (d: number): number => {
      if (d === 0) throw new TypeError("x".repeat(100_000));
      return recurse(d - 1) + 1;
    };
    const task = app.task("t.fails", (depth: number) => recurse(depth));
    await worker.start();
    const result = await task.delay(50);
    const info = (await result.get({ timeout: 5, propagate: false })) as { type: string; message: string };
    assert.equal(info.type, "TypeError");
    assert.ok(info.message.startsWith("xxx") && info.message.length <= 4200, `message of ${info.message.length} chars`);
    const stored = await result.record();
    assert.equal(stored?.state, "FAILURE");
    assert.ok(stored?.traceback && stored.traceback.length <= 17_000 && stored.traceback.includes("TypeError"), "stored?.traceback && stored.traceback.length <= 17_000 && stored.traceback.includes(\"TypeError\")");
  });

  test("a rate limit spaces task starts", async () => {
    const { app, worker } = setup();
    const starts: number[] = [];
    const task = app.task("t.limited", () => void starts.push(Date.now()), { rateLimit: "10/s" });
    await worker.start();
    const results = await Promise.all(Array.from({ length: 14 }, () => task.delay()));
    await Promise.all(results.map((r) => r.get({ timeout: 10 })));
    // A burst of 10 (one second's worth), then one start per 100 ms.
    const afterBurst = starts.slice(10).map((t, i) => t - (starts[9 + i] as number));
    for (const gap of afterBurst) assert.ok(gap >= 85, `starts ${gap} ms apart under a 10/s limit`);
  });

  test("the soft time limit fires the task's signal; the task can clean up", async () => {
    const { app, worker } = setup();
    const task = app.task(
      "t.soft",
      async (ctx) => {
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
        return `cleaned up after ${(ctx.signal.reason as Error).name}`;
      },
      { bind: true, softTimeLimit: 0.1 },
    );
    await worker.start();
    assert.equal(await (await task.delay()).get({ timeout: 5 }), "cleaned up after SoftTimeLimitExceeded");
  });

  test("the hard time limit fails a task that never returns and frees its slot", async () => {
    const { app, worker } = setup({}, { concurrency: 1 });
    const hang = app.task("t.hang", () => new Promise<never>(() => {}), { timeLimit: 0.1 });
    const quick = app.task("t.quick", () => "ran");
    await worker.start();
    const hung = await hang.delay();
    const next = await quick.delay();
    await assert.rejects(hung.get({ timeout: 5 }), (error: unknown) => error instanceof TaskFailedError && error.remote.type === "TimeLimitExceeded");
    assert.equal(await next.get({ timeout: 5 }), "ran");
  });

  test("an unknown task is rejected with a reason, and the worker goes on", async () => {
    const { app, worker } = setup();
    const known = app.task("t.known", () => "fine");
    const rejected = record(app, "task:rejected");
    await worker.start();
    const unknown = await app.sendTask("t.knwon");
    assert.equal(await (await known.delay()).get({ timeout: 5 }), "fine");
    await eventually(() => rejected.length === 1, "the rejection");
    assert.equal(rejected[0]?.id, unknown.id);
    assert.equal(rejected[0]?.code, "NOT_REGISTERED");
    assert.match(rejected[0]?.reason ?? "", /task "t.knwon" is not registered \(did you mean "t.known"\?\)/);
    assert.equal(worker.stats.rejected, 1);
  });

  test("malformed, disallowed and oversized messages are rejected and counted; nothing runs", async () => {
    const { app, worker } = setup({ messageMaxBytes: 1000 });
    let ran = 0;
    app.task("t.victim", () => void ran++);
    const rejected = record(app, "task:rejected");
    await worker.start();
    const broker = await app.getBroker();
    const headers = { task: "t.victim", id: "bad-1", lang: "py" };
    const wire = (body: string, contentType: string) => ({ body: new TextEncoder().encode(body), contentType, contentEncoding: "utf-8", headers: { ...headers }, properties: {} });
    await broker.publish("celery", wire("[[], {}, {", "application/json"));
    await broker.publish("celery", wire("\x80\x04K\x01.", "application/x-python-serialize"));
    await broker.publish("celery", wire("--- [1]", "application/x-yaml"));
    await broker.publish("celery", wire(JSON.stringify([["x".repeat(2000)], {}, {}]), "application/json"));
    await broker.publish("celery", wire(JSON.stringify({ not: "a body" }), "application/json"));
    await eventually(() => rejected.length === 5, "five rejections");
    assert.deepEqual(rejected.map((r) => r.code), ["MALFORMED_MESSAGE", "CONTENT_TYPE_NOT_ALLOWED", "CONTENT_TYPE_NOT_ALLOWED", "MESSAGE_TOO_LARGE", "MALFORMED_MESSAGE"]);
    assert.match(rejected[1]?.reason ?? "", /json/);
    assert.match(rejected[1]?.reason ?? "", /msgpack/);
    assert.equal(ran, 0);
    assert.equal(worker.stats.rejected, 5);
    assert.equal(await (broker as MemoryBroker).length("celery"), 0);
    assert.equal(worker.status, "running");
  });

  test("keyword arguments bind by parameter name, as from a Python caller", async () => {
    const { app, worker } = setup();
    const add = app.task("t.add", (x: number, y: number) => x - y);
    await worker.start();
    assert.equal(await (await app.sendTask("t.add", [], { kwargs: { y: 1, x: 10 } })).get({ timeout: 5 }), 9);
    assert.equal(await (await app.sendTask("t.add", [10], { kwargs: { y: 4 } })).get({ timeout: 5 }), 6);
    const bad = await app.sendTask("t.add", [1], { kwargs: { z: 4 } });
    await assert.rejects(bad.get({ timeout: 5 }), /TypeError: t.add\(\) got an unexpected keyword argument 'z'/);
    assert.ok(add, "add");
  });

  test("progress and STARTED states are readable while the task runs", async () => {
    const { app, worker } = setup({ taskTrackStarted: true });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let progressed!: () => void;
    const reported = new Promise<void>((r) => (progressed = r));
    const task = app.task(
      "t.progress",
      async (ctx) => {
        await ctx.progress({ done: 3, total: 10 });
        progressed();
        await gate;
        return "done";
      },
      { bind: true },
    );
    await worker.start();
    const result = await task.delay();
    await reported;
    assert.equal(await result.state(), "PROGRESS");
    assert.deepEqual(await result.info(), { done: 3, total: 10 });
    release();
    assert.equal(await result.get({ timeout: 5 }), "done");
  });

  test("link runs with the result; linkError runs with the failed task's id", async () => {
    const { app, worker } = setup();
    const seen: unknown[][] = [];
    const add = app.task("t.add2", (x: number, y: number) => x + y);
    const boom = app.task("t.boom", (): never => {
      throw new Error("boom");
    });
    const collect = app.task("t.collect", (...args: unknown[]) => void seen.push(args));
    await worker.start();
    await (await add.applyAsync([2, 3], { link: collect.s("after-add") })).get({ timeout: 5 });
    const failed = await boom.applyAsync([], { linkError: collect.s() });
    await assert.rejects(failed.get({ timeout: 5 }), TaskFailedError);
    await eventually(() => seen.length === 2, "both callbacks");
    assert.deepEqual(seen.find((a) => a[1] === "after-add"), [5, "after-add"]);
    assert.deepEqual(seen.find((a) => a.length === 1), [failed.id]);
  });

  test("a task sent from inside a task records its parent and root", async () => {
    const { app, worker } = setup();
    const child = app.task("t.child", (ctx) => ({ parentId: ctx.request.parentId, rootId: ctx.request.rootId }), { bind: true });
    const parent = app.task("t.parent", async (ctx) => ({ id: ctx.request.id, child: (await child.delay()).id }), { bind: true });
    await worker.start();
    const top = await parent.delay();
    const { id, child: childId } = await top.get({ timeout: 5 });
    assert.equal(id, top.id);
    assert.deepEqual(await app.asyncResult(childId).get({ timeout: 5 }), { parentId: top.id, rootId: top.id });
  });

  test("a synchronous task, and a plain function once it has returned a promise, pass on their parent and root too", async () => {
    const { app, worker } = setup();
    const child = app.task("t.child", (ctx) => ({ parentId: ctx.request.parentId, rootId: ctx.request.rootId }), { bind: true });
    const sent: Promise<{ id: string }>[] = [];
    // Synchronous: the request is current while the function runs, and delay() reads it at once.
    const syncParent = app.task("t.sync-parent", (ctx) => {
      sent.push(child.delay());
      return ctx.request.id;
    }, { bind: true });
    // Not declared async, but returns a promise and sends after an await.
    const thenParent = app.task("t.then-parent", (ctx) => sleep(1).then(async () => ({ id: ctx.request.id, child: (await child.delay()).id })), { bind: true });
    await worker.start();
    const top = await syncParent.delay();
    assert.equal(await top.get({ timeout: 5 }), top.id);
    const syncChild = await (sent[0] as Promise<{ id: string }>);
    assert.deepEqual(await app.asyncResult(syncChild.id).get({ timeout: 5 }), { parentId: top.id, rootId: top.id });
    // Its first call shows the function returns promises; from then on it runs as an async one does.
    await (await thenParent.delay()).get({ timeout: 5 });
    const second = await thenParent.delay();
    const { child: childId } = await second.get({ timeout: 5 });
    assert.deepEqual(await app.asyncResult(childId).get({ timeout: 5 }), { parentId: second.id, rootId: second.id });
  });

  test("stats count this worker's own deliveries, even with two workers on one app", async () => {
    const { app, worker } = setup();
    const other = addWorker(app, { queues: ["other"] });
    const add = app.task("t.add", (x: number, y: number) => x + y);
    app.task("t.boom", () => {
      throw new Error("boom");
    });
    await worker.start();
    await other.start();
    await (await add.delay(1, 2)).get({ timeout: 5 });
    await assert.rejects((await app.sendTask("t.boom")).get({ timeout: 5 }), TaskFailedError);
    await (await add.applyAsync([3, 4], { queue: "other" })).get({ timeout: 5 });
    assert.deepEqual(worker.stats, { received: 2, succeeded: 1, failed: 1, retried: 0, rejected: 0, revoked: 0, strayErrors: 0 });
    assert.deepEqual(other.stats, { received: 1, succeeded: 1, failed: 0, retried: 0, rejected: 0, revoked: 0, strayErrors: 0 });
  });

  test("stop lets running tasks finish and gives every unstarted message back", async () => {
    const { app, worker } = setup({}, { concurrency: 2, prefetchMultiplier: 2 });
    const finished: number[] = [];
    const task = app.task("t.work", async (n: number) => {
      await sleep(150);
      finished.push(n);
    });
    await worker.start();
    for (let i = 0; i < 10; i++) await task.delay(i);
    const broker = (await app.getBroker()) as MemoryBroker;
    await eventually(async () => (await broker.length("celery")) === 4, "2 running + 4 prefetched");
    const returned = await worker.stop();
    assert.deepEqual(finished.sort(), [0, 1], "the two running tasks finished");
    assert.equal(returned, 4);
    assert.equal(await broker.length("celery"), 8, "every task not run is back in the queue");
  });

  test("an acksLate task still running at a forced stop goes back to the queue; an early-acked one does not", async () => {
    const { app, worker } = setup({}, { concurrency: 2, shutdownTimeout: 0.1 });
    app.task("t.late", () => new Promise(() => {}), { acksLate: true });
    app.task("t.early", () => new Promise(() => {}));
    const started = record(app, "task:started");
    await worker.start();
    await app.sendTask("t.late");
    await app.sendTask("t.early");
    await eventually(() => started.length === 2, "both tasks to start");
    const returned = await worker.stop();
    assert.equal(returned, 1);
    assert.equal(await ((await app.getBroker()) as MemoryBroker).length("celery"), 1);
  });
});
