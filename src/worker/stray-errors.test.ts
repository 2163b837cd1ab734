// Attribution of errors that escape tasks, on the embedded broker. The errors are handed to
// routeStrayError from where Node would call the process handler (a timer created by the task), not
// thrown for real: node:test's own process handlers would fail the test. The real throws run in a
// child worker in test/e2e/stray-errors.test.ts.
import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createApp, type App } from "../app/app.ts";
import { TaskFailedError } from "../app/errors.ts";
import type { CeleriacEvents } from "../app/events.ts";
import type { TaskContext } from "../app/task.ts";
import { ConfigError } from "../util/errors.ts";
import { routeStrayError, StrayErrorBudget } from "./stray-errors.ts";
import { createWorker, type Worker, type WorkerOptions } from "./worker.ts";

const running: { app: App; worker: Worker }[] = [];
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function setup(workerOptions: WorkerOptions = {}) {
  const app = createApp({ readEnv: false });
  const worker = createWorker(app, { shutdownTimeout: 2, ...workerOptions });
  running.push({ app, worker });
  return { app, worker };
}

type StrayEvent = CeleriacEvents["worker:stray-error"];

function recordStrays(app: App): StrayEvent[] {
  const seen: StrayEvent[] = [];
  app.events.on("worker:stray-error", (e) => seen.push(e));
  return seen;
}

async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** What Node's handler would do for an error thrown in a timer the calling code creates now. */
const escapeLater = (error: unknown, ms = 5): NodeJS.Timeout => setTimeout(() => routeStrayError(error, "uncaughtException"), ms);

afterEach(async () => {
  for (const { app, worker } of running.splice(0)) {
    await worker.stop();
    await app.close();
  }
});

