// Shutdown on the embedded broker: a forced stop (terminate(), or the shutdown timeout passing) ends
// running tasks from outside and ignores whatever they do later; acksLate messages go back to the queue
// with nothing settled, early-acked ones are recorded as FAILURE WorkerLostError. The app's worker
// hooks run around a worker's life, bounded, in order.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { TaskFailedError, WorkerHookError, WorkerLostError } from "../app/errors.ts";
import { invokeTask } from "../app/invoke.ts";
import { buildMessage } from "../app/producer.ts";
import type { MemoryBroker } from "../broker/memory/memory-broker.ts";
import { addWorker, eventually, record, setup, sleep } from "./worker.test-helper.ts";

/** Resolves when `signal` fires, with its reason. */
const aborted = (signal: AbortSignal): Promise<unknown> => new Promise((resolve) => signal.addEventListener("abort", () => resolve(signal.reason), { once: true }));

describe("a forced stop", () => {
  test("terminate() ends a running acksLate task: its signal fires, its later return is ignored, and its message goes back to run once elsewhere", async () => {
    const { app, worker } = setup({}, { concurrency: 2 });
    const reasons: unknown[] = [];
    let runs = 0;
    let returnedLate!: () => void;
    const lateReturn = new Promise<void>((resolve) => (returnedLate = resolve));
    const late = app.task(
      "t.late",
      async (ctx, label: string) => {
        if (++runs > 1) return `${label} done`;
        reasons.push(await aborted(ctx.signal));
        await sleep(20); // returns after the stop: nothing of it may count
        setTimeout(returnedLate, 20); // time enough for a settle of it to show
        return `${label} after the abort`;
      },
      { bind: true, acksLate: true },
    );
    const followed = app.task("t.follow-up", (value: string) => value);
    const started = record(app, "task:started");
    const succeeded = record(app, "task:succeeded");
    await worker.start();
    const result = await late.applyAsync(["x"], { link: followed.s() });
    await eventually(() => started.length === 1, "the task to start");

    assert.equal(await worker.terminate(), 1, "one message returned to the queue");
    assert.equal(worker.forced, true);
    assert.ok(reasons[0] instanceof WorkerLostError, `the signal's reason: ${String(reasons[0])}`);
    await lateReturn;
    assert.equal(await result.state(), "PENDING", "nothing was stored for the abandoned task");
    assert.equal(succeeded.length, 0);
    assert.equal(worker.stats.succeeded, 0);
    const broker = (await app.getBroker()) as MemoryBroker;
    assert.equal(await broker.length("celery"), 1, "the message is back, and no follow-up was sent");

    const next = addWorker(app, { concurrency: 2 });
    await next.start();
    assert.equal(await result.get({ timeout: 5 }), "x done");
    await eventually(() => next.stats.succeeded === 2, "the task and its follow-up");
    assert.equal(runs, 2, "it ran once more, on the next worker");
  });

  test("an early-acked task running at a forced stop is lost, so it is stored as FAILURE WorkerLostError with its errback sent, and is not run again", async () => {
    const { app, worker } = setup();
    let runs = 0;
    const stuck = app.task("t.stuck", () => {
      runs++;
      return new Promise<never>(() => {}); // ignores its signal and never ends
    });
    const errbackArgs: unknown[][] = [];
    const errback = app.task("t.errback", (...args: unknown[]) => void errbackArgs.push(args));
    const failed = record(app, "task:failed");
    await worker.start();
    const result = await stuck.applyAsync([], { linkError: errback.s() });
    await eventually(() => runs === 1, "the task to start");

    assert.equal(await worker.terminate("test"), 0, "nothing goes back: the message was acknowledged when the task started");
    await assert.rejects(result.get({ timeout: 5 }), (error: unknown) => {
      assert.ok(error instanceof TaskFailedError, "error instanceof TaskFailedError");
      assert.deepEqual([error.state, error.remote.type, error.remote.module], ["FAILURE", "WorkerLostError", "celery.exceptions"]);
      assert.match(error.remote.message, /stopped at once \(test\)/);
      return true;
    });
    assert.equal(failed.length, 1);
    assert.equal(worker.stats.failed, 1);
    assert.equal(await ((await app.getBroker()) as MemoryBroker).length("celery"), 1, "only the errback is in the queue");

    const next = addWorker(app, {});
    await next.start();
    await eventually(() => errbackArgs.length === 1, "the errback");
    assert.deepEqual(errbackArgs, [[result.id]]);
    assert.equal(runs, 1);
  });

  test("a shutdown timeout that passes ends running tasks as terminate() does", async () => {
    const { app, worker } = setup({}, { shutdownTimeout: 0.1 });
    let signalled = false;
    const late = app.task(
      "t.slow-late",
      async (ctx) => {
        await aborted(ctx.signal);
        signalled = true;
        return "too late";
      },
      { bind: true, acksLate: true },
    );
    const started = record(app, "task:started");
    await worker.start();
    const result = await late.delay();
    await eventually(() => started.length === 1, "the task to start");
    assert.equal(await worker.stop(), 1);
    assert.equal(worker.forced, true);
    assert.equal(signalled, true);
    await sleep(20);
    assert.equal(await result.state(), "PENDING");
    assert.equal(await ((await app.getBroker()) as MemoryBroker).length("celery"), 1);
  });

  test("a graceful stop whose tasks finish in time is not forced", async () => {
    const { app, worker } = setup();
    const quick = app.task("t.quick-late", async () => sleep(30).then(() => "done"), { acksLate: true });
    const started = record(app, "task:started");
    await worker.start();
    const result = await quick.delay();
    await eventually(() => started.length === 1, "the task to start");
    assert.equal(await worker.stop(), 0);
    assert.equal(worker.forced, false);
    assert.equal(await result.get({ timeout: 1 }), "done");
  });

  test("a task whose worker was stopped at once before it started does not start", async () => {
    const { app } = setup();
    let ran = false;
    const task = app.task("t.never", () => void (ran = true));
    const stop = new AbortController();
    stop.abort(new WorkerLostError("terminated"));
    const message = buildMessage({ name: task.name, args: [], options: {} }, app.config, app.oid);
    const outcome = await invokeTask(app.getTask(task.name), message, {
      hostname: "h", queue: "celery", isEager: false, defaultTimeLimit: null, defaultSoftTimeLimit: null, updateState: async () => {}, stopSignal: stop.signal,
    });
    assert.equal(outcome.kind, "terminated");
    assert.equal(ran, false);
  });
});

