// SIGTERM to `celeriac worker` on the real Redis (db 5) while tasks run and more are prefetched: the
// process exits 0, every task it started completed once (result stored, run recorded once), every
// prefetched one is back in the queue, and a fresh worker runs exactly those: none lost, none twice.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { createApp, createWorker } from "../../src/index.ts";

const bin = fileURLToPath(new URL("../../bin/celeriac.js", import.meta.url));
const tasksModule = fileURLToPath(new URL("./fixtures/sigterm-tasks.ts", import.meta.url));
const URL_DB5 = "redis://127.0.0.1:6379/5";
const TOTAL = 30;
const admin = new Redis(URL_DB5);
let child: ChildProcess | null = null;

after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill("SIGKILL");
    await once(child, "exit");
  }
  await admin.flushdb();
  await admin.quit();
});

const tokensOf = (entries: string[]): string[] => entries.map((entry) => entry.slice(entry.indexOf(":") + 1));

test("SIGTERM mid-stream: exit 0, running tasks finish once, prefetched ones go back and run once elsewhere", async () => {
  await admin.flushdb();
  const producer = createApp({ brokerUrl: URL_DB5, resultBackend: URL_DB5, readEnv: false });
  const sent = await Promise.all(Array.from({ length: TOTAL }, (_, i) => producer.sendTask<string>("e2e.slow", [`t${i}`])));

  child = spawn(process.execPath, [bin, "worker", "-A", tasksModule, "--broker", URL_DB5, "--backend", URL_DB5, "-c", "4", "--prefetch-multiplier", "2"], {
    env: { ...process.env, E2E_RECORD_URL: URL_DB5 },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  // Two rounds of 4 started: 4 running now, up to 8 held (prefetch 4 x 2), the rest waiting.
  const deadline = Date.now() + 30_000;
  while ((await admin.llen("e2e:starts")) < 6) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the worker did not start tasks:\n${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  child.kill("SIGTERM");
  const [code, signal] = await exited;
  assert.equal(code, 0, `exit code ${code} (signal ${signal}):\n${stderr}`);
  assert.match(stderr, /SIGTERM received/);

  const started = tokensOf(await admin.lrange("e2e:starts", 0, -1));
  const completed = tokensOf(await admin.lrange("e2e:runs", 0, -1));
  assert.deepEqual(new Set(completed), new Set(started), "a task started by the stopping worker was not finished");
  assert.equal(new Set(completed).size, completed.length, "a task ran twice");
  const waiting = await admin.llen("celery");
  assert.equal(completed.length + waiting, TOTAL, `${completed.length} completed + ${waiting} back in the queue != ${TOTAL}`);
  assert.ok(waiting > 0, "nothing was left to give back: SIGTERM came too late to test the prefetch");
  assert.equal(await admin.hlen("celeriac.unacked"), 0, "the stopped worker left claims behind");
  for (const [i, result] of sent.entries()) {
    const stored = JSON.parse((await admin.get(`celery-task-meta-${result.id}`)) ?? "null") as { status: string; result: unknown } | null;
    if (completed.includes(`t${i}`)) assert.deepEqual([stored?.status, stored?.result], ["SUCCESS", `t${i}`]);
    else assert.equal(stored, null, `a result was stored for t${i}, which never ran`);
  }

  // A fresh worker runs what went back to the queue, and nothing else.
  const { app: tasksApp } = (await import("./fixtures/sigterm-tasks.ts")) as typeof import("./fixtures/sigterm-tasks.ts");
  const app = tasksApp.withConfig({ brokerUrl: URL_DB5, resultBackend: URL_DB5 });
  const worker = createWorker(app, { concurrency: 8 });
  await worker.start();
  try {
    const values = await Promise.all(sent.map((result) => result.get({ timeout: 30 })));
    assert.deepEqual(values, Array.from({ length: TOTAL }, (_, i) => `t${i}`));
    const runs = tokensOf(await admin.lrange("e2e:runs", 0, -1));
    assert.equal(runs.length, TOTAL, "every task ran exactly once across both workers");
    assert.equal(new Set(runs).size, TOTAL);
    assert.equal(worker.stats.succeeded, waiting, "the fresh worker ran exactly what was given back");
  } finally {
    await worker.stop();
    await app.close();
    await producer.close();
  }
});
