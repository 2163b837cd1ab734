// kill -9 of a worker mid-task with acksLate on the real Redis (db 6): the killed worker's claim ages
// past the visibility timeout (2 s), another worker restores and runs it; the task started twice,
// completed once, and its SUCCESS was stored (and published) exactly once.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { eventually, delay } from "../conformance/fixtures.ts";
import { COMPLETIONS, KILL_DB, STARTS, killApp, startKillWorker } from "./redis-kill-worker.ts";
import { adminClient, redisUrl } from "./redis-helpers.ts";

const admin = adminClient(KILL_DB);
const recorder = new Redis(redisUrl(KILL_DB));
const subscriber = new Redis(redisUrl(KILL_DB));
let child: ChildProcess | null = null;

after(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill("SIGKILL");
    await once(child, "exit");
  }
  await admin.flushdb();
  await Promise.all([admin.quit(), recorder.quit(), subscriber.quit()]);
});

test("an acksLate task whose worker was SIGKILLed runs again on another worker after the visibility timeout", async () => {
  await admin.flushdb();
  child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("./redis-kill-worker.ts", import.meta.url)), "child"], { stdio: ["ignore", "pipe", "inherit"] });
  const lines: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => lines.push(line));
  await eventually(() => lines.includes("ready") || child?.exitCode !== null, 20_000, "the child worker");
  assert.ok(lines.includes("ready"), "the child worker started");

  // Send the task through an app of the same configuration, and watch its result channel.
  const producer = killApp(recorder);
  const taskId = randomUUID();
  const published: string[] = [];
  await subscriber.subscribe(`celery-task-meta-${taskId}`);
  subscriber.on("message", (_channel: string, message: string) => published.push((JSON.parse(message) as { status: string }).status));
  const result = await producer.sendTask<string>("kill.block", ["t1"], { taskId });

  await eventually(async () => (await admin.llen(STARTS)) === 1, 20_000, "the first start");
  assert.equal(await admin.hlen("celeriac.unacked"), 1, "the running acksLate task is claimed in celeriac.unacked");
  child.kill("SIGKILL");
  await once(child, "exit");
  const killedAt = Date.now();

  const { app, worker } = await startKillWorker(recorder);
  try {
    assert.equal(await result.get({ timeout: 20 }), "done:t1");
    const secondStart = Date.now();
    assert.ok(secondStart - killedAt >= 1000, "restored before the visibility timeout could have passed");
    const starts = await admin.lrange(STARTS, 0, -1);
    assert.equal(starts.length, 2, "started once by the killed worker, once by the survivor");
    assert.notEqual(starts[0]!.split(":")[0], starts[1]!.split(":")[0], "the second start was in another process");
    assert.deepEqual(await admin.lrange(COMPLETIONS, 0, -1), [`${process.pid}:t1`]);
    // Past another visibility timeout nothing comes back: the survivor acknowledged it.
    await delay(3000);
    assert.equal(await admin.llen(STARTS), 2, "the task ran a third time");
    assert.deepEqual(published, ["SUCCESS"], "SUCCESS was stored and published exactly once");
    assert.equal(await admin.hlen("celeriac.unacked"), 0);
    assert.equal(worker.stats.succeeded, 1);
  } finally {
    await worker.stop();
    await app.close();
    await producer.close();
  }
});