describe("errors that escape tasks", () => {
  test("one escaping a running async task fails it with that error, frees its slot; its later progress and return are ignored", async () => {
    const { app, worker } = setup({ concurrency: 1 });
    const strays = recordStrays(app);
    let returnedLate = false;
    let abortedWith: unknown;
    const leaky = app.task(
      "s.leaky",
      async (ctx: TaskContext, text: string) => {
        escapeLater(new TypeError(text));
        await sleep(300);
        abortedWith = ctx.signal.reason;
        await ctx.progress({ late: true }); // must not overwrite the FAILURE
        returnedLate = true;
        return "too late";
      },
      { bind: true },
    );
    const next = app.task("s.next", (n: number) => n + 1);
    await worker.start();

    const result = await leaky.delay("escaped");
    await assert.rejects(result.get({ timeout: 5 }), (error: unknown) => error instanceof TaskFailedError && error.remote.type === "TypeError" && error.remote.message === "escaped");
    // Concurrency 1: the next task runs while the abandoned function still sleeps.
    assert.equal(await (await next.delay(1)).get({ timeout: 5 }), 2);
    assert.equal(returnedLate, false);

    await eventually(() => returnedLate, "the abandoned function to return");
    assert.equal(await result.state(), "FAILURE");
    assert.ok(abortedWith instanceof TypeError, "the task's signal carries the escaped error");
    assert.deepEqual(
      strays.map(({ origin, task, failedTask, stopping }) => ({ origin, task, failedTask, stopping })),
      [{ origin: "uncaughtException", task: { id: result.id, name: "s.leaky" }, failedTask: true, stopping: false }],
    );
    assert.deepEqual([worker.stats.failed, worker.stats.succeeded, worker.stats.strayErrors], [1, 1, 1]);
  });

  test("an escaped error is classified as if the task had thrown it (autoretryFor retries it)", async () => {
    const { app, worker } = setup();
    let runs = 0;
    const flaky = app.task(
      "s.flaky",
      async () => {
        runs++;
        if (runs === 1) {
          escapeLater(new RangeError("transient"));
          await sleep(1000);
        }
        return runs;
      },
      { autoretryFor: [RangeError], defaultRetryDelay: 0 },
    );
    await worker.start();
    assert.equal(await (await flaky.delay()).get({ timeout: 5 }), 2);
    assert.equal(worker.stats.retried, 1);
  });

  test("a synchronous task's timer that throws later: its SUCCESS stands, the error is unattributed", async () => {
    const { app, worker } = setup();
    const strays = recordStrays(app);
    const double = app.task("s.sync", (n: number) => {
      escapeLater(new Error(`late ${n}`));
      return n * 2;
    });
    await worker.start();
    const result = await double.delay(21);
    assert.equal(await result.get({ timeout: 5 }), 42);
    await eventually(() => strays.length === 1, "the stray error event");
    assert.equal((strays[0]?.error as Error).message, "late 21");
    assert.deepEqual([strays[0]?.task, strays[0]?.failedTask, strays[0]?.stopping], [null, false, false]);
    assert.equal(await result.state(), "SUCCESS");
    assert.deepEqual([worker.stats.succeeded, worker.stats.failed, worker.stats.strayErrors], [1, 0, 1]);
  });

  test("an async task's timer that throws after the task finished: its SUCCESS stands, the error names the task", async () => {
    const { app, worker } = setup();
    const strays = recordStrays(app);
    const quick = app.task("s.quick", async () => {
      escapeLater("a thrown string", 50);
      return "done";
    });
    await worker.start();
    const result = await quick.delay();
    assert.equal(await result.get({ timeout: 5 }), "done");
    await eventually(() => strays.length === 1, "the stray error event");
    assert.deepEqual([strays[0]?.error, strays[0]?.task, strays[0]?.failedTask], ["a thrown string", { id: result.id, name: "s.quick" }, false]);
    assert.equal(await result.state(), "SUCCESS");
  });

  test("more unattributed errors than the limit stop the worker gracefully, giving unstarted messages back", async () => {
    const { app, worker } = setup({ concurrency: 1, strayErrorLimit: { count: 2, seconds: 60 } });
    const strays = recordStrays(app);
    const stopping = new Promise<CeleriacEvents["worker:stopping"]>((resolve) => app.events.on("worker:stopping", resolve));
    let started = 0;
    const slow = app.task("s.slow", async () => {
      started++;
      await sleep(200);
      return "finished";
    });
    await worker.start();
    const results = await Promise.all([1, 2, 3, 4].map(() => slow.delay()));
    await eventually(() => started === 1, "the first task to start");
    for (let i = 0; i < 3; i++) routeStrayError(new Error(`outside ${i}`), "unhandledRejection", undefined);

    assert.deepEqual(strays.map((e) => e.stopping), [false, false, true]);
    assert.match((await stopping).reason, /^unsafe: more than 2 errors escaped outside any running task within 60 s$/);
    const returned = await worker.stop();
    assert.equal(returned, 3, "the three unstarted messages went back to the queue");
    assert.equal(await results[0]?.get({ timeout: 5 }), "finished", "the running task was let finish");
    assert.equal(await (await app.getBroker()).length("celery"), 3);
    assert.equal(started, 1);
  });

  test("errors failing a running task do not count towards the limit", async () => {
    const { app, worker } = setup({ strayErrorLimit: { count: 0, seconds: 60 } });
    const strays = recordStrays(app);
    const leaky = app.task("s.leaky0", async () => {
      escapeLater(new Error("attributed"));
      await sleep(1000);
    });
    await worker.start();
    await assert.rejects((await leaky.delay()).get({ timeout: 5 }), TaskFailedError);
    assert.equal(worker.status, "running");
    routeStrayError(new Error("unattributed"), "uncaughtException", undefined);
    assert.deepEqual(strays.map((e) => [e.failedTask, e.stopping]), [[true, false], [false, true]]);
    assert.notEqual(worker.status, "running");
  });

  test("one pair of process handlers for several workers; each worker hears its own tasks' errors; removed with the last", async () => {
    const base = [process.listenerCount("uncaughtException"), process.listenerCount("unhandledRejection")];
    const a = setup();
    const b = setup();
    const strays = { a: recordStrays(a.app), b: recordStrays(b.app) };
    const leaky = b.app.task("s.leaky-b", async () => {
      escapeLater(new Error("from b"));
      await sleep(1000);
    });
    await a.worker.start();
    await b.worker.start();
    assert.deepEqual([process.listenerCount("uncaughtException"), process.listenerCount("unhandledRejection")], [base[0]! + 1, base[1]! + 1]);

    await assert.rejects((await leaky.delay()).get({ timeout: 5 }), TaskFailedError);
    routeStrayError(new Error("nobody's"), "uncaughtException", undefined);
    assert.deepEqual(strays.b.map((e) => [e.task?.name, e.failedTask]), [["s.leaky-b", true]]);
    assert.deepEqual(strays.a.map((e) => [e.task, (e.error as Error).message]), [[null, "nobody's"]], "an unattributed error goes to the first worker");

    await a.worker.stop();
    assert.equal(process.listenerCount("uncaughtException"), base[0]! + 1);
    await b.worker.stop();
    assert.deepEqual([process.listenerCount("uncaughtException"), process.listenerCount("unhandledRejection")], base);
  });

  test("with no listener for worker:stray-error the error is written to stderr, not dropped", async () => {
    const { worker } = setup();
    await worker.start();
    const written: unknown[][] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => written.push(args);
    try {
      routeStrayError(new Error("unheard"), "uncaughtException", undefined);
    } finally {
      console.error = original;
    }
    assert.equal(written.length, 1);
    assert.match(String(written[0]?.[0]), /an error escaped outside any running task \(uncaughtException\)/);
    assert.equal((written[0]?.[1] as Error).message, "unheard");
    assert.equal(worker.stats.strayErrors, 1);
  });

  test("isolateTasks: false installs nothing; an invalid strayErrorLimit fails at creation", async () => {
    const base = process.listenerCount("uncaughtException");
    const { worker } = setup({ isolateTasks: false });
    await worker.start();
    assert.equal(process.listenerCount("uncaughtException"), base);
    const app = createApp({ readEnv: false });
    assert.throws(() => createWorker(app, { strayErrorLimit: { count: -1, seconds: 60 } }), ConfigError);
    assert.throws(() => createWorker(app, { strayErrorLimit: { count: 3, seconds: 0 } }), /strayErrorLimit must be/);
    await app.close();
  });
});

describe("StrayErrorBudget", () => {
  test("more than `count` within the sliding window is a flood; older ones age out", () => {
    let now = 0;
    const budget = new StrayErrorBudget({ count: 2, seconds: 10 }, () => now);
    assert.deepEqual([budget.spend(), budget.spend()], [false, false]);
    now = 9_999;
    assert.equal(budget.spend(), true, "three within 10 s");
    now = 15_000;
    assert.equal(budget.spend(), false, "the first two have aged out: two within the window");
    now = 19_998;
    assert.equal(budget.spend(), true, "9 999, 15 000 and 19 998 are within 10 s");
    now = 40_000;
    assert.equal(budget.spend(), false);
  });

  test("count 0 stops on the first", () => {
    assert.equal(new StrayErrorBudget({ count: 0, seconds: 1 }).spend(), true);
  });
});
