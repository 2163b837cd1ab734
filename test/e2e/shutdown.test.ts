// Shutdown as documented, with `celeriac worker` run as a user runs it on a private Redis, and a task
// module that holds handles open (fixtures/shutdown-tasks.ts): a second SIGTERM, or a shutdown timeout
// that expires, aborts the running tasks and exits 1; their acksLate messages are back in the queue with
// nothing settled for them (their late return ignored) and run once on the next worker, an early-acked
// one is stored as FAILURE WorkerLostError. A plain SIGTERM exits 0 despite the open handles, after the
// module's stop hook; the module's own app is the one that runs, so its event listeners fire.
import { after, before, beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { createApp, type App } from "../../src/index.ts";
import { startCeleriac, type Child } from "./child.ts";
import { freePort, killRedisServer, startRedisServer, type RedisChild } from "../integration/redis-server.ts";

const tasksModule = fileURLToPath(new URL("./fixtures/shutdown-tasks.ts", import.meta.url));
let server: RedisChild;
let url: string;
let admin: Redis;
let producer: App;
const children: Child[] = [];

before(async () => {
  server = await startRedisServer(await freePort());
  url = `redis://127.0.0.1:${server.port}/0`;
  admin = new Redis(url);
  producer = createApp({ brokerUrl: url, resultBackend: url, readEnv: false });
});

beforeEach(async () => {
  await admin.flushdb();
});

after(async () => {
  for (const child of children) if (child.process.exitCode === null && child.process.signalCode === null) await child.ended(0);
  await producer.close();
  await admin.quit();
  await killRedisServer(server);
});

/** `celeriac worker` on the private Redis; its tasks take `taskMs` unless aborted. Resolves once ready. */
async function startWorker(taskMs: number, ...extra: string[]): Promise<Child> {
  const child = startCeleriac(["worker", "-A", tasksModule, "--broker", url, "--backend", url, "--log-format", "json", ...extra], {
    SHUTDOWN_RECORD_URL: url,
    SHUTDOWN_TASK_MS: String(taskMs),
  });
  children.push(child);
  await child.waitForStderr(/ ready/, 30_000);
  return child;
}

async function until(check: () => Promise<boolean>, what: string, child: Child): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${child.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const list = (key: string): Promise<string[]> => admin.lrange(key, 0, -1);
const sorted = (values: string[]): string[] => [...values].sort();

async function storedResult(id: string): Promise<{ status: string; result: unknown } | null> {
  return JSON.parse((await admin.get(`celery-task-meta-${id}`)) ?? "null") as { status: string; result: unknown } | null;
}

/**
 * After a forced stop of a worker that ran `running` (acksLate) tokens: nothing settled for them, all
 * back in the queue with `waiting`; then a fresh worker runs each once, with its own value stored.
 */
async function assertReturnedThenRunOnce(ids: Map<string, string>, running: string[]): Promise<void> {
  assert.deepEqual(sorted(await list("shutdown:aborted")), sorted(running), "every running task saw its signal fire");
  assert.deepEqual(await list("shutdown:runs"), [], "no task ran to its end on the stopped worker");
  for (const [token, id] of ids) assert.equal(await storedResult(id), null, `a result was stored for ${token}: the abandoned task was settled`);
  assert.equal(await admin.llen("celery"), ids.size, "every acksLate message is back in the queue");
  assert.equal(await admin.hlen("unacked"), 0, "the stopped worker left claims behind");

  const next = await startWorker(100, "-c", "4");
  for (const [token, id] of ids) assert.equal(await producer.asyncResult(id).get({ timeout: 30 }), token);
  assert.deepEqual(sorted(await list("shutdown:runs")), sorted([...ids.keys()]), "each ran to its end exactly once");
  next.process.kill("SIGTERM");
  const ended = await next.ended(20_000);
  assert.equal(ended.code, 0, ended.stderr);
}

test("a second SIGTERM aborts running tasks: acksLate ones go back unsettled and run once elsewhere, an early-acked one fails with WorkerLostError, exit 1", async () => {
  const earlyResult = await producer.sendTask("shutdown.early", ["e0"]);
  const ids = new Map<string, string>();
  for (let i = 0; i < 5; i++) ids.set(`l${i}`, (await producer.sendTask("shutdown.late", [`l${i}`])).id);

  const worker = await startWorker(60_000, "-c", "4", "--prefetch-multiplier", "2");
  // e0, l0, l1 and l2 run; l3 and l4 wait in the worker for a slot.
  await until(async () => (await admin.llen("shutdown:starts")) === 4, "four tasks to start", worker);
  worker.process.kill("SIGTERM");
  await worker.waitForStderr(/SIGTERM received/, 10_000);
  worker.process.kill("SIGTERM");
  const ended = await worker.ended(20_000);
  assert.equal(ended.killed, false, `the worker did not exit:\n${ended.stderr}`);
  assert.equal(ended.code, 1, ended.stderr);
  assert.match(ended.stderr, /received again: stopping at once/);

  assert.deepEqual(sorted(await list("shutdown:starts")), ["e0", "l0", "l1", "l2"]);
  const early = await storedResult(earlyResult.id);
  assert.equal(early?.status, "FAILURE", "the early-acked task, lost by the forced stop, is recorded as failed");
  assert.equal((early?.result as { exc_type?: string } | undefined)?.exc_type, "WorkerLostError");
  assert.match((await list("shutdown:hooks"))[1] ?? "", /^stop \S+ SIGTERM forced$/, "the stop hook ran");
  await assertReturnedThenRunOnce(ids, ["e0", "l0", "l1", "l2"]);
  assert.deepEqual(await list("shutdown:starts").then((s) => s.filter((t) => t === "e0")), ["e0"], "the early-acked task did not run again");
});

test("an expiring --shutdown-timeout aborts running acksLate tasks the same way: back unsettled, run once elsewhere, exit 1", async () => {
  const ids = new Map<string, string>();
  for (let i = 0; i < 3; i++) ids.set(`t${i}`, (await producer.sendTask("shutdown.late", [`t${i}`])).id);
  const worker = await startWorker(60_000, "-c", "3", "--shutdown-timeout", "1");
  await until(async () => (await admin.llen("shutdown:starts")) === 3, "three tasks to start", worker);
  worker.process.kill("SIGTERM");
  const ended = await worker.ended(20_000);
  assert.equal(ended.killed, false, `the worker did not exit:\n${ended.stderr}`);
  assert.equal(ended.code, 1, ended.stderr);
  await assertReturnedThenRunOnce(ids, ["t0", "t1", "t2"]);
});

test("the CLI runs the module's own app: its event listeners fire, its hooks run, and SIGTERM exits 0 despite its open handles", async () => {
  const worker = await startWorker(100, "-c", "2");
  const results = await Promise.all([1, 2, 3].map((x) => producer.sendTask<number>("shutdown.quick", [x])));
  assert.deepEqual(await Promise.all(results.map((r) => r.get({ timeout: 10 }))), [2, 4, 6]);
  await until(async () => (await admin.llen("shutdown:succeeded-events")) === 3, "the module's task:succeeded listener", worker);
  assert.deepEqual(sorted(await list("shutdown:succeeded-events")), sorted(results.map((r) => r.id)));

  worker.process.kill("SIGTERM");
  const ended = await worker.ended(20_000);
  assert.equal(ended.killed, false, `the worker did not exit with handles open:\n${ended.stderr}`);
  assert.equal(ended.code, 0, ended.stderr);
  const hooks = await list("shutdown:hooks");
  assert.equal(hooks.length, 2, hooks.join("\n"));
  assert.match(hooks[0] ?? "", /^start \S+$/);
  assert.match(hooks[1] ?? "", /^stop \S+ SIGTERM graceful$/);
});
