// The CLI as a user runs it against the real Redis: a worker started with `celeriac worker -A`, tasks
// sent with `celeriac call`, results read with `celeriac result`, and the worker's log lines.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";

const bin = fileURLToPath(new URL("../../bin/celeriac.js", import.meta.url));
const tasks = fileURLToPath(new URL("./fixtures/tasks.ts", import.meta.url));
const broker = "redis://127.0.0.1:6379/7";
const backend = "redis://127.0.0.1:6379/7";
const env = { ...process.env, CELERIAC_BROKER_URL: broker, CELERIAC_RESULT_BACKEND: backend };

let worker: ChildProcess;
let stderr = "";

function celeriac(...args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", env, timeout: 30_000 });
}

before(async () => {
  const redis = new Redis(broker);
  await redis.flushdb();
  redis.disconnect();
  worker = spawn(process.execPath, [bin, "worker", "-A", tasks, "-c", "4", "--log-format", "json"], { env, stdio: ["ignore", "ignore", "pipe"] });
  worker.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const deadline = Date.now() + 30_000;
  while (!stderr.includes("ready")) {
    if (Date.now() > deadline || worker.exitCode !== null) throw new Error(`worker did not start:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
});

after(async () => {
  if (worker.exitCode === null) {
    worker.kill("SIGTERM");
    await once(worker, "exit");
  }
});

test("the worker prints a banner with its queues, concurrency, tasks and masked URLs", () => {
  assert.match(stderr, /celeriac worker celeriac@\S+ ready/);
  assert.match(stderr, /broker: +redis:\/\/127\.0\.0\.1:6379\/7/);
  assert.match(stderr, /queues: +celery/);
  assert.match(stderr, /concurrency: 4 \(async pool\), prefetch 16/);
  assert.match(stderr, /tasks: +e2e\.add, e2e\.fail/);
});

test("call --wait prints the id and the result; result reads it again", () => {
  const call = celeriac("call", "e2e.add", "--args", "[2, 3]", "--wait", "--timeout", "20");
  assert.equal(call.status, 0, call.stderr);
  const [id, value] = call.stdout.trim().split("\n");
  assert.match(id ?? "", /^[0-9a-f-]{36}$/);
  assert.equal(value, "5");
  const result = celeriac("result", id as string);
  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(JSON.parse(result.stdout), { id, state: "SUCCESS", result: 5 });
});

test("a failing task: call --wait exits non-zero naming the error; result shows FAILURE", () => {
  const call = celeriac("call", "e2e.fail", "--args", '["no pages"]', "--wait", "--timeout", "20");
  assert.equal(call.status, 2);
  assert.match(call.stderr, /TASK_FAILED: task [0-9a-f-]{36} failed: ValueError: no pages/);
  const id = call.stdout.trim();
  const result = celeriac("result", id, "--wait", "--timeout", "20");
  assert.equal(result.status, 1);
  const parsed = JSON.parse(result.stdout) as { state: string; result: { type: string; message: string } };
  assert.equal(parsed.state, "FAILURE");
  assert.deepEqual([parsed.result.type, parsed.result.message], ["ValueError", "no pages"]);
});

test("the worker logs one JSON line per task received, succeeded and failed, and stops cleanly on SIGTERM", async () => {
  worker.kill("SIGTERM");
  const [code] = (await once(worker, "exit")) as [number | null];
  assert.equal(code, 0);
  const lines = stderr
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { msg: string; task?: string; id?: string; runtimeMs?: number; error?: { type: string } });
  const about = (task: string, verb: string) => lines.filter((l) => l.task === task && l.msg.startsWith(verb));
  assert.equal(about("e2e.add", "received").length, 1);
  assert.equal(about("e2e.add", "succeeded").length, 1);
  assert.equal(typeof about("e2e.add", "succeeded")[0]?.runtimeMs, "number");
  assert.equal(about("e2e.fail", "failed")[0]?.error?.type, "ValueError");
  assert.ok(lines.some((l) => l.msg.includes("stopping")), "lines.some((l) => l.msg.includes(\"stopping\"))");
  assert.ok(lines.some((l) => /stopped; 0 message\(s\) returned/.test(l.msg)), "lines.some((l) => /stopped; 0 message\\(s\\) returned/.test(l.msg))");
});
