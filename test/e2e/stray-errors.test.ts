// Isolation, as a user runs it: `celeriac worker -A` on the real Redis (db 3) with tasks that let
// errors escape them for real (a rejection nobody awaits, a throw in a timer). The task they escape
// from fails with that error, the worker process lives on and keeps working; a synchronous task's
// late throw is logged and its SUCCESS stands; a flood of errors outside any task stops the worker
// gracefully (exit 1) with every unstarted message back in the queue.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { createApp, TaskFailedError } from "../../src/index.ts";

const bin = fileURLToPath(new URL("../../bin/celeriac.js", import.meta.url));
const tasksModule = fileURLToPath(new URL("./fixtures/stray-tasks.ts", import.meta.url));
const URL_DB3 = "redis://127.0.0.1:6379/3";
const admin = new Redis(URL_DB3);
const producer = createApp({ brokerUrl: URL_DB3, resultBackend: URL_DB3, readEnv: false });
const children: ChildProcess[] = [];

interface Spawned {
  child: ChildProcess;
  stderr: () => string;
  stdout: () => string;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

async function spawnWorker(queue: string, ...extra: string[]): Promise<Spawned> {
  const child = spawn(process.execPath, [bin, "worker", "-A", tasksModule, "--broker", URL_DB3, "--backend", URL_DB3, "-Q", queue, "--log-format", "json", ...extra], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let stderr = "";
  let stdout = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  await until(() => stderr.includes(" ready"), () => `worker did not start:\n${stderr}`, child);
  return { child, stderr: () => stderr, stdout: () => stdout, exited };
}

async function until(check: () => boolean | Promise<boolean>, what: () => string, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline || (child && child.exitCode !== null)) throw new Error(what());
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const alive = (child: ChildProcess): boolean => child.exitCode === null && child.signalCode === null;

interface LogLine {
  msg: string;
  level: number;
  id?: string;
  task?: string;
  origin?: string;
  failedTask?: boolean;
  stopping?: boolean;
  reason?: string;
  err?: { message?: string };
}

const logLines = (stderr: string): LogLine[] =>
  stderr
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as LogLine);

const strayLines = (stderr: string): LogLine[] => logLines(stderr).filter((l) => l.msg.startsWith("stray error"));

let worker: Spawned;

before(async () => {
  await admin.flushdb();
  worker = await spawnWorker("stray-isolation", "-c", "1");
});

after(async () => {
  for (const child of children) {
    if (alive(child)) {
      child.kill("SIGKILL");
      await once(child, "exit");
    }
  }
  await producer.close();
  await admin.flushdb();
  await admin.quit();
});

test("an unawaited rejection and a throw in a timer fail their task with that error; the worker lives on and runs the next 100 tasks", async () => {
  const q = { queue: "stray-isolation" };
  // Concurrency 1 and the first task never settles by itself: only the escaped error frees the slot.
  const unawaited = await producer.sendTask("stray.unawaited", ["nobody awaited me"], q);
  await assert.rejects(unawaited.get({ timeout: 20 }), (error: unknown) => error instanceof TaskFailedError && error.remote.type === "TypeError" && error.remote.message === "nobody awaited me");

  const timer = await producer.sendTask("stray.timer", ["thrown in a timer"], q);
  await assert.rejects(timer.get({ timeout: 20 }), (error: unknown) => error instanceof TaskFailedError && error.remote.type === "ValueError" && error.remote.message === "thrown in a timer");
  // The abandoned function reports progress and returns later: the stored FAILURE stands.
  await until(() => worker.stdout().includes("stray.timer returned late"), () => `the abandoned function never returned:\n${worker.stderr()}`);
  assert.equal(await timer.state(), "FAILURE");
  assert.equal(((await timer.record())?.error as { message?: string } | null)?.message, "thrown in a timer");

  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => producer.sendTask<number>("stray.add", [i, 1], q)));
  assert.deepEqual(await Promise.all(results.map((r) => r.get({ timeout: 30 }))), Array.from({ length: 100 }, (_, i) => i + 1));
  assert.ok(alive(worker.child), `the worker exited:\n${worker.stderr()}`);