describe("worker hooks", () => {
  test("start hooks run before the first task; stop hooks after the last one ends, newest first, told the reason", async () => {
    const { app, worker } = setup();
    const seen: string[] = [];
    app.onWorkerStart(({ queues }) => void seen.push(`start ${queues.join(",")}`));
    app.onWorkerStop(() => void seen.push("stop first-added"));
    app.onWorkerStop(async ({ reason, forced }) => {
      await sleep(5);
      seen.push(`stop last-added ${reason} ${forced}`);
    });
    const slow = app.task("t.hooked", async () => {
      seen.push("task");
      await sleep(50);
      seen.push("task ends");
    });
    const started = record(app, "task:started");
    await worker.start();
    await slow.delay();
    await eventually(() => started.length === 1, "the task to start");
    await worker.stop("test");
    assert.deepEqual(seen, ["start celery", "task", "task ends", "stop last-added test false", "stop first-added"]);
  });

  test("a stop hook that throws or outlives its timeout is reported; the others still run and the worker stops", async () => {
    const { app, worker } = setup();
    const ran: string[] = [];
    app.onWorkerStop(() => void ran.push("third"));
    app.onWorkerStop(() => new Promise<never>(() => {}), { timeout: 0.05 });
    app.onWorkerStop(function closePool() {
      throw new Error("pool already closed");
    });
    const errors = record(app, "worker:error");
    await worker.start();
    await worker.stop();
    assert.deepEqual(ran, ["third"]);
    assert.equal(worker.status, "stopped");
    assert.deepEqual(
      errors.map((e) => [e.error instanceof WorkerHookError, e.message]),
      [
        [true, 'worker stop hook "closePool" failed: pool already closed'],
        [true, "worker stop hook #2 did not finish within 0.05 s"],
      ],
    );
  });

  test("a start hook that fails fails the start: nothing is consumed, and the stop hooks run", async () => {
    const { app, worker } = setup();
    const stops: string[] = [];
    app.onWorkerStart(() => Promise.reject(new Error("no database")));
    app.onWorkerStop(({ reason }) => void stops.push(reason));
    let ran = false;
    const task = app.task("t.unreached", () => void (ran = true));
    await task.delay();
    await assert.rejects(worker.start(), (error: unknown) => error instanceof WorkerHookError && /start hook #1 failed: no database/.test(error.message));
    assert.deepEqual(stops, ["start failed: worker start hook #1 failed: no database"]);
    await sleep(20);
    assert.equal(ran, false);
    assert.equal(await ((await app.getBroker()) as MemoryBroker).length("celery"), 1);
  });

  test("a hook's timeout must be a finite number of seconds", () => {
    const { app } = setup();
    assert.throws(() => app.onWorkerStop(() => {}, { timeout: Infinity }), /finite number of seconds > 0, got Infinity/);
    assert.throws(() => app.onWorkerStart(() => {}, { timeout: 0 }), /got 0/);
  });
});