  const strays = strayLines(worker.stderr());
  assert.deepEqual(
    strays.map((l) => [l.id, l.origin, l.failedTask, l.stopping]),
    [
      [unawaited.id, "unhandledRejection", true, false],
      [timer.id, "uncaughtException", true, false],
    ],
  );
  assert.equal(strays[1]?.err?.message, "thrown in a timer");
});

test("a synchronous task whose timer throws later: its SUCCESS stands, the error is logged, the worker lives on", async () => {
  const q = { queue: "stray-isolation" };
  const before = strayLines(worker.stderr()).length;
  const result = await producer.sendTask<number>("stray.sync-timer", [21], q);
  assert.equal(await result.get({ timeout: 20 }), 42);
  await until(() => strayLines(worker.stderr()).length > before, () => `no stray error logged:\n${worker.stderr()}`);
  const line = strayLines(worker.stderr())[before];
  assert.equal(line?.msg, "stray error (uncaughtException) outside any running task: Error: late from sync 21");
  assert.deepEqual([line?.failedTask, line?.stopping, line?.err?.message], [false, false, "late from sync 21"]);
  assert.equal(await result.state(), "SUCCESS");
  assert.equal(await (await producer.sendTask<number>("stray.add", [40, 2], q)).get({ timeout: 20 }), 42);
  assert.ok(alive(worker.child), `the worker exited:\n${worker.stderr()}`);
});

test("after all that, SIGTERM still stops the worker cleanly (exit 0)", async () => {
  worker.child.kill("SIGTERM");
  const [code, signal] = await worker.exited;
  assert.equal(code, 0, `exit ${code} (${signal}):\n${worker.stderr()}`);
});

test("a flood of errors outside any task stops the worker gracefully: exit 1, running task finished, unstarted ones back in the queue", async () => {
  const queue = "stray-flood";
  const flooding = await spawnWorker(queue, "-c", "1", "--prefetch-multiplier", "4", "--shutdown-timeout", "20");
  // 11 errors (the limit is 10 within 60 s) 300 ms after the flood task succeeded; 1 s tasks behind it.
  const flood = await producer.sendTask<number>("stray.flood", [11], { queue });
  const slow = await Promise.all([0, 1, 2, 3, 4].map((n) => producer.sendTask<number>("stray.slow", [n], { queue })));

  const [code, signal] = await flooding.exited;
  const stderr = flooding.stderr();
  assert.equal(code, 1, `exit ${code} (${signal}):\n${stderr}`);
  const strays = strayLines(stderr);
  assert.equal(strays.length, 11);
  assert.deepEqual(strays.map((l) => l.stopping), [...Array<boolean>(10).fill(false), true]);
  assert.match(strays[10]?.msg ?? "", /too many outside tasks: stopping the worker/);
  assert.ok(logLines(stderr).some((l) => /stopping \(unsafe: more than 10 errors escaped outside any running task within 60 s\)/.test(l.msg)), "logLines(stderr).some((l) => /stopping \\(unsafe: more than 10 errors escaped outside any running ...");

  assert.equal(await flood.get({ timeout: 5 }), 11, "the flood task's own SUCCESS stands");
  const states = await Promise.all(slow.map((r) => r.state()));
  const finished = states.filter((s) => s === "SUCCESS").length;
  const waiting = await admin.llen(queue);
  assert.equal(finished + waiting, slow.length, `${finished} finished + ${waiting} back in the queue != ${slow.length} (states ${states.join(", ")})`);
  assert.ok(finished >= 1, "the task running at the flood was let finish");
  assert.ok(waiting > 0, "nothing was left to give back");
  assert.deepEqual(new Set(states.filter((s) => s !== "SUCCESS")), waiting ? new Set(["PENDING"]) : new Set());
  assert.equal(await admin.hlen("celeriac.unacked"), 0, "the stopped worker left claims behind");
});
